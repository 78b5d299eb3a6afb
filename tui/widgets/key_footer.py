"""The footer line of every screen: Textual's Footer, rebuilt only when what it shows changes.

Textual's Footer recomposes (unmounts and mounts one widget per key, then lays the whole
screen out again) every time the screen's active bindings are recomputed, which happens on
every focus change. On a settings form that made each Tab cost two full layouts (~150 ms on a
2-core server). The keys a footer shows rarely change with focus, so this footer compares what
it would show with what it shows and recomposes only on a difference.

Room at 80 columns: a screen's own keys, the other five mode keys (tui/app.py leaves out the
one on screen), "? Help" and the palette key docked right.  The palette key sits flush with
the right edge (Textual's compact footer leaves one empty column after it), which is the
column the Regularization footer needs for "? Help".
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen) -> tuple:
    """What a footer on ``screen`` would show now: (key, label, action, enabled) per binding."""
    return tuple(
        (binding.key, binding.key_display, binding.description, binding.action, enabled, tooltip)
        for (_, binding, enabled, tooltip) in screen.active_bindings.values()
        if binding.show
    )


class KeyFooter(Footer):
    """A Footer that skips the rebuild when the shown keys are the same as last time."""

    DEFAULT_CSS = """
    KeyFooter.-compact FooterKey.-command-palette { margin-right: 0; }
    """

    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = shown_keys(screen)
            if keys == self._shown:
                return
            self._shown = keys
        super().bindings_changed(screen)
