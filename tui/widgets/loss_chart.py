"""A braille loss chart: raw loss as dots, its EMA as a line, optional log scale.

Each terminal cell holds a 2×4 braille dot grid, so an 70×10 cell chart has 140×40 dots.
The chart is drawn from plain sequences (no plotting library); :func:`render_chart` is a pure
function so it can be tested and benchmarked on its own.  Non-finite raw losses are marked
with a red ``!`` in the top row of their column — a NaN must never look like a gap.
"""

from __future__ import annotations

import math
from typing import Sequence

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# Braille dot bit for (column 0..1, row 0..3) inside a cell.
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
LABEL_W = 8


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    a = abs(v)
    if 0.01 <= a < 1000:
        return f"{v:.4f}"[:7] if a < 10 else f"{v:.1f}"
    return f"{v:.1e}"


def render_chart(xs: Sequence[float], raw: Sequence[float], ema: Sequence[float], width: int,
                 height: int, log: bool = False, styles: dict[str, Style] | None = None) -> Text:
    """Render a ``width``×``height`` cell chart (axis labels and a legend line included)."""
    styles = styles or {}
    plot_w, plot_h = max(width - LABEL_W, 4), max(height - 1, 2)
    dots_w, dots_h = plot_w * 2, plot_h * 4

    def tf(v: float) -> float:
        if not math.isfinite(v):
            return math.nan
        if log:
            return math.log10(v) if v > 0 else math.nan
        return v

    ty_raw = [tf(v) for v in raw]
    ty_ema = [tf(v) for v in ema]
    finite = [v for v in ty_raw + ty_ema if math.isfinite(v)]
    n = len(xs)
    text = Text(no_wrap=True, overflow="crop")
    if n == 0 or not finite:
        empty = "waiting for the first step…" if n == 0 else "no finite loss yet"
        lines = [" " * width] * plot_h
        mid = plot_h // 2
        lines[mid] = empty.center(width)[:width]
        for line in lines:
            text.append(line + "\n", styles.get("axis"))
        text.append(" " * width, styles.get("axis"))
        return text
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1) * 0.1, hi + 0.5 * (abs(hi) or 1) * 0.1
    x0, x1 = float(xs[0]), float(xs[-1])
    span = (x1 - x0) or 1.0

    def col(x: float) -> int:
        return min(dots_w - 1, max(0, int((float(x) - x0) / span * (dots_w - 1) + 0.5)))

    def row(y: float) -> int:  # 0 = top
        return min(dots_h - 1, max(0, int((hi - y) / (hi - lo) * (dots_h - 1) + 0.5)))

    raw_bits = [[0] * plot_w for _ in range(plot_h)]
    ema_bits = [[0] * plot_w for _ in range(plot_h)]
    nan_cols: set[int] = set()

    def dot(grid: list[list[int]], c: int, r: int) -> None:
        grid[r >> 2][c >> 1] |= _DOT[c & 1][r & 3]

    for x, y, r_orig in zip(xs, ty_raw, raw):
        c = col(x)
        if math.isfinite(y):
            dot(raw_bits, c, row(y))
        elif not math.isfinite(r_orig):
            nan_cols.add(c >> 1)
    prev: tuple[int, int] | None = None
    for x, y in zip(xs, ty_ema):
        if not math.isfinite(y):
            prev = None
            continue
        c, r = col(x), row(y)
        if prev is not None and prev[0] <= c:
            # a straight line from the previous point: one dot run per dot column
            pc, pr = prev
            last = pr
            for cc in range(pc, c + 1):
                rr = pr + (r - pr) * (cc - pc) // max(c - pc, 1) if c > pc else r
                lo_r, hi_r = sorted((last, rr))
                for fill in range(lo_r, hi_r + 1):
                    dot(ema_bits, cc, fill)
                last = rr
        dot(ema_bits, c, r)
        prev = (c, r)

    def ylabel(i: int) -> str:
        if i in (0, plot_h - 1) or (plot_h >= 5 and i == plot_h // 2):
            y = hi - (hi - lo) * (i * 4 + 1.5) / max(dots_h - 1, 1)
            v = 10 ** y if log else y
            return _fmt(v).rjust(LABEL_W - 1)[: LABEL_W - 1] + "┤"
        return " " * (LABEL_W - 1) + "│"

    for i in range(plot_h):
        text.append(ylabel(i), styles.get("axis"))
        for j in range(plot_w):
            if i == 0 and j in nan_cols:
                text.append("!", styles.get("nan"))
                continue
            e, r_ = ema_bits[i][j], raw_bits[i][j]
            if e:
                text.append(chr(0x2800 | e | r_), styles.get("ema"))
            elif r_:
                text.append(chr(0x2800 | r_), styles.get("raw"))
            else:
                text.append(" ")
        text.append("\n")
    left = f"step {int(x0)}"
    right = f"step {int(x1)}"
    legend = f"⠂raw ⣀ema{'  log' if log else ''}"
    gap = plot_w - len(left) - len(right) - len(legend)
    if gap >= 2:
        bottom = left + " " * (gap // 2) + legend + " " * (gap - gap // 2) + right
    else:
        bottom = (left + " " * max(1, plot_w - len(left) - len(right)) + right)[:plot_w]
    text.append(" " * LABEL_W + bottom, styles.get("axis"))
    return text


class LossChart(Widget):
    """Loss (raw dots + EMA line) over steps; ``log_scale`` toggles a log10 y axis."""

    COMPONENT_CLASSES = {"loss-chart--raw", "loss-chart--ema", "loss-chart--nan",
                         "loss-chart--axis"}
    DEFAULT_CSS = """
    LossChart { height: 10; min-height: 4; }
    LossChart > .loss-chart--raw { color: $text-muted; }
    LossChart > .loss-chart--ema { color: $accent; text-style: bold; }
    LossChart > .loss-chart--nan { color: $error; background: $error 30%; text-style: bold; }
    LossChart > .loss-chart--axis { color: $text-muted; }
    """

    log_scale: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.xs: Sequence[float] = ()
        self.raw: Sequence[float] = ()
        self.ema: Sequence[float] = ()

    def set_data(self, xs: Sequence[float], raw: Sequence[float], ema: Sequence[float]) -> None:
        self.xs, self.raw, self.ema = xs, raw, ema
        self.refresh()

    def render(self) -> Text:
        styles = {name: self.get_component_rich_style(f"loss-chart--{name}")
                  for name in ("raw", "ema", "nan", "axis")}
        return render_chart(self.xs, self.raw, self.ema, self.size.width, self.size.height,
                            self.log_scale, styles)
