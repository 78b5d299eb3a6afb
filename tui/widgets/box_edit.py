"""Keyboard geometry for crop rectangles: steps, move, resize, aspect lock, zoom region.

Boxes are ``[x, y, w, h]`` in prepared-image pixels.  Every result stays inside the image:
a move stops at the edge (keeping the size), a resize never goes below ``MIN_SIDE`` and never
past the image.  These are pure functions so the screen and the tests share them.
"""

from __future__ import annotations

MIN_SIDE = 16


def steps(size: tuple[int, int]) -> tuple[int, int]:
    """``(coarse, fine)`` step in pixels for an image of ``size`` (1/64 and 1/1024 of the long
    side: 32 px and 2 px for a 2048 px image)."""
    long = max(size)
    return max(4, round(long / 64)), max(1, round(long / 1024))


def clamp(box: list[int], size: tuple[int, int]) -> list[int]:
    """Fit ``box`` inside the image, shrinking it only if it is larger than the image."""
    W, H = size
    x, y, w, h = (int(round(v)) for v in box)
    w, h = max(1, min(w, W)), max(1, min(h, H))
    x, y = min(max(0, x), W - w), min(max(0, y), H - h)
    return [x, y, w, h]


def move(box: list[int], dx: int, dy: int, size: tuple[int, int]) -> list[int]:
    """Shift by ``dx``, ``dy`` pixels, stopping at the image edge."""
    x, y, w, h = box
    return clamp([x + dx, y + dy, w, h], size)


def resize(box: list[int], dw: int, dh: int, size: tuple[int, int],
           aspect: float | None = None) -> list[int]:
    """Grow/shrink the right and bottom edges by ``dw``/``dh`` pixels.

    With ``aspect`` (w/h) the other side follows so the ratio stays; if the image edge stops
    one side, the other stops with it.
    """
    W, H = size
    x, y, w, h = box
    if aspect:
        if dw:
            w = w + dw
            h = w / aspect
        else:
            h = h + dh
            w = h * aspect
        limit = min(1.0, (W - x) / w if w > 0 else 1.0, (H - y) / h if h > 0 else 1.0)
        w, h = w * limit, h * limit
        small = max(MIN_SIDE / max(w, 1e-9), MIN_SIDE / max(h, 1e-9), 1.0)
        w, h = w * small, h * small
        return clamp([x, y, round(w), round(h)], size)
    w = min(max(MIN_SIDE, w + dw), W - x)
    h = min(max(MIN_SIDE, h + dh), H - y)
    return clamp([x, y, w, h], size)


def zoom_region(box: list[int], size: tuple[int, int], margin: float = 0.15
                ) -> tuple[int, int, int, int]:
    """The part of the image to show when zoomed into ``box``: the box plus a margin."""
    x, y, w, h = box
    mx, my = max(8, int(w * margin)), max(8, int(h * margin))
    rx, ry, rw, rh = clamp([x - mx, y - my, w + 2 * mx, h + 2 * my], size)
    return (rx, ry, rw, rh)


def inside(box: list[int], region: tuple[int, int, int, int]) -> bool:
    """True if ``box`` lies entirely within ``region``."""
    x, y, w, h = box
    rx, ry, rw, rh = region
    return x >= rx and y >= ry and x + w <= rx + rw and y + h <= ry + rh
