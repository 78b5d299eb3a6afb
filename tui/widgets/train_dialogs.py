"""Training presets (files in the project) and the training screen's small dialogs.

A preset is a named set of training settings: the built-in "single image (seed)" is the
engine's defaults (the seed workflow's kohya_ss values); the user's own live in
``DIR/presets/<name>.toml`` as a ``[train]`` table.  The base model and output name belong
to the project, not to a preset, so loading a preset keeps them.  Loading one first keeps the
settings it replaces as the preset "previous" (loading that one goes back), so a preset loaded
by mistake never loses the settings that were there.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine import project as pj
from engine import toml_edit
from engine.errors import UserError
from tui.keys import DIALOG_CLOSE_KEYS
from tui.widgets.dialog import Dialog
from tui.widgets.paging import SafePaging

SEED_PRESET = "single image (seed)"
PREVIOUS_PRESET = "previous"
"""The settings the last preset load replaced."""
PRESETS_DIR = "presets"
PROJECT_OWNED = ("model", "output_name")


def presets_dir(project: pj.Project) -> Path:
    return Path(project.root) / PRESETS_DIR


def preset_names(project: pj.Project) -> list[str]:
    """The built-in preset first, then the user's, sorted."""
    folder = presets_dir(project)
    user = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
    return [SEED_PRESET] + [n for n in user if n != SEED_PRESET]


def _file_name(name: str) -> str:
    name = name.strip()
    if not name or not re.fullmatch(r"[\w][\w .()+-]*", name) or name == SEED_PRESET:
        raise UserError(f"preset name {name!r} is not allowed: use letters, digits, spaces, "
                        f"- _ . ( ) +, and not {SEED_PRESET!r}")
    return name


def save_preset(project: pj.Project, name: str) -> Path:
    """Write the project's training settings as ``presets/<name>.toml`` (atomically).  Saving
    over a preset the user edited by hand keeps its comments and layout (engine/toml_edit.py);
    the content is exactly the current ``[train]`` settings, as before."""
    name = _file_name(name)
    data = {k: v for k, v in pj.to_dict(project.train).items() if k not in PROJECT_OWNED}
    path = presets_dir(project) / f"{name}.toml"
    toml_edit.write(path, {"train": data})
    return path


def load_preset(project: pj.Project, name: str) -> list[str]:
    """Apply a preset to ``project.train``; returns warnings (unknown keys)."""
    keep = {k: getattr(project.train, k) for k in PROJECT_OWNED}
    warnings: list[str] = []
    if name == SEED_PRESET:
        train = pj.TrainSettings()
    else:
        path = presets_dir(project) / f"{_file_name(name)}.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"preset {path} not found")
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"preset {path} is not valid TOML ({e})")
        train = pj.from_dict(pj.TrainSettings, data.get("train", {}), "train.", warnings)
    for k, v in keep.items():
        setattr(train, k, v)
    if pj.to_dict(train) != pj.to_dict(project.train):
        save_preset(project, PREVIOUS_PRESET)  # what this load replaces (read above already)
    project.train = train
    return warnings


class PresetNameScreen(Dialog[str | None]):
    """Ask for a name to save the current settings under (escape cancels; q too when the
    focus is off the name field).  The names already in use are listed under the question
    (wrapped; a long list scrolls), so a user can pick a new one or knowingly reuse one."""

    BINDINGS = [Binding(DIALOG_CLOSE_KEYS, "dismiss(None)", "cancel", id="preset-name-cancel")]
    DEFAULT_CSS = """
    PresetNameScreen { align: center middle; }
    PresetNameScreen > Vertical { width: 60; max-width: 100%; height: auto;
                                  border: thick $accent; background: $surface; padding: 0 1; }
    PresetNameScreen Label { width: 1fr; }  /* wrap the question, never cut "esc to cancel" */
    PresetNameScreen #preset-names { width: 1fr; height: auto; max-height: 6;
                                     overflow-y: auto; color: $text-muted; }
    """

    def __init__(self, in_use: list[str] | None = None) -> None:
        super().__init__()
        self.in_use = [n for n in (in_use or []) if n != SEED_PRESET]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save the training settings as preset (enter to save, esc to cancel):")
            yield Static(names_text(self.in_use), id="preset-names")
            yield Input(placeholder="preset name", id="preset-name")

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


def names_text(in_use: list[str]) -> str:
    """The line under the preset-name question: the user's presets, or that there are none."""
    if not in_use:
        return "No presets saved yet."
    return ("In use (saving over one asks first): " + ", ".join(in_use)
            + f"; {PREVIOUS_PRESET!r} is what the last ctrl+l replaced" * (PREVIOUS_PRESET in in_use))


class PickScreen(Dialog[str | None]):
    """Pick one of a list of names (presets, runs); enter picks, escape or q cancels."""

    BINDINGS = [Binding(DIALOG_CLOSE_KEYS, "dismiss(None)", "cancel", id="pick-cancel")]
    DEFAULT_CSS = """
    PickScreen { align: center middle; }
    PickScreen > Vertical { width: 70; height: auto; max-height: 20; border: thick $accent;
                            background: $surface; padding: 0 1; }
    PickScreen OptionList { height: auto; max-height: 16; }
    PickScreen Label { width: 1fr; }
    """

    def __init__(self, title: str, items: list[tuple[str, str]], current: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.items = items  # (id, label)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield SafePaging(*[Option(label, id=ident) for ident, label in self.items])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [i for i, _ in self.items]
        if self.current in ids:
            options.highlighted = ids.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ConfirmScreen(Dialog[bool]):
    """A yes/no question: y confirms; n, escape or q declines (q never quits from here)."""

    BINDINGS = [Binding("y", "dismiss(True)", "yes", id="confirm-yes"),
                Binding(f"n,{DIALOG_CLOSE_KEYS}", "dismiss(False)", "no", id="confirm-no")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; height: auto; border: thick $error;
                               background: $surface; padding: 1 2; }
    ConfirmScreen Label { width: 1fr; }  /* wrap a long question, never cut it */
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Label("[b]y[/b] yes   [b]n[/b] no")
