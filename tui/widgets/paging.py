"""An OptionList that survives page keys typed before it has a size."""

from __future__ import annotations

from textual.widgets import OptionList


class SafePaging(OptionList):
    """OptionList whose page up/down never raise: Textual maps options to lines only once the
    list has a size, so a page key that arrives while the list is hidden or before its first
    layout after a rebuild (a burst of keys) found no line for the highlighted option (KeyError
    in ``_move_page``, which ended the app).  Then the highlight moves to the first/last option."""

    def _move_page(self, direction) -> None:
        try:
            super()._move_page(direction)
        except KeyError:
            if self.option_count:
                self.highlighted = 0 if direction < 0 else self.option_count - 1
