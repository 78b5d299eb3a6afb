"""ImageView: the prepared image as half-block cells with crop rectangles drawn on top.

The view keeps a small cache of :class:`~tui.widgets.cells.CellCanvas` renders keyed by
(region, size); changing the overlays (a crop moved or resized) only recomputes the overlay
patches and refreshes, so a redraw costs a few list copies per row instead of resampling
the image (see ``bench/tui_render.py``).
"""

from __future__ import annotations

from collections import OrderedDict

from PIL import Image
from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.cells import Box, CellCanvas, Overlay, overlay_patches

_CACHE_SIZE = 4


def _rgb(color) -> tuple[int, int, int]:
    return (color.r, color.g, color.b) if color is not None else (0, 0, 0)


class ImageView(Widget, can_focus=True):
    """Shows ``region`` of an image fitted to the widget, overlays on top."""

    DEFAULT_CSS = """
    ImageView { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.image: Image.Image | None = None
        self.view_region: Box | None = None
        self.overlays: list[Overlay] = []
        self.message = "loading image…"
        self._canvases: OrderedDict[tuple, CellCanvas] = OrderedDict()
        self._patches: dict[int, list] = {}
        self._patched_for: tuple | None = None
        self._cells_cache: dict = {}
        self._cells_cache_for: CellCanvas | None = None
        self.renders = 0
        """How many times pixels were turned into cells (tests check moves don't)."""

    # -- state ---------------------------------------------------------------------------
    def set_image(self, image: Image.Image | None, message: str = "") -> None:
        """Show a new image (drops every cached render)."""
        self.image = image.convert("RGB") if image is not None and image.mode != "RGB" else image
        self.message = message
        self._canvases.clear()
        self._patched_for = None
        self.refresh()

    def set_region(self, region: Box | None) -> None:
        """Show ``region`` (source px) of the image, or the whole image for ``None``."""
        if region != self.view_region:
            self.view_region = region
            self._patched_for = None
            self.refresh()

    def set_overlays(self, overlays: list[Overlay]) -> None:
        """Replace the overlays; pixels are not re-rendered, and only the rows whose overlay
        cells changed are repainted."""
        old = self._patches if self._patched_for is not None else None
        old_canvas = self._patched_for[0] if self._patched_for else None
        self.overlays = list(overlays)
        self._patched_for = None
        canvas = self.canvas() if self.is_mounted else None
        if canvas is None or old is None or old_canvas != id(canvas):
            self.refresh()
            return
        new = self._current_patches(canvas)
        width = self.size.width
        dirty = [Region(0, y, width, 1) for y in set(old) | set(new) if old.get(y) != new.get(y)]
        if dirty:
            self.refresh(*dirty)

    def invalidate(self) -> None:
        """Forget cached renders (e.g. the theme's background changed)."""
        self._canvases.clear()
        self._patched_for = None
        self.refresh()

    # -- rendering -----------------------------------------------------------------------
    @property
    def full_region(self) -> Box:
        if self.image is None:
            return (0, 0, 1, 1)
        return (0, 0, self.image.width, self.image.height)

    def canvas(self) -> CellCanvas | None:
        """The cached render for the current region and size (built on first use)."""
        if self.image is None:
            return None
        cols, rows = self.size.width, self.size.height
        if cols <= 0 or rows <= 0:
            return None
        region = self.view_region or self.full_region
        bg = _rgb(self.styles.background) if self.is_mounted else (0, 0, 0)
        key = (region, cols, rows, bg)
        canvas = self._canvases.get(key)
        if canvas is None:
            canvas = CellCanvas(self.image, region, cols, rows, background=bg)
            self.renders += 1
            self._canvases[key] = canvas
            while len(self._canvases) > _CACHE_SIZE:
                self._canvases.popitem(last=False)
        else:
            self._canvases.move_to_end(key)
        return canvas

    def _current_patches(self, canvas: CellCanvas) -> dict[int, list]:
        stamp = (id(canvas), id(self.overlays))
        if self._patched_for != stamp:
            if self._cells_cache_for is not canvas or len(self._cells_cache) > 256:
                self._cells_cache, self._cells_cache_for = {}, canvas
            self._patches = overlay_patches(canvas, self.overlays, self._cells_cache)
            self._patched_for = stamp
        return self._patches

    def render_lines(self, crop):
        self._frame_canvas = self.canvas()  # one cache lookup per frame, not per line
        try:
            return super().render_lines(crop)
        finally:
            self._frame_canvas = None

    def render_line(self, y: int) -> Strip:
        canvas = getattr(self, "_frame_canvas", None) or self.canvas()
        width = self.size.width
        if canvas is None:
            text = self.message[:width] if y == self.size.height // 2 else ""
            pad = max(0, (width - len(text)) // 2)
            return Strip([Segment(" " * pad + text, self.rich_style)]).adjust_cell_length(
                width, self.rich_style)
        if y >= canvas.rows:
            return Strip.blank(width, self.rich_style)
        return canvas.line(y, self._current_patches(canvas).get(y))

    def source_per_cell(self) -> float:
        """Source pixels per cell column at the current view (for step sizes)."""
        canvas = self.canvas()
        return 1.0 / canvas.scale if canvas else 1.0
