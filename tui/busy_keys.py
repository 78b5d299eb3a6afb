"""Keys a screen turns off while a step of its own runs: said, never silently dropped.

While the Crops screen rebuilds the prepared image (upscale, fix, flatten), its editing keys
are off: the step replaces the crops in memory when it ends (scaled to the new image, or read
back from the job that made it), so an edit made meanwhile would be lost.  Textual skips a
binding whose action is off and the key then does nothing at all; the screen calls
:func:`refuse` from its ``on_key`` instead, which names the step and what to do.  A held key
(or a burst) shows one note, not one per repeat: the same note is not raised again while it
is still on screen."""

from __future__ import annotations

import time

from textual.screen import Screen

NOTE_SECONDS = 4.0
"""How long a busy note stays; the same one is not raised again within that time."""


def refused_action(screen: Screen, key: str, actions: frozenset[str]):
    """The screen's own binding of ``key`` whose action is one of ``actions``, or None."""
    for binding in screen._bindings.key_to_bindings.get(key, ()):
        if binding.action.split("(", 1)[0] in actions:
            return binding
    return None


def refuse(screen: Screen, key: str, step: str, actions: frozenset[str]) -> bool:
    """If ``key`` is one of the screen's ``actions``, say that ``step`` is running and that
    the key did nothing (once while the note is shown); True when the key is refused."""
    binding = refused_action(screen, key, actions)
    if binding is None:
        return False
    shown = screen.app.get_key_display(binding) if key == binding.key else key
    text = (f"busy: {step} — wait for it or use another screen meanwhile; {shown} "
            f"({binding.description.lower()}) did nothing: press it again when the step is done")
    said, at = getattr(screen, "_busy_note", ("", 0.0))
    now = time.monotonic()
    if text != said or now - at > NOTE_SECONDS:
        screen._busy_note = (text, now)
        screen.notify(text, severity="warning", timeout=NOTE_SECONDS)
    return True
