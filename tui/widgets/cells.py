"""Half-block cell rendering of an image, with overlays drawn on top.

The expensive part — resampling pixels and turning them into styled cells — happens once per
view (region of the image × widget size) in :class:`CellCanvas`.  Crop rectangles, the face
box and artifact markers are :class:`Overlay` objects turned into a small set of per-cell
patches by :func:`overlay_patches`; a redraw after a crop moves only re-applies those patches
to the cached rows, so it never touches pixels again (docs/performance.md).

One cell shows two pixels stacked: ``▀`` with the upper pixel as foreground colour and the
lower pixel as background colour (the rich-pixels technique).  This works in every
truecolour terminal, over SSH and inside tmux.

No Textual imports here except :class:`~textual.strip.Strip`, so the benchmark can drive it
without an App.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]

_STYLE_CACHE: dict[tuple, Style] = {}


def cell_style(fg: RGB | None, bg: RGB | None, bold: bool = False) -> Style:
    """A (cached) Rich style for one cell."""
    key = (fg, bg, bold)
    style = _STYLE_CACHE.get(key)
    if style is None:
        if len(_STYLE_CACHE) > 200_000:
            _STYLE_CACHE.clear()
        style = Style(color=Color.from_rgb(*fg) if fg else None,
                      bgcolor=Color.from_rgb(*bg) if bg else None, bold=bold)
        _STYLE_CACHE[key] = style
    return style


def fit(region: Box, cols: int, rows: int) -> tuple[float, int, int, int, int]:
    """Scale and placement of ``region`` (source px) inside ``cols`` × ``rows`` cells.

    Returns ``(scale, ox, oy, pw, ph)``: view pixels per source pixel, the offset of the
    image in view pixels (a view pixel is one column wide and half a row tall) and the size
    of the resampled image.  ``oy`` and ``ph`` are even, so the image starts on a cell row.
    """
    _, _, rw, rh = region
    vw, vh = max(1, cols), max(2, rows * 2)
    scale = min(vw / max(1, rw), vh / max(1, rh))
    pw = max(1, min(vw, round(rw * scale)))
    ph = max(2, min(vh, round(rh * scale)))
    ph -= ph % 2
    ox = (vw - pw) // 2
    oy = ((vh - ph) // 2) & ~1
    return scale, ox, oy, pw, ph


class CellCanvas:
    """``region`` of ``image`` rendered once into ``cols`` × ``rows`` half-block cells."""

    def __init__(self, image: Image.Image, region: Box, cols: int, rows: int,
                 background: RGB = (0, 0, 0)) -> None:
        self.region = region
        self.cols, self.rows = cols, rows
        self.background = background
        self.scale, self.ox, self.oy, self.pw, self.ph = fit(region, cols, rows)
        rx, ry, rw, rh = region
        crop = image.crop((rx, ry, rx + rw, ry + rh))
        if crop.mode != "RGB":
            crop = crop.convert("RGB")
        # BOX averages every source pixel under a view pixel: stray specks stay visible as a
        # tint instead of vanishing (NEAREST) or ringing (LANCZOS).
        small = crop.resize((self.pw, self.ph), Image.Resampling.BOX, reducing_gap=2.0)
        pixels = np.full((rows * 2, cols, 3), background, dtype=np.uint8)
        pixels[self.oy:self.oy + self.ph, self.ox:self.ox + self.pw] = np.asarray(small)
        self.top = pixels[0::2]
        self.bottom = pixels[1::2]
        self.inside = np.zeros((rows, cols), dtype=bool)
        self.inside[self.oy // 2:(self.oy + self.ph) // 2, self.ox:self.ox + self.pw] = True
        blank = Segment(" ", cell_style(None, background))
        self._top = [[tuple(p) for p in row] for row in self.top.tolist()]
        self._bottom = [[tuple(p) for p in row] for row in self.bottom.tolist()]
        # Each row as runs of identical cells: (x0, x1, text of one cell, style).
        self.runs: list[list[tuple[int, int, str, Style]]] = []
        for y in range(rows):
            top, bottom, inside = self._top[y], self._bottom[y], self.inside[y].tolist()
            runs: list[tuple[int, int, str, Style]] = []
            start, key = 0, None
            for x in range(cols + 1):
                k = (top[x], bottom[x]) if x < cols and inside[x] else (None if x < cols else 0)
                if x == 0:
                    key = k
                    continue
                if k != key:
                    if key is None:
                        runs.append((start, x, " ", blank.style))
                    else:
                        runs.append((start, x, "▀", cell_style(key[0], key[1])))
                    start, key = x, k
            self.runs.append(runs)
        self.strips = [Strip([Segment(ch * (x1 - x0), st) for x0, x1, ch, st in runs], cols)
                       for runs in self.runs]

    # -- coordinates ---------------------------------------------------------------------
    def to_view(self, x: float, y: float) -> tuple[float, float]:
        """Source pixel → view pixel (column, half-row)."""
        rx, ry, _, _ = self.region
        return self.ox + (x - rx) * self.scale, self.oy + (y - ry) * self.scale

    def to_source(self, vx: float, vy: float) -> tuple[float, float]:
        """View pixel (column, half-row) → source pixel."""
        rx, ry, _, _ = self.region
        return rx + (vx - self.ox) / self.scale, ry + (vy - self.oy) / self.scale

    def pixel_pair(self, col: int, row: int) -> tuple[RGB, RGB]:
        """Upper and lower view-pixel colours of one cell."""
        return self._top[row][col], self._bottom[row][col]

    def line(self, y: int, patch: Sequence[tuple[int, Segment]] | None = None) -> Strip:
        """Row ``y``: the cached strip, or its runs with the ``patch`` cells (sorted by
        column) spliced in — the result has about as many segments as the cached row."""
        if not patch:
            return self.strips[y]
        out: list[Segment] = []
        append = out.append
        i, n = 0, len(patch)
        for x0, x1, ch, st in self.runs[y]:
            pos = x0
            while i < n and patch[i][0] < x1:
                px, seg = patch[i]
                if px > pos:
                    append(Segment(ch * (px - pos), st))
                append(seg)
                pos = px + 1
                i += 1
            if pos < x1:
                append(Segment(ch * (x1 - pos), st))
        return Strip(out, self.cols)


@dataclass(frozen=True)
class Overlay:
    """Something drawn over the image: a rectangle or an artifact marker, in source px."""

    box: Box
    color: RGB
    kind: str = "crop"
    """"crop", "selected" (thicker sides and a label), "face" or "artifact"."""
    label: str = ""


def _avg(a: RGB, b: RGB) -> RGB:
    return ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2, (a[2] + b[2]) // 2)


def _ink(color: RGB) -> RGB:
    """Black or white text, whichever reads better on ``color``."""
    return (0, 0, 0) if (0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]) > 140 \
        else (255, 255, 255)


def overlay_patches(canvas: CellCanvas, overlays: Iterable[Overlay],
                    cache: dict | None = None) -> dict[int, list[tuple[int, Segment]]]:
    """Per-row cell replacements that draw ``overlays`` on ``canvas`` (later ones on top).

    ``cache`` (a dict the caller keeps per canvas) remembers each overlay's cells, so when one
    crop moves only that crop's cells are recomputed.
    """
    merged: dict[int, dict[int, Segment]] = {}
    for ov in overlays:
        cells = cache.get(ov) if cache is not None else None
        if cells is None:
            cells = overlay_cells(canvas, ov)
            if cache is not None:
                cache[ov] = cells
        for y, row in cells.items():
            target = merged.get(y)
            if target is None:
                merged[y] = dict(row)
            else:
                target.update(row)
    return {y: sorted(row.items()) for y, row in merged.items()}


def overlay_cells(canvas: CellCanvas, ov: Overlay) -> dict[int, dict[int, Segment]]:
    """The cells one overlay replaces, by row then column.

    Horizontal edges use half blocks, so they sit on the exact half-cell the edge falls in;
    vertical edges use thin (or, for the selected crop, half-width) bars.
    """
    patches: dict[int, dict[int, Segment]] = {}
    cols, rows = canvas.cols, canvas.rows

    def put(x: int, y: int, seg: Segment) -> None:
        if 0 <= x < cols and 0 <= y < rows:
            patches.setdefault(y, {})[x] = seg

    x, y, w, h = ov.box
    fx0, fy0 = canvas.to_view(x, y)
    fx1, fy1 = canvas.to_view(x + w, y + h)
    vx0, vy0 = math.floor(fx0), math.floor(fy0)
    vx1, vy1 = max(vx0, math.ceil(fx1) - 1), max(vy0, math.ceil(fy1) - 1)
    if vx1 < 0 or vy1 < 0 or vx0 >= cols or vy0 >= rows * 2:
        return patches
    color = ov.color
    if ov.kind == "artifact":
        cx, cy = (vx0 + vx1) // 2, (vy0 + vy1) // 4
        put(cx, cy, Segment("X", cell_style(_ink(color), color, bold=True)))
        return patches
    thick = ov.kind == "selected"
    ty, by = vy0 // 2, vy1 // 2
    top_vis, bottom_vis = vy0 >= 0, vy1 < rows * 2
    left_vis, right_vis = vx0 >= 0, vx1 < cols
    cx0, cx1 = max(0, vx0), min(cols - 1, vx1)
    # vertical edges on the rows between the horizontal ones
    for cy in range(max(0, ty + (1 if top_vis else 0)), min(rows, by + (0 if bottom_vis else 1))):
        for cx, show, glyph in ((vx0, left_vis, "▌" if thick else "▏"),
                                (vx1, right_vis, "▐" if thick else "▕")):
            if show:
                t, b = canvas.pixel_pair(cx, cy)
                put(cx, cy, Segment(glyph, cell_style(color, _avg(t, b))))
    for edge_y, visible in ((vy0, top_vis), (vy1, bottom_vis)):
        if not visible:
            continue
        cy = edge_y // 2
        for cx in range(cx0, cx1 + 1):
            t, b = canvas.pixel_pair(cx, cy)
            if ty == by:
                seg = Segment("█", cell_style(color, None))
            elif edge_y % 2 == 0:
                seg = Segment("▀", cell_style(color, b))
            else:
                seg = Segment("▄", cell_style(color, t))
            put(cx, cy, seg)
    if ov.label and top_vis:
        text = f" {ov.label} "[: max(0, cx1 - cx0 - 1)]
        style = cell_style(_ink(color), color, bold=True)
        for i, ch in enumerate(text):
            put(cx0 + 1 + i, ty, Segment(ch, style))
    return patches
