"""onelora's colour themes (dark and light) and the app stylesheet.

The palettes are Textual :class:`~textual.theme.Theme` objects, registered by the App; the
stylesheet ``onelora.tcss`` refers only to theme ``$variables``, so both themes share it.
The ``.tcss`` ships inside the wheel and is read through :mod:`importlib.resources`, so an
installed onelora finds it without relying on source-tree paths.

This package imports Textual (it exists only for the TUI); the engine never imports it.
"""

from __future__ import annotations

from importlib import resources

from textual.theme import Theme

DARK = Theme(
    name="onelora-dark",
    primary="#5fafd7",
    secondary="#af87d7",
    accent="#ffd75f",
    warning="#ffaf5f",
    error="#ff5f5f",
    success="#87d787",
    foreground="#e4e4e4",
    background="#1c1c1c",
    surface="#262626",
    panel="#303030",
    dark=True,
    variables={"crop-selected": "#ffd75f", "crop-other": "#5fafd7", "artifact": "#ff5fd7"},
)
"""The default theme: dark, high contrast, colours that survive 256-colour terminals."""

LIGHT = Theme(
    name="onelora-light",
    primary="#005f87",
    secondary="#5f00af",
    accent="#af5f00",
    warning="#af5f00",
    error="#d70000",
    success="#008700",
    foreground="#1c1c1c",
    background="#f5f5f5",
    surface="#e8e8e8",
    panel="#dadada",
    dark=False,
    variables={"crop-selected": "#d75f00", "crop-other": "#005f87", "artifact": "#d700af"},
)
"""The light theme, for light terminal backgrounds."""

THEMES: tuple[Theme, ...] = (DARK, LIGHT)
STYLESHEET = "onelora.tcss"


def stylesheet() -> str:
    """The app stylesheet text, read from the installed package."""
    return resources.files(__name__).joinpath(STYLESHEET).read_text(encoding="utf-8")


def other(name: str) -> str:
    """The name of the opposite theme (dark ↔ light)."""
    return LIGHT.name if name == DARK.name else DARK.name
