"""Command palette providers (posting-style "group: verb" commands).

:class:`ScreenCommands` gives every screen a palette without extra code: a screen may define
``palette_commands()`` returning ``(title, help, callback)`` triples; otherwise each of its
bindings that has a description becomes ``"<screen group>: <description>"`` — unless the
screen's ``check_action`` turns that action off now (False: a key the footer hides, e.g. the
picker's "back" with no project to go back to, is not offered either).  App-wide
commands (modes, theme, project) come from ``OneloraApp.get_system_commands``.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterable

from textual.actions import ActionError, parse
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

Command = tuple[str, str, Callable]


def binding_commands(screen: Screen) -> list[Command]:
    """Commands derived from a screen's own ``BINDINGS`` (only those with a description)."""
    group = (getattr(screen, "PALETTE_GROUP", None) or getattr(screen, "BINDING_GROUP_TITLE", None)
             or type(screen).__name__.removesuffix("Screen")).lower()
    seen: set[str] = set()
    out: list[Command] = []
    # Widgets inside the screen may hold keys for screen actions ("screen.stop_run" on the
    # training dashboard): those work from the palette wherever the focus is.
    inner = [b for w in screen.walk_children() for b in getattr(type(w), "BINDINGS", [])
             if isinstance(b, Binding) and b.action.startswith("screen.")]
    for item in [*getattr(screen, "BINDINGS", []), *inner]:
        if not isinstance(item, Binding) or not item.description or item.action in seen:
            continue
        if _turned_off(screen, item.action):
            continue
        seen.add(item.action)
        key = item.key.split(",")[0]
        title = f"{group}: {item.description.lower()}"
        if item.tooltip and any(title == t for t, _, _ in out):
            title += f" ({item.tooltip.lower()})"  # two keys, one word: say which is which
        out.append((title, item.tooltip or f"key: {key}", partial(screen.run_action, item.action)))
    return out


def _turned_off(screen: Screen, action: str) -> bool:
    """Whether the screen's ``check_action`` says False (hidden, not just greyed) for an
    action of its own (``name(args)`` or ``screen.name(args)``)."""
    try:
        namespace, name, params = parse(action)
    except ActionError:
        return False
    if namespace not in ("", "screen"):
        return False
    return screen.check_action(name, params) is False


def screen_commands(screen: Screen) -> list[Command]:
    """The commands the screen offers in the palette."""
    custom = getattr(screen, "palette_commands", None)
    if callable(custom):
        return list(custom())
    return binding_commands(screen)


class ScreenCommands(Provider):
    """Palette commands of the screen the palette was opened on."""

    def _commands(self) -> Iterable[Command]:
        try:
            return screen_commands(self.screen)
        except Exception:  # a broken screen must not break the palette
            return []

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
