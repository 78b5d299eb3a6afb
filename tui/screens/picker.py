"""Project picker: shown when onelora starts without a project (or on "project: open")."""

from __future__ import annotations

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from engine.project import PROJECT_FILE


def find_projects(base: Path, limit: int = 200) -> list[Path]:
    """Project folders at ``base`` and one level below it (folders holding project.toml)."""
    found: list[Path] = []
    if (base / PROJECT_FILE).is_file():
        found.append(base)
    try:
        children = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return found
    for child in children[:limit]:
        if (child / PROJECT_FILE).is_file():
            found.append(child)
    return found


class PickerScreen(Screen[Path | None]):
    """Pick a project folder from the list, or type a path. Dismisses with the folder."""

    HELP_TITLE = "Open a project"
    HELP_TEXT = ("Pick a project folder (one holding project.toml), or type its path and press "
                 "enter. Create one with: onelora new IMAGE DIR --trigger NAME")
    BINDINGS = [
        Binding("escape", "cancel", "Back", id="picker-cancel"),
        Binding("tab", "app.focus_next", "Next field", show=False),
    ]

    def __init__(self, base: Path | None = None, can_cancel: bool = False) -> None:
        super().__init__()
        self.base = Path(base or os.getcwd())
        self.can_cancel = can_cancel
        self.projects = find_projects(self.base)

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static("onelora — open a project", id="picker-title")
            if self.projects:
                yield Static(f"Projects in {self.base}:", classes="hint")
                yield OptionList(*[Option(self._label(p), id=str(i))
                                   for i, p in enumerate(self.projects)], id="picker-list")
            else:
                yield Static(f"No project folders in {self.base}.", classes="hint")
            yield Input(placeholder="path to a project folder", id="picker-path")
            yield Static("", id="picker-error")
            yield Static("New project: onelora new IMAGE DIR --trigger NAME", classes="hint")
        yield Footer()

    def _label(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.base)) if path != self.base else "."
        except ValueError:
            return str(path)

    def on_mount(self) -> None:
        if self.projects:
            self.query_one(OptionList).focus()
        else:
            self.query_one(Input).focus()

    @on(OptionList.OptionSelected, "#picker-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self._try_open(self.projects[int(event.option.id or 0)])

    @on(Input.Submitted, "#picker-path")
    def _typed(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self._try_open(Path(os.path.expanduser(text)))

    def _try_open(self, path: Path) -> None:
        if not (path / PROJECT_FILE).is_file():
            self.query_one("#picker-error", Static).update(
                f"{path / PROJECT_FILE} not found: pick a folder that holds a project.toml")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        if self.can_cancel:
            self.dismiss(None)
        else:
            self.app.exit(0)
