"""Modal dialogs answer once.

Enter and Escape read in one burst (a fast typist, a paste, tmux send-keys) both dismiss a
dialog before it is gone: Textual then hands the caller a second result (InvalidStateError, the
app stops) and pops the screen under the dialog too.  :class:`AnswerOnce` ignores every dismiss
after the first.
"""

from __future__ import annotations

from textual.await_complete import AwaitComplete


class AnswerOnce:
    """ModalScreen mixin (put it first in the bases): only the first dismiss counts."""

    _answered = False

    def dismiss(self, result=None):  # type: ignore[no-untyped-def]
        if self._answered:
            return AwaitComplete.nothing()
        self._answered = True
        return super().dismiss(result)  # type: ignore[misc]
