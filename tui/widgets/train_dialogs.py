"""Training presets (files in the project) and the training screen's small dialogs.

A preset is a named set of training settings: the built-in "single image (seed)" is the
engine's defaults (the seed workflow's kohya_ss values); the user's own live in
``DIR/presets/<name>.toml`` as a ``[train]`` table.  The base model and output name belong
to the project, not to a preset, so loading a preset keeps them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import tomli_w
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from engine import project as pj
from engine.errors import UserError
from tui.answer_once import AnswerOnce

SEED_PRESET = "single image (seed)"
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
    """Write the project's training settings as ``presets/<name>.toml`` (atomically)."""
    name = _file_name(name)
    data = {k: v for k, v in pj.to_dict(project.train).items() if k not in PROJECT_OWNED}
    path = presets_dir(project) / f"{name}.toml"
    pj.atomic_write_text(path, tomli_w.dumps({"train": data}))
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
    project.train = train
    return warnings


class PresetNameScreen(AnswerOnce, ModalScreen[str | None]):
    """Ask for a name to save the current settings under (escape cancels)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]
    DEFAULT_CSS = """
    PresetNameScreen { align: center middle; }
    PresetNameScreen > Vertical { width: 60; height: auto; border: thick $accent;
                                  background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save the training settings as preset (enter to save, esc to cancel):")
            yield Input(placeholder="preset name", id="preset-name")

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class PickScreen(AnswerOnce, ModalScreen[str | None]):
    """Pick one of a list of names (presets, runs); enter picks, escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]
    DEFAULT_CSS = """
    PickScreen { align: center middle; }
    PickScreen > Vertical { width: 70; height: auto; max-height: 20; border: thick $accent;
                            background: $surface; padding: 0 1; }
    PickScreen OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, title: str, items: list[tuple[str, str]], current: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.items = items  # (id, label)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield OptionList(*[Option(label, id=ident) for ident, label in self.items])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [i for i, _ in self.items]
        if self.current in ids:
            options.highlighted = ids.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ConfirmScreen(AnswerOnce, ModalScreen[bool]):
    """A yes/no question: y confirms, n or escape declines."""

    BINDINGS = [Binding("y", "dismiss(True)", "yes"), Binding("n,escape", "dismiss(False)", "no")]
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
