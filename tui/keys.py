"""Keys vs text: one rule for the whole app.

- Every screen opens with focus on its main non-text widget (``focus_main``); a screen names
  it with ``MAIN_WIDGET`` (a selector), else Textual's ``AUTO_FOCUS`` is used.
- Single-key commands never fire while a text field has focus: Textual already hands printable
  keys to a focused Input/TextArea before any binding (``check_consume_key``); the screens keep
  their single-key commands as non-priority bindings so that holds.
- Text fields live in a :class:`FieldGroup`: Tab / Shift+Tab move between its fields and wrap
  around, so a Tab too many lands in another field instead of on a widget whose single-key
  commands the next typed characters would run; Escape leaves the fields (focus goes back to
  the screen's main widget).
- Entering a field by Tab selects its value, so typing replaces it (Input's
  ``select_on_focus``; :func:`select_all` for TextArea).  Every change is saved at once, so
  ctrl+z in a field puts back the value it had when it was entered (a key typed by mistake
  would otherwise have replaced a long prompt for good); in a TextArea it is its own undo.
- F1–F6 switch screens from anywhere (priority bindings of the app, tui/app.py).
- In a dialog (a ModalScreen), ``q`` closes it as Escape does: it cancels, it never quits the
  app from under the dialog nor answers it with its default (:data:`DIALOG_CLOSE_KEYS`).  It
  is a non-priority binding, so a text field in the dialog still takes a typed ``q``.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, TextArea


DIALOG_CLOSE_KEYS = "escape,q"
"""The keys that close (cancel) any dialog; the app's own ``q`` (quit) does not reach a
dialog (Textual stops non-priority bindings at a modal screen), so each dialog binds these."""


def is_text_field(widget: Widget | None) -> bool:
    """Whether ``widget`` takes typed characters (an editable Input or TextArea)."""
    if isinstance(widget, Input):
        return True
    return isinstance(widget, TextArea) and not widget.read_only


def focus_main(screen: Screen) -> Widget | None:
    """Focus the screen's main non-text widget (``MAIN_WIDGET``, else ``AUTO_FOCUS``); with
    neither, take focus off any text field.  Returns the focused widget."""
    for selector in (getattr(screen, "MAIN_WIDGET", None), getattr(screen, "AUTO_FOCUS", None)):
        if not selector:
            continue
        for widget in screen.query(selector):
            if widget.focusable and not is_text_field(widget):
                screen.set_focus(widget)
                return widget
    if is_text_field(screen.focused):
        screen.set_focus(None)
    return None


def select_all(widget: Widget) -> None:
    """Select a field's whole value (typing then replaces it)."""
    if isinstance(widget, Input):
        widget.select_all()
    elif isinstance(widget, TextArea):
        widget.select_all()


FIELD_BINDINGS = [
    Binding("tab", "field(1)", "Next field", show=False, priority=True, id="field-next"),
    Binding("shift+tab", "field(-1)", "Previous field", show=False, priority=True,
            id="field-previous"),
    Binding("escape", "leave_fields", "Leave the field", show=False, priority=True,
            id="field-leave"),
    Binding("ctrl+z", "restore_field", "Put back the field's value from when it was entered",
            show=False, priority=True, id="field-restore"),
]
"""Bindings of a field container (Textual merges BINDINGS of widget classes only, so each
container class below lists them itself).  They are priority bindings so the focus moves
while the app reads the key, before it hands the next key to a widget: a normal binding runs
only after the key has bubbled back up from the focused widget, and by then the keys typed
right after Tab have already been handed to the field just left (and land there)."""


class _FieldCycle:
    """Tab / Shift+Tab among the fields of one container, wrapping; Escape leaves them."""

    def fields(self) -> list[Widget]:
        """The focusable widgets inside, in focus order (the container itself excluded)."""
        chain = self.screen.focus_chain  # type: ignore[attr-defined]
        return [w for w in chain if w is not self and self in w.ancestors]  # type: ignore

    def action_field(self, delta: int) -> None:
        fields = self.fields()
        if not fields:
            return
        focused = self.screen.focused  # type: ignore[attr-defined]
        if focused in fields:
            target = fields[(fields.index(focused) + delta) % len(fields)]
        else:
            target = fields[0 if delta > 0 else -1]
        # at once, not Widget.focus (which waits a turn): the next key must find it there
        self.screen.set_focus(target)  # type: ignore[attr-defined]
        if isinstance(target, TextArea):
            select_all(target)  # Input selects itself on focus (select_on_focus)

    def on_descendant_focus(self, event) -> None:
        widget = event.widget
        if isinstance(widget, Input):
            self._entered = (widget, widget.value)

    def action_restore_field(self) -> None:
        focused = self.screen.focused  # type: ignore[attr-defined]
        if isinstance(focused, TextArea):
            if not focused.read_only:
                focused.undo()
            return
        entered = getattr(self, "_entered", None)
        if isinstance(focused, Input) and entered and entered[0] is focused:
            if focused.value != entered[1]:
                focused.value = entered[1]  # posts Input.Changed: the form saves it
                focused.cursor_position = len(focused.value)

    def action_leave_fields(self) -> None:
        screen = self.screen  # type: ignore[attr-defined]
        if isinstance(screen, ModalScreen):  # a dialog: escape cancels it
            screen.dismiss(None)
        elif self.focusable:  # type: ignore[attr-defined]  # a form that scrolls: itself
            screen.set_focus(self)
        else:
            focus_main(screen)


class FieldGroup(_FieldCycle, Vertical):
    """A column of fields with the Tab/Escape rule (see the module docstring)."""

    BINDINGS = FIELD_BINDINGS
    DEFAULT_CSS = "FieldGroup { height: auto; }"


class FieldScroll(_FieldCycle, VerticalScroll):
    """A scrolling form with the Tab/Escape rule; it can take focus itself (to scroll, and as
    a screen's main widget: Tab from it enters the first field)."""

    BINDINGS = FIELD_BINDINGS


SCREEN_TAB_BINDINGS = [
    Binding("tab", "tab_focus(1)", "Next field", show=False, priority=True, id="focus-next"),
    Binding("shift+tab", "tab_focus(-1)", "Previous field", show=False, priority=True,
            id="focus-previous"),
]
"""Tab / Shift+Tab of a screen as priority bindings (see FIELD_BINDINGS for why): inside a
field container they keep its wrap-around rule; elsewhere the next widget, at once."""


class TabFocus:
    """Screen mixin for :data:`SCREEN_TAB_BINDINGS` (list them in the screen's BINDINGS)."""

    def action_tab_focus(self, delta: int) -> None:
        screen = self  # type: ignore[assignment]
        focused = screen.focused  # type: ignore[attr-defined]
        node = focused
        while node is not None and node is not screen:
            if isinstance(node, _FieldCycle):
                node.action_field(delta)
                return
            node = node.parent
        if delta > 0:
            screen.focus_next()  # type: ignore[attr-defined]
        else:
            screen.focus_previous()  # type: ignore[attr-defined]
        if isinstance(screen.focused, TextArea):  # type: ignore[attr-defined]
            select_all(screen.focused)  # type: ignore[attr-defined]
