"""Crops: the close-ups cut from the prepared image that make up the whole dataset.

The seed's presets — full body, cowboy shot (3/4), upper body, lower body, face, bangs close-up,
head out of frame — are computed from two boxes: the figure box (guessed from the non-background
area) and the face box (guessed, then set by the user).  Setting the face box once moves every
preset that depends on it.  Custom crops ("wrist_cuffs") are plain named rectangles.

Every box is ``[x, y, w, h]`` in pixels of the prepared image (``source/prepared.png``), clamped
to it.  The box helpers (:func:`clamp_box`, :func:`move_box`, :func:`resize_box`) are pure and
cheap so the TUI can call them on every key press.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import UserError
from engine.project import Crop

Box = list[int]

PRESETS = ("full_body", "cowboy_shot", "upper_body", "lower_body", "face", "bangs",
           "head_out_of_frame")
"""The seed's crop presets, in the order they are created."""
FACE_PRESETS = frozenset({"upper_body", "lower_body", "face", "bangs", "head_out_of_frame"})
"""Presets that move when the face box changes."""
PRESET_HELP = {
    "full_body": "the whole figure with a small margin",
    "cowboy_shot": "head to mid-thigh, about 3/4 of the figure",
    "upper_body": "head to waist",
    "lower_body": "waist to feet",
    "face": "the face with some hair around it",
    "bangs": "close-up of the bangs, from the top of the head to the eyes",
    "head_out_of_frame": "chin to feet: the figure with the head cut off",
}
MIN_SIDE = 8
"""Smallest crop side in pixels."""
WARN_SIDE = 512
"""A crop whose short side is below this gets a warning suggesting an upscale (callers that
know the project pass its training resolution instead)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ---------------------------------------------------------------------------------------
# Pure box helpers
# ---------------------------------------------------------------------------------------


def clamp_box(box, bounds: tuple[int, int], min_side: int = MIN_SIDE) -> Box:
    """Round ``[x, y, w, h]`` to whole pixels and keep it inside ``bounds`` (width, height),
    at least ``min_side`` px on each side (or the image's side, if smaller)."""
    bw, bh = int(bounds[0]), int(bounds[1])
    x, y, w, h = (int(round(float(v))) for v in box)
    w = min(max(w, min(min_side, bw)), bw)
    h = min(max(h, min(min_side, bh)), bh)
    x = min(max(x, 0), bw - w)
    y = min(max(y, 0), bh - h)
    return [x, y, w, h]


def move_box(box, dx: int, dy: int, bounds: tuple[int, int]) -> Box:
    """The box moved by (dx, dy), its size kept, stopped at the image edges."""
    x, y, w, h = box
    return clamp_box([x + dx, y + dy, w, h], bounds)


def resize_box(box, dx: int, dy: int, bounds: tuple[int, int], aspect_lock: bool = False) -> Box:
    """The box grown (or shrunk, for negative deltas) by dx in width and dy in height, its
    top-left corner kept.  With ``aspect_lock`` the larger change drives both sides so the
    width:height ratio stays the same (within a pixel)."""
    x, y, w, h = (int(v) for v in box)
    bw, bh = int(bounds[0]), int(bounds[1])
    if aspect_lock and w > 0 and h > 0:
        ratio = w / h
        if abs(dx) >= abs(dy) * ratio:
            nw = max(MIN_SIDE, w + dx)
            nh = nw / ratio
        else:
            nh = max(MIN_SIDE, h + dy)
            nw = nh * ratio
        fit = min(1.0, (bw - x) / nw, (bh - y) / nh)   # keep the corner, shrink to fit
        if fit < 1.0:
            nw, nh = nw * fit, nh * fit
        if min(nw, nh) < MIN_SIDE:
            return [x, y, w, h]
        return clamp_box([x, y, round(nw), round(nh)], bounds)
    nw = min(max(MIN_SIDE, w + dx), bw - x)
    nh = min(max(MIN_SIDE, h + dy), bh - y)
    return clamp_box([x, y, nw, nh], bounds)


def _expand(box, left: float, top: float, right: float, bottom: float) -> list[float]:
    x, y, w, h = box
    return [x - left, y - top, w + left + right, h + top + bottom]


def preset_box(name: str, figure: Box, face: Box, bounds: tuple[int, int]) -> Box:
    """One preset rectangle from the figure box and the face box (all ``[x, y, w, h]``)."""
    fx, fy, fw, fh = figure
    hx, hy, hw, hh = face
    top, bottom = fy, fy + fh
    chin = hy + hh
    body = max(1.0, bottom - chin)           # chin to feet
    pad = 0.04 * fh
    cx = hx + hw / 2
    if name == "full_body":
        b = _expand(figure, pad, pad, pad, pad)
    elif name == "cowboy_shot":
        b = [fx - pad, top - pad, fw + 2 * pad, 0.75 * fh + pad]
    elif name == "upper_body":
        y1 = chin + 0.34 * body
        hgt = y1 - (top - pad)
        wid = min(fw + 2 * pad, max(3.2 * hw, 0.8 * hgt))
        b = [cx - wid / 2, top - pad, wid, hgt]
    elif name == "lower_body":
        y0 = chin + 0.3 * body
        b = [fx - pad, y0, fw + 2 * pad, bottom + pad - y0]
    elif name == "face":
        side = 1.5 * max(hw, hh)
        b = [cx - side / 2, hy + hh / 2 - side / 2 - 0.08 * hh, side, side]
    elif name == "bangs":
        y0 = max(top - pad, hy - 0.7 * hh)
        y1 = hy + 0.55 * hh
        wid = 1.6 * hw
        b = [cx - wid / 2, y0, wid, y1 - y0]
    elif name == "head_out_of_frame":
        y0 = chin + 0.05 * hh
        b = [fx - pad, y0, fw + 2 * pad, bottom + pad - y0]
    else:
        raise UserError(f"unknown crop preset {name!r}; presets: {', '.join(PRESETS)}")
    return clamp_box(b, bounds)


# ---------------------------------------------------------------------------------------
# Guessing the figure and the face
# ---------------------------------------------------------------------------------------


def _small(img: Image.Image, long_side: int = 512) -> tuple[np.ndarray, float]:
    s = min(1.0, long_side / max(img.size))
    if s < 1.0:
        img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))),
                         Image.Resampling.BOX)
    return np.asarray(img.convert("RGB")).astype(np.int16), s


def guess_figure_box(img: Image.Image, tolerance: int = 24) -> Box:
    """The bounding box of everything that differs from the border colour (the whole image
    when there is no plain border)."""
    rgb, s = _small(img)
    h, w, _ = rgb.shape
    frame = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg = np.median(frame, axis=0)
    fg = np.abs(rgb - bg).max(-1) > tolerance
    rows = np.nonzero(fg.sum(1) >= max(2, w // 200))[0]
    cols = np.nonzero(fg.sum(0) >= max(2, h // 200))[0]
    if rows.size == 0 or cols.size == 0:
        return [0, 0, img.width, img.height]
    x0, x1 = cols[0] / s, (cols[-1] + 1) / s
    y0, y1 = rows[0] / s, (rows[-1] + 1) / s
    return clamp_box([x0, y0, x1 - x0, y1 - y0], img.size)


def guess_face_box(img: Image.Image, figure_box: Box) -> Box:
    """A guess at the face: the largest skin-coloured band in the top third of the figure,
    or a head-sized box at the top centre of the figure when no skin is found."""
    fx, fy, fw, fh = figure_box
    rgb, s = _small(img)
    x0, y0 = int(fx * s), int(fy * s)
    x1, y1 = int((fx + fw) * s), int((fy + fh * 0.35) * s)
    region = rgb[y0:max(y0 + 1, y1), x0:max(x0 + 1, x1)]
    r, g, b = region[..., 0], region[..., 1], region[..., 2]
    skin = (r > 150) & (r >= g) & (g >= b) & (r - b > 20) & (r - b < 110) & (r - g < 70)
    widths = skin.sum(1)
    fallback = [fx + fw * 0.5 - fh * 0.07, fy + fh * 0.06, fh * 0.14, fh * 0.14]
    if widths.max(initial=0) < 4:
        return clamp_box(fallback, img.size)
    wide = widths >= 0.4 * widths.max()
    best, start = (0, 0), None
    for i, v in enumerate(list(wide) + [False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    band = skin[best[0]:best[1]]
    cols = np.nonzero(band.sum(0) >= max(1, 0.2 * (best[1] - best[0])))[0]
    if cols.size == 0:
        return clamp_box(fallback, img.size)
    bx0, bx1 = cols[0], cols[-1] + 1
    return clamp_box([(x0 + bx0) / s, (y0 + best[0]) / s, (bx1 - bx0) / s,
                      (best[1] - best[0]) / s], img.size)


# ---------------------------------------------------------------------------------------
# Crops in the project
# ---------------------------------------------------------------------------------------


def _bounds(project) -> tuple[int, int]:
    from engine.images import prepared_size

    return prepared_size(project)


def check_name(name: str) -> str:
    """A crop name becomes a file name: spaces turn into underscores; other punctuation is refused."""
    name = re.sub(r"\s+", "_", str(name).strip())
    if not _NAME_RE.match(name):
        raise UserError(f"crop name {name!r} is not allowed: use letters, digits, _ . - "
                        "(e.g. wrist_cuffs)")
    from engine.names import check_name as check_path_name

    return check_path_name(name, "crop name")  # length, reserved device names (issue 13)


def find_crop(project, name: str) -> Crop | None:
    for c in project.crops.items:
        if c.name == name:
            return c
    return None


def _ensure_boxes(project, img: Image.Image | None = None) -> None:
    """Guess the figure and face boxes if they are not set yet (needs the prepared image)."""
    cs = project.crops
    bounds = _bounds(project)
    if len(cs.figure_box) == 4 and len(cs.face_box) == 4:
        cs.figure_box = clamp_box(cs.figure_box, bounds)
        cs.face_box = clamp_box(cs.face_box, bounds)
        return
    if img is None:
        from engine.images import load_prepared

        img = load_prepared(project)
    if len(cs.figure_box) != 4:
        cs.figure_box = guess_figure_box(img, project.prep.background_tolerance)
    if len(cs.face_box) != 4:
        cs.face_box = guess_face_box(img, cs.figure_box)


def _apply_presets(project, names) -> None:
    cs = project.crops
    bounds = _bounds(project)
    for name in names:
        box = preset_box(name, cs.figure_box, cs.face_box, bounds)
        for c in cs.items:
            if c.preset == name:
                c.box = box
                break
        else:
            existing = find_crop(project, name)
            if existing is not None and existing.image:
                continue  # an imported crop (its own image, its own pixels) keeps the name
            if existing is not None:      # a custom crop already uses the name
                existing.box, existing.preset = box, name
            else:
                cs.items.append(Crop(name=name, box=box, preset=name))


def auto_crops(project, save: bool = True) -> list[Crop]:
    """(Re)create the seven preset crops from the figure and face boxes (guessing them when
    unset); custom crops are kept.  Returns all crops."""
    from engine import project as pj

    _ensure_boxes(project)
    _apply_presets(project, PRESETS)
    order = {n: i for i, n in enumerate(PRESETS)}
    presets = sorted((c for c in project.crops.items if c.preset in order),
                     key=lambda c: order[c.preset])
    custom = [c for c in project.crops.items if c.preset not in order]
    project.crops.items = presets + custom
    if save:
        pj.save(project)
    return project.crops.items


def set_face_box(project, box, save: bool = True) -> Box:
    """Set the face box; every existing face-dependent preset crop follows it."""
    return _set_anchor(project, "face_box", box, FACE_PRESETS, save)


def set_figure_box(project, box, save: bool = True) -> Box:
    """Set the figure box; every existing preset crop follows it."""
    return _set_anchor(project, "figure_box", box, PRESETS, save)


def _set_anchor(project, which: str, box, dependents, save: bool) -> Box:
    """Set the face or figure box (clamped) and move the preset crops that hang on it: a crop
    still at its preset's box gets the new preset box; one the user moved or resized by hand
    moves and grows by as much, so the hand adjustment stays."""
    from engine import project as pj

    cs, bounds = project.crops, _bounds(project)
    anchored = len(cs.figure_box) == 4 and len(cs.face_box) == 4
    names = [c.preset for c in cs.items if c.preset in dependents]
    old = {n: preset_box(n, cs.figure_box, cs.face_box, bounds) for n in names} if anchored else {}
    setattr(cs, which, clamp_box(box, bounds))
    if len(cs.figure_box) != 4 or len(cs.face_box) != 4:
        _ensure_boxes(project)
    by_hand = {c.name: list(c.box) for c in cs.items
               if c.preset in old and list(c.box) != list(old[c.preset])}
    _apply_presets(project, names)
    for c in cs.items:
        if c.name in by_hand:
            was, now = old[c.preset], c.box
            c.box = clamp_box([h + (b - a) for h, a, b in zip(by_hand[c.name], was, now)],
                              bounds)
    if save:
        pj.save(project)
    return getattr(project.crops, which)


def set_crop(project, name: str, box, save: bool = True) -> Crop:
    """Create or move the crop ``name`` (a new name is a custom crop); the box is clamped."""
    from engine import project as pj

    name = check_name(name)
    if len(box) != 4:
        raise UserError(f"crop {name!r}: box {box!r} must be x,y,w,h")
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise UserError(f"crop {name!r}: width and height must be positive, got {w:g}x{h:g}")
    bounds = _bounds(project)
    if x >= bounds[0] or y >= bounds[1] or x + w <= 0 or y + h <= 0:
        raise UserError(f"crop {name!r}: box {list(box)} lies outside the prepared image "
                        f"({bounds[0]}x{bounds[1]})")
    # Clip to the image first, then enforce the minimum size.
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(bounds[0]), x + w), min(float(bounds[1]), y + h)
    clamped = clamp_box([x0, y0, x1 - x0, y1 - y0], bounds)
    crop = find_crop(project, name)
    if crop is None:
        crop = Crop(name=name, box=clamped, preset="")
        project.crops.items.append(crop)
    else:
        crop.box = clamped
    if save:
        pj.save(project)
    return crop


def remove_crop(project, name: str, save: bool = True) -> None:
    """Delete the crop ``name`` (a UserError listing the names if there is none)."""
    from engine import project as pj

    crop = find_crop(project, name)
    if crop is None:
        names = ", ".join(c.name for c in project.crops.items) or "none"
        raise UserError(f"no crop named {name!r}; crops: {names}")
    project.crops.items.remove(crop)
    if save:
        pj.save(project)


def check_rename(project, old: str, new: str) -> str:
    """The name crop ``old`` would get from ``new`` (spaces become underscores), or a UserError
    naming the problem: no such crop, an empty or illegal name, a name another crop has."""
    crop = find_crop(project, old)
    if crop is None:
        names = ", ".join(c.name for c in project.crops.items) or "none"
        raise UserError(f"no crop named {old!r}; crops: {names}")
    if not str(new).strip():
        raise UserError(f"crop {old!r} needs a name: type one such as wrist_cuffs")
    name = check_name(new)
    taken = next((c for c in project.crops.items
                  if c is not crop and c.name.lower() == name.lower()), None)
    if taken is not None:  # also by case: face.png and Face.png are one file on some disks
        raise UserError(f"a crop named {taken.name!r} exists already: choose another name "
                        f"for {old!r}")
    return name


def rename_crop(project, old: str, new: str, save: bool = True) -> Crop:
    """Give the crop ``old`` the name ``new`` (checked by :func:`check_rename`).  Everything
    the project keys by a crop's name lives in the crop itself (box, preset, tags with their
    states, an imported crop's image file, which is named by its own path), so it all follows;
    the kohya export and its captions are rebuilt from it.  Saved atomically through the
    project store when ``save``."""
    from engine import project as pj

    name = check_rename(project, old, new)
    crop = find_crop(project, old)
    if name != crop.name:
        crop.name = name
        if save:
            pj.save(project)
    return crop


def rescale_crops(project, old_size: tuple[int, int], new_size: tuple[int, int]) -> None:
    """Scale every stored box when the prepared image changes size (e.g. a new upscale); a
    crop cut from its own image (``crop.image``, imported) keeps its box, which is in the
    pixels of that image."""
    sx, sy = new_size[0] / old_size[0], new_size[1] / old_size[1]

    def scale(b):
        return clamp_box([b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy], new_size) if len(b) == 4 else b

    cs = project.crops
    cs.figure_box, cs.face_box = scale(cs.figure_box), scale(cs.face_box)
    for c in cs.items:
        if not c.image:
            c.box = scale(c.box)


@dataclass(frozen=True)
class ShortCrop:
    """Facts about a crop whose short side is below the training side; the CLI
    (:func:`crop_warnings`) and the TUI (tui/wording.py) each word the remedy their own way."""

    short: int
    """The crop's short side in pixels of the prepared image."""
    side: int
    """The side it should reach (the training resolution)."""
    upscale_to: int | None
    """Long side of the prepared image that brings the crop to ``side`` (rounded up to 256 px);
    None when the image size is not known."""


def short_crop(crop: Crop, image_size: tuple[int, int] | None = None,
               side: int = WARN_SIDE) -> ShortCrop | None:
    """The facts when ``crop``'s short side is under ``side`` (the training resolution), else
    None.  With the prepared image's size, also the upscale that would fix it."""
    short = min(crop.box[2], crop.box[3])
    if short >= side:
        return None
    need = None
    if image_size:
        need = int(-(-(max(image_size) * side / max(1, short)) // 256) * 256)
    return ShortCrop(short=short, side=side, upscale_to=need)


def crop_warnings(crop: Crop, image_size: tuple[int, int] | None = None,
                  side: int = WARN_SIDE) -> list[str]:
    """Short notes about a crop, in CLI terms: a short side under ``side`` px (the training
    resolution) suggests an upscale (with the long side that would fix it when the prepared
    image's size is given)."""
    s = short_crop(crop, image_size, side)
    if s is None:
        return []
    hint = f"onelora prep DIR --upscale {s.upscale_to or 'PX'}"
    return [f"short side {s.short} px < {s.side}: upscale the source ({hint}) "
            "or make the crop larger"]


def crop_image(project, crop: Crop, prepared: Image.Image | None = None) -> Image.Image:
    """The crop at full resolution (8-bit RGB): cut from its own image when it has one
    (``crop.image``, an imported kohya image), else from the prepared image (``prepared``, when
    given, saves reloading it for every crop).  The one place crops are cut."""
    from engine.images import load_image, load_prepared

    if crop.image:
        path = Path(project.root) / crop.image
        if not path.is_file():
            raise UserError(f"crop {crop.name!r}: image {path} not found; restore it or remove "
                            f"the crop (onelora crops {project.root} --remove {crop.name})")
        img = load_image(path).image
    else:
        img = prepared if prepared is not None else load_prepared(project)
    x, y, w, h = clamp_box(crop.box, img.size)
    return img.crop((x, y, x + w, y + h))


def export_crops(project, dest_dir: str | os.PathLike) -> dict[str, Path]:
    """Write every crop as ``dest_dir/<name>.png`` (atomically); returns name → path."""
    from engine.images import load_prepared
    from engine.project import atomic_write_bytes

    dest = Path(dest_dir)
    img = load_prepared(project) if any(not c.image for c in project.crops.items) else None
    out: dict[str, Path] = {}
    for crop in project.crops.items:
        buf = io.BytesIO()
        crop_image(project, crop, img).save(buf, format="PNG")
        path = dest / f"{check_name(crop.name)}.png"
        atomic_write_bytes(path, buf.getvalue())
        out[crop.name] = path
    return out


def crops_json(project) -> dict:
    """The ``onelora crops --json`` payload."""
    size = _bounds(project) if project.crops.items else None
    return {"crops": [{"name": c.name, "preset": c.preset or None, "box": list(c.box),
                       "warnings": crop_warnings(c, size, project.train.resolution)}
                      for c in project.crops.items]}
