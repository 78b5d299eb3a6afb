"""Redraw time of the crop editor after a move/resize, vs. re-rendering pixels with rich-pixels.

Prints ONE JSON line.  Source: the demo drawing scaled onto a 2048×2048 canvas; view: 200×60
cells (200×120 half-block pixels); eight overlays (seven preset-like crops + the selection).

- ``redraw_ms``: median time, after the selected crop moved or was resized, to recompute the
  overlay patches and produce all 60 lines of the frame from the cached cell render
  (what ImageView.render_line does) — pixels are not touched.
- ``textual_redraw_ms``: the same through Textual: ``set_overlays`` (which marks only the rows
  whose overlay cells changed as dirty) then ``ImageView.render_lines`` for the whole widget
  inside a headless App — Textual's per-line styling of the dirty rows included.
- ``first_render_ms``: the one-off cost of rendering the image to cells (once per zoom level).
- ``rich_pixels_ms``: median time for rich-pixels to render the same 200×120 px frame from
  pixels (``Pixels.from_image`` + rendering its segments), i.e. what a redraw would cost
  without the cache.  Goal: redraw_ms ≤ 16.

Usage: .venv/bin/python bench/tui_render.py [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COLS, ROWS, SIDE = 200, 60, 2048


def source_image():
    from PIL import Image

    from engine.demo_image import demo_image_path

    demo = Image.open(demo_image_path()).convert("RGB")
    h = SIDE
    w = round(demo.width * h / demo.height)
    canvas = Image.new("RGB", (SIDE, SIDE), (246, 244, 239))
    canvas.paste(demo.resize((w, h), Image.Resampling.LANCZOS), ((SIDE - w) // 2, 0))
    return canvas


def crops() -> list[tuple[int, int, int, int]]:
    return [(400, 0, 1250, 2048), (400, 0, 1250, 1500), (450, 0, 1150, 1000),
            (450, 900, 1150, 1148), (720, 250, 600, 600), (650, 120, 760, 420),
            (450, 500, 1150, 900)]


def frames(n: int):
    """(selected box, moved?) for n edits alternating move and resize."""
    x, y, w, h = 720, 250, 600, 600
    for i in range(n):
        if i % 2:
            w, h = w + 32, h + 32
        else:
            x, y = x + 32, y + 16
        yield (x % 1400, y % 1400, w % 600 + 300, h % 600 + 300)


def bench_cached(image, repeats: int) -> tuple[float, float]:
    from tui.widgets.cells import CellCanvas, Overlay, overlay_patches

    start = time.perf_counter()
    canvas = CellCanvas(image, (0, 0, SIDE, SIDE), COLS, ROWS)
    first = (time.perf_counter() - start) * 1000
    others = [Overlay(b, (95, 175, 215), "crop") for b in crops()]
    cache: dict = {}
    times = []
    for box in frames(repeats):
        t = time.perf_counter()
        overlays = others + [Overlay(box, (255, 215, 95), "selected", "face")]
        patches = overlay_patches(canvas, overlays, cache)
        lines = [canvas.line(y, patches.get(y)) for y in range(ROWS)]
        times.append((time.perf_counter() - t) * 1000)
        assert len(lines) == ROWS and lines[0].cell_length == COLS
    return statistics.median(times), first


def bench_textual(image, repeats: int) -> float:
    from textual.app import App
    from textual.geometry import Region

    from tui.widgets.cells import Overlay
    from tui.widgets.image_view import ImageView

    class Bench(App):
        CSS = "ImageView { width: 200; height: 60; }"

        def compose(self):
            yield ImageView()

    async def run() -> float:
        app = Bench()
        async with app.run_test(size=(COLS, ROWS)) as pilot:
            view = app.query_one(ImageView)
            view.set_image(image)
            await pilot.pause()
            view.render_lines(Region(0, 0, COLS, ROWS))  # first render (cached from now on)
            others = [Overlay(b, (95, 175, 215), "crop") for b in crops()]
            times = []
            for box in frames(repeats):
                t = time.perf_counter()
                # set_overlays marks only the rows whose overlay cells changed as dirty;
                # Textual re-renders those and reuses its cached lines for the rest.
                view.set_overlays(others + [Overlay(box, (255, 215, 95), "selected", "face")])
                lines = view.render_lines(Region(0, 0, COLS, ROWS))
                times.append((time.perf_counter() - t) * 1000)
                assert len(lines) == ROWS
            assert view.renders == 1, "a move must not re-render pixels"
            return statistics.median(times)

    return asyncio.run(run())


def bench_rich_pixels(image, repeats: int) -> float:
    from rich.console import Console
    from rich_pixels import Pixels

    console = Console(width=COLS, color_system="truecolor", file=open("/dev/null", "w"))
    times = []
    for _ in range(max(3, repeats // 10)):
        t = time.perf_counter()
        pixels = Pixels.from_image(image, resize=(COLS, ROWS * 2))
        segments = list(console.render(pixels, console.options))
        times.append((time.perf_counter() - t) * 1000)
        assert segments
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    image = source_image()
    redraw, first = bench_cached(image, args.repeats)
    textual_redraw = bench_textual(image, args.repeats)
    baseline = bench_rich_pixels(image, args.repeats)
    print(json.dumps({
        "bench": "tui_render", "source_px": [SIDE, SIDE], "view_cells": [COLS, ROWS],
        "overlays": len(crops()) + 1, "redraw_ms": round(redraw, 3),
        "textual_redraw_ms": round(textual_redraw, 3), "first_render_ms": round(first, 1),
        "rich_pixels_ms": round(baseline, 1), "goal_ms": 16,
        "speedup_vs_rich_pixels": round(baseline / textual_redraw, 1),
        "meets_goal": textual_redraw <= 16 and redraw <= 16,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
