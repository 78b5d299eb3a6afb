"""A small dialog that applies one of the seed's crop presets by a single key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.keys import DIALOG_CLOSE_KEYS
from tui.widgets.dialog import Dialog
from tui.widgets.paging import SafePaging


def preset_names() -> tuple[str, ...]:
    """The engine's preset names, in its order."""
    from engine import crops

    return tuple(crops.PRESETS)


# one letter per seed preset; names the engine does not know are dropped at run time
_LETTERS = {"full_body": "f", "cowboy_shot": "c", "upper_body": "u", "lower_body": "l",
            "face": "a", "bangs": "b", "head_out_of_frame": "o"}


def _keys() -> list[tuple[str, str]]:
    try:
        names = preset_names()
    except Exception:
        names = tuple(_LETTERS)
    used: set[str] = set()
    out = []
    for i, name in enumerate(names):
        key = _LETTERS.get(name) or str(i + 1)
        if key in used:
            key = str(i + 1)
        used.add(key)
        out.append((key, name))
    return out


PRESET_KEYS: list[tuple[str, str]] = _keys()
"""``(key, preset)`` pairs shown in the dialog and the command palette."""


class PresetPicker(Dialog[str | None]):
    """Pick a preset by its letter (or arrows + enter); esc or q cancels."""

    DEFAULT_CSS = """
    PresetPicker { align: center middle; }
    PresetPicker > Vertical { width: 36; height: auto; border: round $primary;
                              background: $surface; padding: 0 1; }
    PresetPicker OptionList { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding(DIALOG_CLOSE_KEYS, "dismiss_none", "Cancel", id="preset-cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Apply preset — press its key", classes="hint")
            yield SafePaging(*[Option(f"{k}  {name.replace('_', ' ')}", id=name)
                               for k, name in PRESET_KEYS])

    def _close(self, preset: str | None) -> None:
        self.dismiss(preset)  # once: a Dialog ignores keys queued behind the first answer

    def on_key(self, event) -> None:
        if self._dialog_answered:
            event.stop()
            return
        for key, name in PRESET_KEYS:
            if event.character == key:
                event.stop()
                self._close(name)
                return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._close(event.option.id)

    def action_dismiss_none(self) -> None:
        self._close(None)
