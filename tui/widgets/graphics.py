"""Which image protocol to use: Kitty, Sixel (via the optional textual-image) or half-block.

Half-block cells work everywhere (SSH, tmux, textual-serve), so they are the fallback and the
editor always uses them.  Kitty/Sixel are used only for the pixel-exact preview, and only when
``--graphics`` allows it, the terminal looks capable and ``textual-image`` is installed.
textual-image queries the terminal when imported, so :func:`resolve` must run before
``App.run()`` and is never called under tmux in "auto" mode (tmux needs passthrough).
"""

from __future__ import annotations

import os
import sys

CHOICES = ("auto", "kitty", "sixel", "halfblock")


def guess_protocol(env: dict[str, str] | None = None) -> str:
    """Best guess from the environment alone (no terminal query)."""
    env = dict(os.environ if env is None else env)
    if env.get("TMUX") or env.get("STY"):
        return "halfblock"
    term = env.get("TERM", "").lower()
    program = env.get("TERM_PROGRAM", "").lower()
    if "kitty" in term or program in {"ghostty", "wezterm"} or env.get("KITTY_WINDOW_ID"):
        return "kitty"
    if program in {"iterm.app"} or term.startswith(("foot", "mlterm")) or "sixel" in term:
        return "sixel"
    return "halfblock"


def resolve(requested: str = "auto", env: dict[str, str] | None = None,
            interactive: bool | None = None) -> tuple[str, str]:
    """Decide the protocol. Returns ``(protocol, note)``; the note explains a fallback."""
    if requested not in CHOICES:
        return "halfblock", f"unknown --graphics {requested!r}; using halfblock"
    if requested == "halfblock":
        return "halfblock", ""
    if interactive is None:
        interactive = sys.stdout.isatty() and sys.stdin.isatty()
    wanted = guess_protocol(env) if requested == "auto" else requested
    if wanted == "halfblock":
        return "halfblock", ""
    if not interactive:
        return "halfblock", "not a terminal; using halfblock"
    try:  # imported lazily: it probes the terminal at import time
        import textual_image.renderable  # noqa: F401
    except Exception as e:  # not installed, or the probe failed
        return "halfblock", f"{wanted} graphics need textual-image ({e.__class__.__name__}); " \
                            "using halfblock (pip install 'onelora[graphics]')"
    return wanted, ""


def pixel_widget(protocol: str, image):
    """A textual-image widget showing a PIL ``image`` with ``protocol``, or ``None``."""
    if protocol not in ("kitty", "sixel"):
        return None
    try:
        from textual_image import widget as ti
    except Exception:
        return None
    cls = getattr(ti, "TGPImage" if protocol == "kitty" else "SixelImage", None)
    return cls(image) if cls is not None else None
