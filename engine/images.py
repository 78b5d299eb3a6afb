"""Source preparation: load the one drawing robustly, find and fix stray-colour pixel islands,
flatten a plain background, upscale, and keep ``source/prepared.png`` in step with project.toml.

The prepared image is always rebuilt from the project's copy of the original plus the steps
recorded in ``project.prep`` (DESIGN.md §Boundaries 4): the original is only ever read, the
prepared PNG carries the recipe it was made from (a PNG text chunk) so a stale one is noticed and
rebuilt, and the same recipe gives the same bytes.

Pure Pillow + numpy; no torch at import time (the optional model upscaler imports it lazily).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from engine.errors import UserError

PREPARED_NAME = "prepared.png"
RECIPE_KEY = "onelora-recipe"
RECIPE_VERSION = 1
WHITE = (255, 255, 255)

# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


@dataclass
class LoadedImage:
    """An image file read as 8-bit RGB, with what was lost or changed on the way."""

    image: Image.Image
    """RGB image, EXIF orientation applied, transparency composited onto white."""
    alpha: Image.Image | None = None
    """The original transparency as an ``L`` mask (255 = opaque), or None if it had none."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know (animated → first frame, 16-bit reduced, ...)."""
    path: Path | None = None
    mode: str = ""
    """The file's own Pillow mode before conversion."""


def _to_rgb(img: Image.Image, name: str, warnings: list[str]) -> tuple[Image.Image, Image.Image | None]:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) if arr.size else 0.0
        if mode == "F" and top <= 1.0:
            arr = arr * 255.0
        elif top > 255:
            arr = arr / 257.0
            warnings.append(f"{name}: 16-bit image reduced to 8 bits per channel")
        grey = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB"), None
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    elif mode == "L" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "RGB" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        alpha = img.getchannel("A")
        if alpha.getextrema()[0] == 255:
            return img.convert("RGB"), None
        base = Image.new("RGB", img.size, WHITE)
        base.paste(img.convert("RGB"), mask=alpha)
        return base, alpha
    if img.mode == "CMYK":
        warnings.append(f"{name}: CMYK image converted to RGB (colours may shift slightly)")
    return img.convert("RGB"), None


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Read any image Pillow understands as 8-bit RGB; every failure is a UserError naming
    the file.  Refuses images over ``Image.MAX_IMAGE_PIXELS`` (decompression-bomb guard)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image {path} not found (or not a file)")
    warnings: list[str] = []
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                mode = img.mode
                if getattr(img, "n_frames", 1) > 1:
                    warnings.append(f"{path.name} is animated ({img.n_frames} frames); "
                                    "using the first frame")
                    img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb, alpha = _to_rgb(img, path.name, warnings)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path} is too large to open safely ({e}); shrink it below "
                        f"{Image.MAX_IMAGE_PIXELS:,} pixels first") from None
    except UnidentifiedImageError:
        raise UserError(f"{path} is not an image Pillow can read; "
                        "export it as PNG or JPEG and try again") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UserError(f"{path} could not be read ({e}); the file may be truncated or "
                        "corrupt: export it again") from None
    return LoadedImage(image=rgb, alpha=alpha, warnings=warnings, path=path, mode=mode)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height after EXIF orientation, read from the header only."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            orient = img.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise UserError(f"{path} could not be read ({e})") from None
    return (h, w) if orient in (5, 6, 7, 8) else (w, h)


# ---------------------------------------------------------------------------------------
# Connected components (run-length union-find, vectorised)
# ---------------------------------------------------------------------------------------


def label(mask: np.ndarray, eight: bool = True) -> tuple[np.ndarray, int]:
    """Label the connected regions of a boolean mask: (labels int32 array, count); 0 = none.

    Runs of set pixels in each row are joined with the overlapping runs of the next row by a
    vectorised union-find, so the cost follows the number of runs, not of pixels."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    out = np.zeros(h * w, dtype=np.int32)
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    sy, sx = np.nonzero(d == 1)
    _, ex = np.nonzero(d == -1)
    n = len(sy)
    if n == 0:
        return out.reshape(h, w), 0
    k = w + 4
    skey = sy.astype(np.int64) * k + sx
    ekey = sy.astype(np.int64) * k + ex
    c = 1 if eight else 0
    lo = np.searchsorted(ekey, (sy + 1).astype(np.int64) * k + sx - c, side="right")
    hi = np.searchsorted(skey, (sy + 1).astype(np.int64) * k + ex + c, side="left")
    cnt = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(n), cnt)
    b = np.repeat(lo, cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    parent = np.arange(n)
    while a.size:
        pa, pb = parent[a], parent[b]
        diff = pa != pb
        if not diff.any():
            break
        a, b, pa, pb = a[diff], b[diff], pa[diff], pb[diff]
        np.minimum.at(parent, np.maximum(pa, pb), np.minimum(pa, pb))
        while True:
            pp = parent[parent]
            if np.array_equal(pp, parent):
                break
            parent = pp
    _, run_label = np.unique(parent, return_inverse=True)
    out[np.flatnonzero(mask)] = np.repeat(run_label.astype(np.int32) + 1, ex - sx)
    return out.reshape(h, w), int(run_label.max()) + 1


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Square dilation by ``r`` pixels (a small window; integral-image box test)."""
    if r <= 0:
        return mask.copy()
    h, w = mask.shape
    s = np.zeros((h + 2 * r + 1, w + 2 * r + 1), dtype=np.int32)
    s[1:, 1:] = np.pad(mask, r).astype(np.int32).cumsum(0).cumsum(1)
    n = 2 * r + 1
    box = s[n:, n:] - s[:-n, n:] - s[n:, :-n] + s[:-n, :-n]
    return box > 0


# ---------------------------------------------------------------------------------------
# Stray-colour islands
# ---------------------------------------------------------------------------------------


@dataclass
class Artifact:
    """One island of stray-colour pixels."""

    box: tuple[int, int, int, int]
    """x, y, width, height of the island."""
    pixels: int
    """How many pixels the island has."""
    color: tuple[int, int, int]
    """The island's (median) colour."""
    around: tuple[int, int, int]
    """The colour of the plain ring around it, which a fix paints in."""
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Which pixels of ``box`` belong to the island (None: recomputed from the colours)."""

    def to_json(self) -> dict:
        return {"box": list(self.box), "pixels": self.pixels, "color": list(self.color),
                "around": list(self.around)}


def _dist(a: np.ndarray, c) -> np.ndarray:
    return np.sqrt(((a.astype(np.float32) - np.asarray(c, np.float32)) ** 2).sum(-1))


def _seed_mask(rgb: np.ndarray, min_contrast: float, plan: list[tuple[int, int]]) -> np.ndarray:
    """Pixels far from the mean colour of a plain annulus around them, at any scale.

    ``plan`` lists (a, t): the island must fit in the (2a+1)² box around the pixel, the annulus
    reaches ``max(4, a/2)`` px further, and the test is done on every t-th row and column (an
    island wider than t always has a tested pixel on it).  Box sums come from one integral image.
    """
    h, w, _ = rgb.shape
    margins = [max(4, (a + 1) // 2) for a, _ in plan]
    pad = max(a + m for (a, _), m in zip(plan, margins))
    integ = np.zeros((h + 2 * pad + 1, w + 2 * pad + 1, 4), dtype=np.int64)
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    integ[1:, 1:, :3] = padded
    integ[1:, 1:, 3] = (padded.astype(np.int32) ** 2).sum(-1)
    del padded
    np.cumsum(integ, axis=0, out=integ)
    np.cumsum(integ, axis=1, out=integ)

    rgbf = rgb.astype(np.float32)
    seeds = np.zeros((h, w), dtype=bool)
    ring_var = (0.3 * min_contrast) ** 2
    for (a, t), m in zip(plan, margins):
        def box(r: int) -> np.ndarray:
            y0, y1, x0, x1 = pad - r, pad + r + 1, pad - r, pad + r + 1
            return (integ[y1:y1 + h:t, x1:x1 + w:t] - integ[y0:y0 + h:t, x1:x1 + w:t]
                    - integ[y1:y1 + h:t, x0:x0 + w:t] + integ[y0:y0 + h:t, x0:x0 + w:t])
        b = a + m
        ann = (box(b) - box(a)).astype(np.float32)
        ann /= (2 * b + 1) ** 2 - (2 * a + 1) ** 2
        mean = ann[..., :3]
        var = ann[..., 3] - (mean * mean).sum(-1)
        far = ((rgbf[::t, ::t] - mean) ** 2).sum(-1) >= min_contrast ** 2
        seeds[::t, ::t] |= far & (var <= ring_var)
    return seeds


def _thickness(mask: np.ndarray) -> int:
    """2k+1 where k is how many 3x3 erosions the island survives."""
    k, m = 0, mask
    while True:
        p = np.pad(m, 1)
        er = m.copy()
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                er &= p[dy:dy + m.shape[0], dx:dx + m.shape[1]]
        if not er.any():
            return 2 * k + 1
        k, m = k + 1, er


def find_artifacts(img: Image.Image | np.ndarray, *, max_pixels: int = 400,
                   min_contrast: float = 60.0) -> list[Artifact]:
    """Find small islands of pixels whose colour is far from the plain colour around them.

    An island is reported only if all of these hold, which keeps line art, eyes, bows and
    stripes out: it has at most ``max_pixels`` pixels; the ring around it (as wide as half the
    island, at least 4 px) is plain — under 2 % of the ring differs from its median by more than
    ``min_contrast/2``; the island's colour is at least ``min_contrast`` (RGB distance) from
    the ring's; the island is itself of one colour (its spread is under half that distance, so
    an outlined eye is not one); and it is not a stroke (longer than 5 px yet at most a few
    pixels thick).  Boxes are in the pixels of ``img``.
    """
    rgb = np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img, dtype=np.uint8)
    h, w, _ = rgb.shape
    side = max(2, int(math.ceil(math.sqrt(max_pixels))))
    plan, a = [(2, 1)], 2
    while a < side // 2 + 2:
        a = min(side // 2 + 2, a * 2 + 1)
        plan.append((a, max(1, a // 3)))
    seeds = _seed_mask(rgb, min_contrast, plan)
    labels, n = label(seeds)
    if n == 0:
        return []
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    order = np.argsort(lab, kind="stable")
    ys, xs, lab = ys[order], xs[order], lab[order]
    starts = np.searchsorted(lab, np.arange(1, n + 1))
    ends = np.append(starts[1:], len(lab))
    pad = 2 * side + 6
    claimed = np.zeros((h, w), dtype=bool)
    found: list[Artifact] = []
    for s, e in zip(starts, ends):
        sy, sx = ys[s:e], xs[s:e]
        if claimed[sy[0], sx[0]]:
            continue
        if sy.max() - sy.min() > 2 * side or sx.max() - sx.min() > 2 * side:
            continue
        y0, y1 = max(0, sy.min() - pad), min(h, sy.max() + pad + 1)
        x0, x1 = max(0, sx.min() - pad), min(w, sx.max() + pad + 1)
        win = rgb[y0:y1, x0:x1]
        art = _check_island(win, sy - y0, sx - x0, max_pixels, min_contrast, side)
        if art is None:
            continue
        bx, by, bw, bh = art.box
        art.box = (int(bx + x0), int(by + y0), bw, bh)
        claimed[by + y0:by + y0 + bh, bx + x0:bx + x0 + bw] |= art.mask
        found.append(art)
    found.sort(key=lambda a: (a.box[1], a.box[0]))
    return found


def _check_island(win: np.ndarray, sy: np.ndarray, sx: np.ndarray, max_pixels: int,
                  min_contrast: float, side: int) -> Artifact | None:
    wh, ww, _ = win.shape
    inner = np.zeros((wh, ww), dtype=bool)
    inner[max(0, sy.min() - 2):sy.max() + 3, max(0, sx.min() - 2):sx.max() + 3] = True
    around0 = np.median(win[~inner], axis=0)
    far = _dist(win, around0) >= min_contrast / 2
    labels, _ = label(far)
    ids = np.unique(labels[sy, sx])
    ids = ids[ids > 0]
    if ids.size == 0:
        return None
    island = np.isin(labels, ids)
    iy, ix = np.nonzero(island)
    if iy.min() == 0 or ix.min() == 0 or iy.max() == wh - 1 or ix.max() == ww - 1:
        return None  # part of something larger than the window
    bh, bw = int(iy.max() - iy.min() + 1), int(ix.max() - ix.min() + 1)
    npx = int(island.sum())
    if npx > max_pixels or max(bh, bw) > 2 * side:
        return None
    margin = max(4, (max(bh, bw) + 1) // 2)
    ring = _dilate(island, margin + 1) & ~_dilate(island, 1)
    ring_px = win[ring]
    around = np.median(ring_px, axis=0)
    if np.mean(_dist(ring_px, around) > min_contrast / 2) > 0.02:
        return None  # not a plain surrounding: line art, an outline, a junction
    isl_px = win[island]
    color = np.median(isl_px, axis=0)
    contrast = float(_dist(color[None], around)[0])
    if contrast < min_contrast:
        return None
    spread = float(np.sqrt(((isl_px - isl_px.mean(0)) ** 2).sum(-1).mean()))
    if spread > 0.5 * contrast:
        return None  # several colours inside: a drawn detail (eye, bow), not a speck
    sub = island[iy.min():iy.max() + 1, ix.min():ix.max() + 1]
    if max(bh, bw) > 5 and max(bh, bw) / _thickness(sub) > 3.5:
        return None  # a thin stroke: line art
    return Artifact(box=(int(ix.min()), int(iy.min()), bw, bh), pixels=npx,
                    color=tuple(int(round(v)) for v in color),
                    around=tuple(int(round(v)) for v in around), mask=sub)


def fix_artifacts(img: Image.Image, artifacts: list[Artifact]) -> Image.Image:
    """Paint each island (and a 1 px fringe) from its surroundings, peeling inwards: every
    pass fills the pixels next to known ones with the mean of their known neighbours."""
    rgb = np.array(img.convert("RGB"), dtype=np.float32)
    h, w, _ = rgb.shape
    for art in artifacts:
        x, y, bw, bh = art.box
        x0, y0 = max(0, x - 3), max(0, y - 3)
        x1, y1 = min(w, x + bw + 3), min(h, y + bh + 3)
        win = rgb[y0:y1, x0:x1]
        if art.mask is not None and art.mask.shape == (bh, bw):
            hole = np.zeros(win.shape[:2], dtype=bool)
            hole[y - y0:y - y0 + bh, x - x0:x - x0 + bw] = art.mask
        else:
            hole = np.zeros(win.shape[:2], dtype=bool)
            hole[y - y0:y - y0 + bh, x - x0:x - x0 + bw] = \
                _dist(win[y - y0:y - y0 + bh, x - x0:x - x0 + bw], art.around) >= 20
        hole = _dilate(hole, 1)
        known = ~hole
        if not known.any():
            win[:] = art.around
            continue
        while hole.any():
            kp = np.pad(known, 1)
            vp = np.pad(win * known[..., None], ((1, 1), (1, 1), (0, 0)))
            total = np.zeros_like(win)
            count = np.zeros(win.shape[:2], dtype=np.float32)
            for dy in (0, 1, 2):
                for dx in (0, 1, 2):
                    total += vp[dy:dy + win.shape[0], dx:dx + win.shape[1]]
                    count += kp[dy:dy + win.shape[0], dx:dx + win.shape[1]]
            edge = hole & (count > 0)
            win[edge] = total[edge] / count[edge][:, None]
            known |= edge
            hole &= ~edge
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------
# Background
# ---------------------------------------------------------------------------------------


def background_color(img: Image.Image, tolerance: int = 24) -> tuple[int, int, int] | None:
    """The border's colour if the border is near-uniform (≥ 95 % within ``tolerance``)."""
    rgb = np.asarray(img.convert("RGB"))
    frame = np.concatenate([rgb[:2].reshape(-1, 3), rgb[-2:].reshape(-1, 3),
                            rgb[:, :2].reshape(-1, 3), rgb[:, -2:].reshape(-1, 3)])
    bg = np.median(frame, axis=0)
    close = np.abs(frame.astype(np.int16) - bg.astype(np.int16)).max(-1) <= tolerance
    return tuple(int(v) for v in bg) if close.mean() >= 0.95 else None


def background_mask(img: Image.Image, tolerance: int = 24) -> np.ndarray | None:
    """Pixels reached by a flood from the border through colours within ``tolerance`` of the
    border's colour (None when the border is not near-uniform)."""
    bg = background_color(img, tolerance)
    if bg is None:
        return None
    rgb = np.asarray(img.convert("RGB")).astype(np.int16)
    near = np.abs(rgb - np.asarray(bg, np.int16)).max(-1) <= tolerance
    labels, _ = label(near, eight=False)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    edge = np.unique(edge[edge > 0])
    return np.isin(labels, edge)


def flatten_background(img: Image.Image, tolerance: int = 24,
                       warnings: list[str] | None = None) -> Image.Image:
    """Flood a near-uniform border background to plain white; the figure is left untouched.
    If the border is not plain, the image is returned unchanged with a warning."""
    mask = background_mask(img, tolerance)
    if mask is None:
        if warnings is not None:
            warnings.append("background not flattened: the image border is not one plain colour "
                            f"(within prep.background_tolerance = {tolerance})")
        return img.convert("RGB")
    rgb = np.array(img.convert("RGB"))
    rgb[mask] = WHITE
    return Image.fromarray(rgb, "RGB")


# ---------------------------------------------------------------------------------------
# Upscale
# ---------------------------------------------------------------------------------------


def upscaled_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The size after upscaling so the long side is at least ``long_side`` (0 = unchanged)."""
    w, h = size
    if not long_side or max(w, h) >= long_side:
        return w, h
    s = long_side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def upscale(img: Image.Image, long_side: int, model_path: str | os.PathLike | None = None) -> Image.Image:
    """Upscale so the long side is ≥ ``long_side`` with Lanczos, or with a local ESRGAN-family
    model through spandrel when ``model_path`` is given (never downloads anything)."""
    target = upscaled_size(img.size, long_side)
    if target == img.size:
        return img
    if model_path:
        img = _model_upscale(img, Path(model_path))
        if img.size == target:
            return img
    return img.resize(target, Image.Resampling.LANCZOS)


def _model_upscale(img: Image.Image, path: Path) -> Image.Image:
    if not path.is_file():
        raise UserError(f"prep.upscaler_model = {str(path)!r} not found: give a local ESRGAN-family "
                        "weights file (.pth/.safetensors) or set it to \"\" to use Lanczos")
    try:
        import spandrel  # optional extra: pip install 'onelora[upscale]'
    except ImportError:
        raise UserError(f"prep.upscaler_model = {str(path)!r} needs the spandrel package: "
                        "pip install 'onelora[upscale]', or set it to \"\" to use Lanczos") from None
    import torch

    try:
        model = spandrel.ModelLoader().load_from_file(str(path)).eval()
    except Exception as e:  # spandrel raises many kinds for unsupported files
        raise UserError(f"prep.upscaler_model {path} could not be loaded by spandrel ({e})") from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)[None]
    tile, lap = 512, 32
    _, _, h, w = x.shape
    out = None
    with torch.no_grad():
        for ty in range(0, h, tile):
            for tx in range(0, w, tile):
                ya, xa = max(0, ty - lap), max(0, tx - lap)
                yb, xb = min(h, ty + tile + lap), min(w, tx + tile + lap)
                y = model(x[:, :, ya:yb, xa:xb].to(device)).float().clamp(0, 1).cpu()
                s = y.shape[-1] // (xb - xa)
                if out is None:
                    out = torch.zeros(1, 3, h * s, w * s)
                ty1, tx1 = min(h, ty + tile), min(w, tx + tile)
                out[:, :, ty * s:ty1 * s, tx * s:tx1 * s] = \
                    y[:, :, (ty - ya) * s:(ty1 - ya) * s, (tx - xa) * s:(tx1 - xa) * s]
    arr = (out[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(arr, "RGB")


# ---------------------------------------------------------------------------------------
# The prepared image
# ---------------------------------------------------------------------------------------


@dataclass
class PrepResult:
    """What ``prepare`` did; boxes in prepared-image pixels."""

    prepared: Path
    size: tuple[int, int]
    artifacts: list[Artifact]
    fixed: int
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"prepared": str(self.prepared), "size": list(self.size),
                "artifacts": [a.to_json() for a in self.artifacts], "fixed": self.fixed}


def source_path(project) -> Path:
    """The project's copy of the original drawing."""
    if not project.source.image:
        raise UserError(f"{project.path}: source.image is empty; create the project with "
                        "'onelora new IMAGE DIR --trigger NAME'")
    return project.root / project.source.image


def prepared_path(project) -> Path:
    return project.root / "source" / PREPARED_NAME


def _model_file(project) -> Path | None:
    m = project.prep.upscaler_model
    if not m:
        return None
    p = Path(m).expanduser()
    return p if p.is_absolute() else project.root / p


def prepared_size(project) -> tuple[int, int]:
    """Size of the prepared image, computed from the original's header and the prep settings."""
    return upscaled_size(image_size(source_path(project)), project.prep.upscale_to)


def recipe(project) -> str:
    """The recipe string stored in prepared.png: the original's hash plus every prep setting."""
    src = source_path(project)
    if not src.is_file():
        raise UserError(f"source image {src} is missing; restore it or create a new project")
    p = project.prep
    data = {"version": RECIPE_VERSION,
            "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
            "upscale_to": p.upscale_to, "upscaler_model": p.upscaler_model,
            "fix_artifacts": p.fix_artifacts, "artifact_max_pixels": p.artifact_max_pixels,
            "artifact_min_contrast": p.artifact_min_contrast,
            "flatten_background": p.flatten_background,
            "background_tolerance": p.background_tolerance}
    return json.dumps(data, sort_keys=True)


def _stored_recipe(path: Path) -> str | None:
    try:
        with Image.open(path) as img:
            return img.text.get(RECIPE_KEY) if hasattr(img, "text") else None
    except (OSError, UnidentifiedImageError):
        return None


def build_prepared(project, progress: Callable[[str], None] | None = None
                   ) -> tuple[Image.Image, list[Artifact], int, list[str]]:
    """Original + recorded steps → (prepared image, islands in prepared pixels, fixed, warnings).

    Order: find (and optionally fix) islands at the original's own resolution, where a speck is
    still crisp; flatten the background; upscale.  After a model upscale the finder runs again."""
    say = progress or (lambda _msg: None)
    p = project.prep
    loaded = load_image(source_path(project))
    img, warnings = loaded.image, list(loaded.warnings)
    say("finding stray-colour islands")
    arts = find_artifacts(img, max_pixels=p.artifact_max_pixels, min_contrast=p.artifact_min_contrast)
    fixed = 0
    if p.fix_artifacts and arts:
        say(f"fixing {len(arts)} islands")
        img = fix_artifacts(img, arts)
        fixed = len(arts)
    if p.flatten_background:
        say("flattening the background")
        img = flatten_background(img, p.background_tolerance, warnings)
    w0, h0 = img.size
    model = _model_file(project)
    say("upscaling" + (f" with {model.name}" if model else " (Lanczos)"))
    img = upscale(img, p.upscale_to, model)
    sx, sy = img.size[0] / w0, img.size[1] / h0
    scaled = []
    for a in arts:
        x, y, bw, bh = a.box
        nx, ny = int(math.floor(x * sx)), int(math.floor(y * sy))
        scaled.append(Artifact(box=(nx, ny, int(math.ceil((x + bw) * sx)) - nx,
                                    int(math.ceil((y + bh) * sy)) - ny),
                               pixels=int(round(a.pixels * sx * sy)), color=a.color, around=a.around))
    if model and p.fix_artifacts:
        more = find_artifacts(img, max_pixels=int(p.artifact_max_pixels * sx * sy),
                              min_contrast=p.artifact_min_contrast)
        img = fix_artifacts(img, more)
        scaled += more
        fixed += len(more)
    return img, scaled, fixed, warnings


_cache: dict[Path, tuple[tuple, Image.Image]] = {}


def _encode(img: Image.Image, recipe_text: str) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(RECIPE_KEY, recipe_text)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, compress_level=6)
    return buf.getvalue()


def load_prepared(project) -> Image.Image:
    """``source/prepared.png`` as RGB, rebuilt first if it is missing or was made from a
    different original or different prep settings."""
    from engine.project import atomic_write_bytes

    path = prepared_path(project)
    want = recipe(project)
    if path.is_file() and _stored_recipe(path) == want:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size, want)
        hit = _cache.get(path)
        if hit and hit[0] == key:
            return hit[1].copy()
        with Image.open(path) as im:
            img = im.convert("RGB")
    else:
        img, _, _, _ = build_prepared(project)
        atomic_write_bytes(path, _encode(img, want))
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size, want)
    _cache[path] = (key, img)
    return img.copy()


def prepare(project, *, upscale_to: int | None = None, fix_artifacts: bool | None = None,
            flatten_background: bool | None = None, upscaler_model: str | None = None,
            progress: Callable[[str], None] | None = None) -> PrepResult:
    """Record the given prep choices in project.toml, rebuild ``source/prepared.png`` from the
    original, and report the islands found.  Crop rectangles follow a change of size."""
    from engine import project as pj

    old_size = prepared_size(project)
    changes = {"upscale_to": upscale_to, "fix_artifacts": fix_artifacts,
               "flatten_background": flatten_background, "upscaler_model": upscaler_model}
    for name, value in changes.items():
        if value is not None:
            setattr(project.prep, name, pj.check_value(pj.PrepSettings, name, value, "prep."))
    new_size = prepared_size(project)
    if new_size != old_size:
        from engine.crops import rescale_crops

        rescale_crops(project, old_size, new_size)
    pj.save(project)
    img, arts, fixed, warnings = build_prepared(project, progress)
    path = prepared_path(project)
    want = recipe(project)
    data = _encode(img, want)
    if not path.is_file() or path.read_bytes() != data:
        pj.atomic_write_bytes(path, data)
    st = path.stat()
    _cache[path] = ((st.st_mtime_ns, st.st_size, want), img)
    return PrepResult(prepared=path, size=img.size, artifacts=arts, fixed=fixed, warnings=warnings)
