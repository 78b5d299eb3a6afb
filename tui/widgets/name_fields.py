"""The trigger and class fields of the tags screen (one line on top of it).

Enter saves the field (the screen's ``Input.Submitted`` handler), Tab / shift+tab move to the
other field keeping the edit (saved the same way; a refused value keeps the focus), escape
cancels it (the screen puts the saved value back when the field loses the focus).
"""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input

from tui.keys import FIELD_BINDINGS, _FieldCycle


class NameFields(_FieldCycle, Horizontal):
    """Trigger and class: tab/shift+tab between them, escape leaves (tui.keys).  Enter and
    Tab keep an edit (Tab saved nothing: a new trigger typed, then Tab to the class, was
    silently put back); escape cancels it."""

    BINDINGS = FIELD_BINDINGS

    def action_field(self, delta: int) -> None:
        screen = self.screen
        field = screen.focused
        keep = getattr(screen, "keep_name", None)  # TagsScreen.keep_name
        if not isinstance(field, NameInput) or keep is None:
            super().action_field(delta)
            return
        fields = self.fields()
        target = fields[(fields.index(field) + delta) % len(fields)]
        if keep(field):  # saved (or unchanged), not refused
            screen.set_focus(target)


class NameInput(Input):
    """The trigger or class field.  It opens with its word selected and the cursor at the
    end, so typing replaces the word; Home / End deselect.  ctrl+a selects the whole word
    as in most editors (Textual's Input moves to the start on ctrl+a, so a user who pressed
    it to select "girl" and typed "woman" saved "womangirl")."""

    BINDINGS = [Binding("ctrl+a", "select_all", "Select all", show=False,
                        id="tags-name-select-all")]
