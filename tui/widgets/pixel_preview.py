"""Pixel-exact preview of one crop through Kitty or Sixel graphics (optional textual-image).

Only opened when the app runs with a graphics protocol (``--graphics kitty|sixel``, or "auto"
on a terminal that has one); half-block zoom is the everywhere-fallback.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from tui.widgets.dialog import Dialog
from tui.widgets.graphics import pixel_widget


class PixelPreview(Dialog[None]):
    """The crop at full detail; any of esc, i, q closes it."""

    DEFAULT_CSS = """
    PixelPreview { align: center middle; }
    PixelPreview > Vertical { width: 90%; height: 90%; border: round $primary;
                              background: $surface; }
    PixelPreview #preview-title { height: 1; color: $primary; text-style: bold; }
    PixelPreview #preview-image { width: 1fr; height: 1fr; }
    """
    BINDINGS = [Binding("escape,i,q", "close", "Close preview", id="preview-close")]

    def __init__(self, title: str, image, protocol: str) -> None:
        super().__init__()
        self._title, self._image, self._protocol = title, image, protocol

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self._title} — {self._image.width}×{self._image.height} px "
                         f"({self._protocol})", id="preview-title")
            widget = pixel_widget(self._protocol, self._image)
            if widget is None:
                yield Static("textual-image is not available", id="preview-image")
            else:
                widget.id = "preview-image"
                yield widget

    def action_close(self) -> None:
        self.dismiss(None)
