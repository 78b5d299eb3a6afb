"""Stray-colour pixel islands: find them with high precision, and paint them out.

The seed's example is blue specks in brown hair that taught a LoRA "multicolored hair".  An
island is a small group of pixels whose colour is far from a plain surrounding; line art, eyes,
bows and stripes are kept out by the checks in :func:`find_artifacts`.  Pure numpy: a vectorised
multi-scale seed search (integral images over candidate pixels), connected components by a
run-length union-find, and a per-island check on a small window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

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


def _seed_mask(rgb: np.ndarray, min_contrast: float, scales: list[int]) -> np.ndarray:
    """Pixels far (≥ ``min_contrast``) from the mean colour of a plain annulus around them.

    At scale ``a`` the island must fit in the (2a+1)² box around the pixel and the annulus
    reaches ``max(4, a/2)`` px further; "plain" means the annulus's colour spread is under
    0.3 × ``min_contrast``.  Only pixels that differ from all four pixels just outside the
    inner box are tested (on a plain annulus all four are near its mean), so the cost is a few
    whole-image passes plus work proportional to the candidates.
    """
    h, w, _ = rgb.shape
    margins = [max(4, (a + 1) // 2) for a in scales]
    pad = max(a + m for a, m in zip(scales, margins))
    hp, wp = h + 2 * pad, w + 2 * pad
    planes2d = [np.pad(rgb[..., c], pad, mode="edge").astype(np.int16) for c in range(3)]
    planes = [p.ravel() for p in planes2d]
    limit = 0.7 * min_contrast

    def differs(idx: np.ndarray, offset: int) -> np.ndarray:
        total = np.abs(planes[0][idx] - planes[0][idx + offset])
        total += np.abs(planes[1][idx] - planes[1][idx + offset])
        total += np.abs(planes[2][idx] - planes[2][idx + offset])
        return total >= limit

    cand = []
    for d in sorted({a + 1 for a in scales}):
        total = np.zeros((h, w), dtype=np.int16)
        for p in planes2d:        # first direction on the whole image, by slicing
            total += np.abs(p[pad:pad + h, pad:pad + w] - p[pad:pad + h, pad + d:pad + d + w])
        ys, xs = np.nonzero(total >= limit)
        idx = (ys.astype(np.int64) + pad) * wp + (xs + pad)
        for off in (-d, d * wp, -d * wp):
            idx = idx[differs(idx, off)]
        cand.append(idx)
    idx = np.unique(np.concatenate(cand))
    seeds = np.zeros(h * w, dtype=bool)
    if idx.size == 0:
        return seeds.reshape(h, w)
    dtype = np.int64 if hp * wp * 255 >= 2 ** 31 else np.int32
    integ = []
    sq = sum(p.astype(np.int32) ** 2 for p in planes)
    for plane in planes + [sq]:
        a2 = np.zeros((hp + 1, wp + 1), dtype=np.int64 if plane is sq else dtype)
        a2[1:, 1:] = plane.reshape(hp, wp)
        np.cumsum(a2, axis=0, out=a2)
        np.cumsum(a2, axis=1, out=a2)
        integ.append(a2.ravel())
    py, px = np.divmod(idx, wp)
    col = np.stack([planes[c][idx] for c in range(3)], -1).astype(np.float64)
    ring_var = (0.3 * min_contrast) ** 2
    hit = np.zeros(idx.size, dtype=bool)
    w1 = wp + 1
    for a, m in zip(scales, margins):
        b = a + m

        def ring(arr: np.ndarray) -> np.ndarray:
            out = np.zeros(idx.size, dtype=np.float64)
            for r, sign in ((b, 1.0), (a, -1.0)):
                y0, y1, x0, x1 = py - r, py + r + 1, px - r, px + r + 1
                out += sign * (arr[y1 * w1 + x1].astype(np.float64) - arr[y0 * w1 + x1]
                               - arr[y1 * w1 + x0] + arr[y0 * w1 + x0])
            return out

        n = (2 * b + 1) ** 2 - (2 * a + 1) ** 2
        mean = np.stack([ring(integ[c]) for c in range(3)], -1) / n
        var = ring(integ[3]) / n - (mean * mean).sum(-1)
        far = ((col - mean) ** 2).sum(-1) >= min_contrast ** 2
        hit |= far & (var <= ring_var)
    py, px = py[hit] - pad, px[hit] - pad
    seeds[py * w + px] = True
    return seeds.reshape(h, w)


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
    ``min_contrast/2``; the colour of the island's core (its pixels at least ``min_contrast``
    from the ring, so a JPEG- or upscale-softened edge does not dilute it) is at least
    ``min_contrast`` (RGB distance) from the ring's; the core is of one colour (its spread
    is under half that distance, so an outlined eye is not one); and it is not a stroke
    (longer than 5 px yet at most a few pixels thick).  Boxes are in the pixels of ``img``.
    """
    rgb = np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img, dtype=np.uint8)
    h, w, _ = rgb.shape
    side = max(2, int(math.ceil(math.sqrt(max_pixels))))
    top, scales = side // 2 + 2, [2]
    while scales[-1] < top:
        nxt = 2 * scales[-1] + 1
        scales.append(top if nxt >= top - 2 else nxt)
    seeds = _seed_mask(rgb, min_contrast, scales)
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
    isl_px = isl_px[_dist(isl_px, around) >= min_contrast]   # the core, without its soft edge
    if isl_px.size == 0:
        return None
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
