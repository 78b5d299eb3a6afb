"""The base of every dialog: a modal screen that closes once.

Keys typed faster than the screen redraws (a key held down over SSH, a pasted burst) all reach
a dialog before it is gone.  Textual's ``dismiss`` pops whatever screen is on top, so a second
close key (or an answer followed by escape) used to pop the screen *under* the dialog too, and
with nothing left under it the app stopped.  :class:`Dialog` answers and pops only the first
time, and only while it is the screen on top; later keys for it are dropped.
"""

from __future__ import annotations

from typing import TypeVar

from textual.await_complete import AwaitComplete
from textual.screen import ModalScreen

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    """A modal screen whose first answer (or cancel) is its only one."""

    _dialog_answered = False

    def dismiss(self, result: ResultType | None = None) -> AwaitComplete:
        if self._dialog_answered or not self.is_current:
            return AwaitComplete.nothing()  # already answered, or not the screen on top: nothing to do
        self._dialog_answered = True
        return super().dismiss(result)
