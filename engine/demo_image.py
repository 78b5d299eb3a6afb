"""The demo character: a deterministic Pillow drawing used by ``onelora demo`` and the tests.

A standing anime-style girl on a plain light background, drawn after the seed's Isabella:
a white hat with a green bow, long brown hair with bangs, blue eyes, a white capelet with two
green stripes, a black corset with green laces, a long white skirt with two green stripes,
long sleeves with blue wrist cuffs (three stripes) and boots with green laces.

The drawing is rendered at twice the size and reduced with an area filter, so its line art is
anti-aliased like a real drawing.  Then a few islands of stray blue pixels are planted in the hair,
the seed's "multicolored hair" artifact; :data:`PLANTED_ISLANDS` lists their boxes so tests can
check that the artifact finder finds exactly those.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 768, 1280
BACKGROUND = (246, 244, 239)
OUTLINE = (38, 32, 40)
HAIR = (150, 96, 62)
HAIR_SHADE = (128, 80, 52)
SKIN = (252, 226, 208)
WHITE = (250, 250, 250)
GREEN = (58, 150, 92)
BLUE = (62, 98, 196)
BLACK = (34, 31, 37)
BOOT = (72, 46, 36)
IRIS = (70, 124, 186)
PUPIL = (30, 42, 82)
STRAY = (70, 112, 236)

# The stray-colour islands, as (x, y, w, h) in pixels of the 768 x 1280 drawing, and the pixels
# of each island relative to its box's top-left corner.  Each lies inside plain hair, at least
# 10 px away from any line.
_ISLAND_SHAPES: list[tuple[int, int, list[tuple[int, int]]]] = [
    (262, 236, [(0, 0), (1, 0), (0, 1), (1, 1)]),                                  # 2x2 speck
    (276, 300, [(1, 0), (0, 1), (1, 1), (2, 1), (1, 2), (0, 0), (2, 2)]),          # 3x3 cross-ish
    (248, 318, [(x, y) for y in range(4) for x in range(4) if (x, y) not in ((0, 0), (3, 3))]),
    (486, 318, [(x, y) for y in range(7) for x in range(7)
                if (x - 3) ** 2 + (y - 3) ** 2 <= 10]),                            # round, 37 px
    (502, 262, [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2)]),                          # L shape
]
PLANTED_ISLANDS: list[tuple[int, int, int, int]] = [
    (x, y, max(p[0] for p in pts) + 1, max(p[1] for p in pts) + 1) for x, y, pts in _ISLAND_SHAPES
]
"""Boxes (x, y, w, h) of the planted stray-blue islands in the demo image."""


def demo_image_path() -> Path:
    """The shipped PNG of :func:`draw_demo_character` (seed 0)."""
    return Path(__file__).resolve().parent / "assets" / "demo_character.png"


class _Pen:
    """Draws in 768 x 1280 coordinates on a canvas ``scale`` times larger."""

    def __init__(self, draw: ImageDraw.ImageDraw, scale: int) -> None:
        self.d, self.s = draw, scale

    def _pts(self, pts):
        return [(x * self.s, y * self.s) for x, y in pts]

    def poly(self, pts, fill, outline=OUTLINE, width=3):
        self.d.polygon(self._pts(pts), fill=fill, outline=outline, width=width * self.s)

    def ellipse(self, box, fill, outline=OUTLINE, width=3):
        x0, y0, x1, y1 = box
        self.d.ellipse([x0 * self.s, y0 * self.s, x1 * self.s, y1 * self.s], fill=fill,
                       outline=outline, width=width * self.s if outline else 0)

    def rect(self, box, fill, outline=OUTLINE, width=3):
        x0, y0, x1, y1 = box
        self.d.rectangle([x0 * self.s, y0 * self.s, x1 * self.s, y1 * self.s], fill=fill,
                         outline=outline, width=width * self.s if outline else 0)

    def line(self, pts, fill=OUTLINE, width=3):
        self.d.line(self._pts(pts), fill=fill, width=width * self.s, joint="curve")


def _band(pen: _Pen, left, right, y0, y1, fill):
    """A horizontal stripe across a trapezoid whose sides are the lines ``left``/``right``
    (each ((x_top, y_top), (x_bottom, y_bottom)))."""
    def x_at(side, y):
        (xa, ya), (xb, yb) = side
        return xa + (xb - xa) * (y - ya) / (yb - ya)
    pen.poly([(x_at(left, y0), y0), (x_at(right, y0), y0), (x_at(right, y1), y1),
              (x_at(left, y1), y1)], fill=fill, outline=None, width=0)


def _zigzag(pen: _Pen, x0, x1, y0, y1, n, fill, width=2):
    pts = [(x0 if i % 2 == 0 else x1, y0 + (y1 - y0) * i / n) for i in range(n + 1)]
    pen.line(pts, fill=fill, width=width)


def _bow(pen: _Pen, cx, cy, size, fill):
    s = size
    pen.poly([(cx, cy), (cx - s, cy - s * 0.6), (cx - s, cy + s * 0.6)], fill=fill)
    pen.poly([(cx, cy), (cx + s, cy - s * 0.6), (cx + s, cy + s * 0.6)], fill=fill)
    # The knot joins the two wings (no outline between them), so the bow is one shape.
    pen.ellipse((cx - s * 0.3, cy - s * 0.3, cx + s * 0.3, cy + s * 0.3), fill=fill, outline=None)


def draw_demo_character(seed: int = 0) -> Image.Image:
    """Draw the demo character (RGB, 768 x 1280).  ``seed`` shifts the stray islands' colour
    very slightly so two seeds give different files; the drawing itself is fixed."""
    scale = 2
    canvas = Image.new("RGB", (WIDTH * scale, HEIGHT * scale), BACKGROUND)
    pen = _Pen(ImageDraw.Draw(canvas), scale)

    # Long hair behind the body.
    pen.poly([(262, 150), (506, 150), (560, 420), (580, 650), (520, 690), (248, 690),
              (188, 650), (208, 420)], fill=HAIR)
    # A few strands of line art inside the hair (must not count as artifacts).
    pen.line([(232, 380), (226, 430), (224, 450)], fill=HAIR_SHADE, width=2)
    pen.line([(548, 430), (556, 480), (560, 520)], fill=HAIR_SHADE, width=2)
    pen.line([(214, 610), (220, 650)], fill=OUTLINE, width=2)

    # Legs hidden by the skirt; boots with green laces.
    for bx in (318, 400):
        pen.poly([(bx, 1110), (bx + 52, 1110), (bx + 54, 1200), (bx + 66, 1212), (bx + 66, 1232),
                  (bx - 4, 1232), (bx - 2, 1200)], fill=BOOT)
        _zigzag(pen, bx + 14, bx + 38, 1130, 1196, 6, GREEN, width=2)

    # Long skirt with two stripes near the hem.
    left, right = ((326, 600), (206, 1130)), ((442, 600), (562, 1130))
    pen.poly([left[0], right[0], right[1], left[1]], fill=WHITE)
    _band(pen, left, right, 1066, 1078, GREEN)
    _band(pen, left, right, 1090, 1102, GREEN)
    pen.line([(206, 1130), (562, 1130)], width=3)
    for x in (300, 384, 468):  # folds
        pen.line([(x + (x - 384) * 0.1, 700), (x + (x - 384) * 0.35, 1060)], width=2)

    # Sleeves, wrist cuffs with three stripes, hands.
    for side in (-1, 1):
        sx = 384 + side * 118
        pen.poly([(sx - 24, 380), (sx + 24, 380), (sx + 30 * side + 20, 640),
                  (sx + 30 * side - 22, 640)], fill=WHITE)
        cx = sx + 30 * side
        pen.rect((cx - 26, 636, cx + 24, 684), fill=BLUE)
        for k in range(3):
            y = 646 + k * 13
            pen.line([(cx - 24, y), (cx + 22, y)], fill=WHITE, width=3)
        pen.ellipse((cx - 18, 680, cx + 16, 728), fill=SKIN)

    # Corset with laces.
    pen.poly([(318, 450), (450, 450), (444, 620), (324, 620)], fill=BLACK)
    _zigzag(pen, 372, 396, 462, 608, 8, GREEN, width=2)
    _bow(pen, 384, 606, 24, GREEN)

    # Neck and capelet with two stripes.
    pen.rect((366, 318, 402, 362), fill=SKIN)
    left, right = ((300, 352), (250, 470)), ((468, 352), (518, 470))
    pen.poly([left[0], right[0], right[1], left[1]], fill=WHITE)
    _band(pen, left, right, 436, 446, GREEN)
    _band(pen, left, right, 454, 464, GREEN)
    pen.poly([left[0], right[0], right[1], left[1]], fill=None)

    # Face, eyes, mouth.
    pen.ellipse((306, 176, 462, 336), fill=SKIN)
    for ex in (348, 420):
        pen.ellipse((ex - 19, 246, ex + 19, 282), fill=WHITE, width=2)
        pen.ellipse((ex - 11, 248, ex + 11, 280), fill=IRIS, outline=None)
        pen.ellipse((ex - 5, 256, ex + 5, 272), fill=PUPIL, outline=None)
        pen.ellipse((ex - 7, 252, ex - 2, 257), fill=WHITE, outline=None)
        pen.line([(ex - 22, 250), (ex, 242), (ex + 22, 250)], width=4)  # upper lash
    pen.line([(376, 310), (384, 313), (392, 310)], width=2)

    # Bangs over the forehead.
    bangs = [(300, 160), (468, 160), (470, 250), (452, 214), (436, 236), (420, 206), (404, 232),
             (384, 204), (364, 232), (348, 208), (330, 236), (314, 216), (298, 252)]
    pen.poly(bangs, fill=HAIR)

    # Hat: crown, brim and a green bow.
    pen.poly([(316, 60), (452, 60), (470, 160), (298, 160)], fill=WHITE)
    pen.ellipse((236, 140, 532, 196), fill=WHITE)
    pen.poly([(300, 148), (468, 148), (468, 166), (300, 166)], fill=WHITE, outline=None)
    _bow(pen, 452, 118, 30, GREEN)

    img = canvas.resize((WIDTH, HEIGHT), Image.Resampling.BOX)
    px = img.load()
    jitter = seed % 7
    for x, y, pts in _ISLAND_SHAPES:
        for dx, dy in pts:
            px[x + dx, y + dy] = (STRAY[0] + jitter, STRAY[1], STRAY[2] - jitter)
    return img


def write_demo_asset(path: Path | None = None) -> Path:
    """Render seed 0 and save it where :func:`demo_image_path` looks (used to refresh the asset)."""
    import io

    from engine.project import atomic_write_bytes

    path = Path(path) if path else demo_image_path()
    buf = io.BytesIO()
    draw_demo_character(0).save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


if __name__ == "__main__":
    print(write_demo_asset())
