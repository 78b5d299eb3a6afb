"""Keyboard geometry for the crop editor: step sizes and the zoom region.

Boxes are ``[x, y, w, h]`` in prepared-image pixels.  Moving, resizing and clamping a box
are the engine's (:mod:`engine.crops`); this module only holds what is about the view.
"""

from __future__ import annotations

from engine.crops import clamp_box


def steps(size: tuple[int, int]) -> tuple[int, int]:
    """``(coarse, fine)`` step in pixels for an image of ``size`` (1/64 and 1/1024 of the long
    side: 32 px and 2 px for a 2048 px image)."""
    long = max(size)
    return max(4, round(long / 64)), max(1, round(long / 1024))


def zoom_region(box, size: tuple[int, int], margin: float = 0.15) -> tuple[int, int, int, int]:
    """The part of the image to show when zoomed into ``box``: the box plus a margin."""
    x, y, w, h = box
    mx, my = max(8, int(w * margin)), max(8, int(h * margin))
    rx, ry, rw, rh = clamp_box([x - mx, y - my, w + 2 * mx, h + 2 * my], size, min_side=1)
    return (rx, ry, rw, rh)


def inside(box, region: tuple[int, int, int, int]) -> bool:
    """True if ``box`` lies entirely within ``region``."""
    x, y, w, h = box
    rx, ry, rw, rh = region
    return x >= rx and y >= ry and x + w <= rx + rw and y + h <= ry + rh
