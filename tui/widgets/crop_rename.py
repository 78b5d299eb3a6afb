"""Rename a crop on the Crops screen (``r``): a dialog that checks the name as it is typed
(engine.crops.check_rename: empty, illegal or taken names are refused with the reason, and enter
only closes on a name that saves), then one undoable crop edit through the screen.

:class:`RenameCrop` is a mixin for the Crops screen; the screen supplies ``selected_name()``,
``project``, ``_change()`` (one undo step, saved through the project store) and the app's
``flush_project()``.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from engine import crops as ec
from engine.errors import UserError
from tui.keys import DIALOG_CLOSE_KEYS
from tui.widgets.dialog import Dialog

RENAME_KEY = "r"
"""The Crops screen key that renames the selected crop."""


class RenameCropScreen(Dialog[str | None]):
    """Ask for a crop's new name; dismissed with the checked name, or None (esc)."""

    BINDINGS = [Binding(DIALOG_CLOSE_KEYS, "dismiss(None)", "cancel", id="rename-cancel")]
    DEFAULT_CSS = """
    RenameCropScreen { align: center middle; }
    RenameCropScreen > Vertical { width: 60; max-width: 100%; height: auto;
                                  border: thick $accent; background: $surface; padding: 0 1; }
    RenameCropScreen Static { width: 1fr; height: auto; }
    RenameCropScreen #rename-error { color: $error; }
    """

    def __init__(self, project, name: str) -> None:
        super().__init__()
        self.project = project
        self.old = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Rename crop {self.old} (letters, digits, _ . -; enter renames, "
                         "esc cancels):", id="rename-title")
            yield Input(value=self.old, id="rename-crop", select_on_focus=True)
            yield Static("", id="rename-error")

    def _check(self, value: str) -> str | None:
        try:
            return ec.check_rename(self.project, self.old, value)
        except UserError as e:
            self.query_one("#rename-error", Static).update(str(e))
            return None

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if self._check(event.value) is not None:
            self.query_one("#rename-error", Static).update("")

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        name = self._check(event.value)
        if name is not None:
            self.dismiss(name)


class RenameCrop:
    """Crops screen mixin: ``action_rename_crop`` (binding id crops-rename)."""

    def action_rename_crop(self) -> None:
        old = self.selected_name()  # type: ignore[attr-defined]
        if not old or ec.find_crop(self.project, old) is None:  # type: ignore[attr-defined]
            self.notify("select a crop first (tab); the face box has no name",  # type: ignore[attr-defined]
                        timeout=3)
            return

        def chosen(new: str | None) -> None:
            if not new or new == old:
                return
            if self._change(lambda: ec.rename_crop(self.project, old, new,  # type: ignore[attr-defined]
                                                   save=False)):
                flush = getattr(self.app, "flush_project", None)  # type: ignore[attr-defined]
                if flush is not None:
                    flush()  # a rename is one deliberate step: saved at once
                self.notify(f"crop {old} is now {new}; its box and tags came along "  # type: ignore[attr-defined]
                            "(u undoes)", timeout=5)

        self.app.push_screen(RenameCropScreen(self.project, old), chosen)  # type: ignore[attr-defined]
