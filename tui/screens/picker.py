"""Project picker: shown when onelora starts without a project (or on "project: open").

Pick a project folder, type its path, or make a new project from an image (``n``: image path,
project folder, trigger, class → engine.project.create, in a thread).  Escape leaves a field
or closes the picker when there is a project to go back to; it never quits (q does).  The
footer shows only what works: "esc Back" while there is a project to go back to, "q Quit"
while there is none (escape then says what to do instead).  Over an open project the keys of
the other modes close the picker and show that mode (tui/app.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine.errors import UserError
from engine.project import PROJECT_FILE
from tui.keys import (DIALOG_CLOSE_KEYS, SCREEN_TAB_BINDINGS, FieldGroup, TabFocus, focus_main,
                      is_text_field)
from tui.widgets.dialog import Dialog
from tui.widgets.paging import SafePaging
from tui.wording import in_tui_terms
from tui.widgets.key_footer import KeyFooter

NEW = "new"
"""Option id of "new project from an image"."""


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


class NewProjectScreen(Dialog[Path | None]):
    """Make a project from one image: image path, project folder, trigger, class."""

    BINDINGS = [Binding(DIALOG_CLOSE_KEYS, "dismiss(None)", "Cancel", show=False,
                        id="new-project-cancel")]
    DEFAULT_CSS = """
    NewProjectScreen { align: center middle; }
    NewProjectScreen > Vertical { width: 72; max-width: 100%; height: auto;
                                  border: thick $accent; background: $surface; padding: 0 1; }
    NewProjectScreen Static { width: 1fr; height: auto; }
    NewProjectScreen Label { width: 1fr; margin-top: 1; }
    NewProjectScreen Input { height: 1; border: none; padding: 0 1; background: $boost; }
    NewProjectScreen Input:focus { border: none; background: $accent 30%; }
    NewProjectScreen #new-error { color: $error; }
    NewProjectScreen .hint { color: $text-muted; }
    """

    def __init__(self, base: Path) -> None:
        super().__init__()
        self.base = base

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("New project from one drawing (the image itself is never changed)",
                         id="new-title")
            with FieldGroup():
                yield Label("image file")
                yield Input(placeholder="e.g. ~/art/mira.png", id="new-image")
                yield Label("project folder (new or empty)")
                yield Input(placeholder=f"e.g. {self.base / 'mira'}", id="new-dir")
                yield Label("trigger word (one made-up word)")
                yield Input(placeholder="e.g. zq_mira", id="new-trigger")
                yield Label("class")
                yield Input("girl", id="new-class")
            yield Static("", id="new-error")
            yield Static("tab next field · enter creates · esc cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#new-image", Input).focus()

    def _value(self, name: str) -> str:
        return self.query_one(f"#new-{name}", Input).value.strip()

    @on(Input.Changed, "#new-image")
    def _suggest_dir(self, event: Input.Changed) -> None:
        image = Path(os.path.expanduser(event.value.strip()))
        folder = self.query_one("#new-dir", Input)
        if image.stem and not folder.value:
            folder.placeholder = str(self.base / image.stem)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        missing = [n for n in ("image", "trigger") if not self._value(n)]
        if missing:
            self.query_one(f"#new-{missing[0]}", Input).focus()
            self._error(f"give the {missing[0]}")
            return
        image = Path(os.path.expanduser(self._value("image")))
        folder = self._value("dir") or self.query_one("#new-dir", Input).placeholder
        folder = folder.removeprefix("e.g. ")
        root = Path(os.path.expanduser(folder))
        if not root.is_absolute():
            root = self.base / root
        self._error("creating…")
        self.run_worker(lambda: self._create(image, root, self._value("trigger"),
                                             self._value("class") or "girl"),
                        thread=True, exclusive=True, group="new-project", exit_on_error=False)

    def _create(self, image: Path, root: Path, trigger: str, class_name: str) -> None:
        from engine import project as pj

        try:
            project = pj.create(image, root, trigger=trigger, class_name=class_name)
        except UserError as e:
            self.app.call_from_thread(self._error, in_tui_terms(str(e)))
            return
        except OSError as e:
            self.app.call_from_thread(self._error, f"cannot write {root}: {e.strerror or e}")
            return
        self.app.call_from_thread(self.dismiss, Path(project.root))

    def _error(self, text: str) -> None:
        self.query_one("#new-error", Static).update(text)


class PickerScreen(TabFocus, Screen[Path | None]):
    """Pick a project folder from the list, or type a path. Dismisses with the folder."""

    HELP_TITLE = "Open a project"
    CLOSES_ON_MODE_KEY = True
    """Over an open project, a mode key closes the picker and switches (tui/app.py)."""
    HELP_TEXT = ("Pick a project folder (one holding project.toml), or type its path and press "
                 "enter. n makes a new project from an image.")
    MAIN_WIDGET = "#picker-list"
    BINDINGS = [
        Binding("n", "new_project", "New project", tooltip="a new project from an image",
                id="picker-new"),
        # one key, three meanings; check_action keeps exactly one of them active
        Binding("escape", "leave_field", "Leave field", id="picker-leave-field"),
        Binding("escape", "cancel", "Back", tooltip="back to the open project",
                id="picker-cancel"),
        Binding("escape", "no_project", "", show=False, id="picker-no-project"),
        Binding("q", "quit_app", "Quit", tooltip="leave onelora", id="picker-quit"),
        *SCREEN_TAB_BINDINGS,
    ]

    def __init__(self, base: Path | None = None, can_cancel: bool = False) -> None:
        super().__init__()
        self.base = Path(base or os.getcwd())
        self.can_cancel = can_cancel
        self.projects = find_projects(self.base)

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static("onelora — open a project", id="picker-title")
            yield Static(f"Projects in {self.base}:" if self.projects else
                         f"No project folders in {self.base}.", classes="hint")
            yield SafePaging(*[Option(self._label(p), id=str(i))
                               for i, p in enumerate(self.projects)],
                             Option("+ new project from an image… (n)", id=NEW),
                             id="picker-list")
            yield Input(placeholder="or type the path to a project folder", id="picker-path")
            yield Static("", id="picker-error")
        yield KeyFooter(compact=True)  # its keys and the other mode keys fit 80 columns

    def _label(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.base)) if path != self.base else "."
        except ValueError:
            return str(path)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected, "#picker-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == NEW:
            self.action_new_project()
            return
        self._try_open(self.projects[int(event.option.id or 0)])

    def action_new_project(self) -> None:
        def made(path: Path | None) -> None:
            if path is not None:
                self.dismiss(path)

        self.app.push_screen(NewProjectScreen(self.base), made)

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        in_field = is_text_field(self.focused)
        if action == "leave_field":
            return in_field
        if action == "cancel":
            return self.can_cancel and not in_field
        if action in ("no_project", "quit_app"):
            return not self.can_cancel and not in_field
        return True

    def action_leave_field(self) -> None:
        """Escape in the path field: back to the list."""
        focus_main(self)

    def action_cancel(self) -> None:
        """Go back to the open project.  Never quits (q does)."""
        self.dismiss(None)

    def action_no_project(self) -> None:
        """Escape with no project to go back to: say what works instead."""
        self.notify("no project is open yet, so there is nothing to go back to: enter opens "
                    "the highlighted one, n makes one from an image, q quits", timeout=6)

    def action_quit_app(self) -> None:
        self.app.action_quit()
