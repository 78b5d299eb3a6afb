"""The overfit meter: per epoch, how alike the samples are to each other and to the crops.

Two numbers per epoch, both cosine similarities of tiny thumbnails (32×32 RGB, mean removed,
so flat colour casts don't count) computed on the samples at the epoch's highest LoRA weight:

- ``collapse``: mean similarity between samples of the same prompt with different seeds.
  A healthy LoRA still lets the seed change pose and composition; an overfit one draws the
  same picture whatever the seed.
- ``memorising``: for each sample, its similarity to the closest training crop, averaged.
  Near 1 means the LoRA reproduces a crop rather than drawing the character anew.

``score`` is their mean (or the one that is available).  The suggested epoch is the last
epoch before the score climbs past the midpoint between its lowest and highest value; when
the whole curve moves less than ``FLAT`` the last epoch is suggested.  It is a hint, not a
verdict: see docs/overfit.md for what it cannot see.

Diverged epochs are never suggested and do not shape the curve's range: those recorded by
training (engine.epochs.diverged_epochs) and those whose samples at the nominal weight (the
one closest to 1) are all blank — flat images, what a NaN or exploded LoRA decodes to.  A
blank epoch has no scores (the thumbnails of flat images say nothing) and :func:`write`
records it as diverged, so ``pick`` refuses it too.

Light module (Pillow + numpy, no torch): the sampling worker writes ``overfit.json`` into
the run directory and the TUI only reads it.
"""

from __future__ import annotations

import json
import math
import os
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image

from engine import epochs as ep
from engine.project import atomic_write_text

OVERFIT_FILE = "overfit.json"
THUMB = 32
FLAT = 0.1
BLANK_STD = 2.0
"""A sample whose thumbnail's pixel values have a standard deviation below this (0-255 scale)
is blank: flat black (NaN decodes to 0) or one flat colour.  Any drawing, even a small figure
on a white page, varies by tens of levels (the test crops of tests/train_helpers.py: 75)."""
BLANK_REASON = "its samples at LoRA weight {weight:g} are blank (flat images)"


def features(image: str | os.PathLike | Image.Image, size: int = THUMB) -> np.ndarray:
    """A unit vector from a small RGB thumbnail with its mean removed."""
    img = image if isinstance(image, Image.Image) else Image.open(image)
    img = img.convert("RGB").resize((size, size), Image.Resampling.BOX)
    v = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
    v = v - v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-8 else np.zeros_like(v)


def is_blank(image: str | os.PathLike | Image.Image, size: int = THUMB) -> bool:
    """True for a flat image (see BLANK_STD)."""
    img = image if isinstance(image, Image.Image) else Image.open(image)
    img = img.convert("RGB").resize((size, size), Image.Resampling.BOX)
    return float(np.asarray(img, dtype=np.float32).std()) < BLANK_STD


def nominal_weight(weights) -> float | None:
    """The sampled LoRA weight closest to 1 (the one a user loads the LoRA at); None when no
    weight is above 0 (then the LoRA plays no part in the samples)."""
    positive = [w for w in weights if w > 0]
    return min(positive, key=lambda w: (abs(w - 1.0), -w)) if positive else None


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity clipped to 0..1 (opposite pictures are simply "not alike")."""
    return float(np.clip(np.dot(a, b), 0.0, 1.0))


def crop_images(project) -> list:
    """The training crops of a project, cut from the prepared image (engine.crops); without
    crops, the prepared/source image itself.  Images or paths, whichever is at hand."""
    out: list = []
    if project.crops.items:
        try:
            from engine.crops import crop_image

            out = [crop_image(project, c) for c in project.crops.items]
        except Exception:  # no prepared image yet, or a crop outside it: fall back below
            out = []
    if out:
        return out
    src = Path(project.root) / project.source.image if project.source.image else None
    return [src] if src is not None and src.is_file() else []


def measure_epoch(records: list[ep.SampleRecord], run_dir: Path,
                  crop_feats: list[np.ndarray]) -> dict:
    """``collapse``/``memorising``/``score`` for one epoch's samples (None when unknown), and
    ``blank``: every sample at the nominal weight is a flat image (then no scores)."""
    if not records:
        return {"collapse": None, "memorising": None, "score": None, "weight": None, "blank": False}
    nominal = nominal_weight({r.weight for r in records})
    at_nominal = [run_dir / r.file for r in records if nominal is not None
                  and abs(r.weight - nominal) < 1e-6 and (run_dir / r.file).exists()]
    if at_nominal and all(is_blank(f) for f in at_nominal):
        return {"collapse": None, "memorising": None, "score": None, "weight": nominal,
                "blank": True}
    weight = max(r.weight for r in records)
    top = [r for r in records if abs(r.weight - weight) < 1e-6 and (run_dir / r.file).exists()]
    feats = {r.file: features(run_dir / r.file) for r in top}
    by_prompt: dict[int, list[np.ndarray]] = {}
    for r in top:
        by_prompt.setdefault(r.prompt_index, []).append(feats[r.file])
    pairs = [_cos(a, b) for group in by_prompt.values() for a, b in combinations(group, 2)]
    collapse = float(np.mean(pairs)) if pairs else None
    memorising = None
    if crop_feats and feats:
        memorising = float(np.mean([max(_cos(f, c) for c in crop_feats) for f in feats.values()]))
    parts = [x for x in (collapse, memorising) if x is not None]
    score = float(np.mean(parts)) if parts else None
    return {"collapse": collapse, "memorising": memorising, "score": score, "weight": weight,
            "blank": False}


def suggest_epoch(curve: list[dict]) -> int | None:
    """The last epoch before the overfit score passes the midpoint of its range; diverged
    epochs (``c["diverged"]``) are left out."""
    points = [(c["epoch"], c["score"]) for c in curve if not c.get("diverged")
              and c.get("score") is not None and math.isfinite(c["score"])]
    if not points:
        return None
    scores = [s for _, s in points]
    lo, hi = min(scores), max(scores)
    if hi - lo < FLAT:
        return points[-1][0]
    mid = lo + (hi - lo) / 2
    best = points[0][0]
    for epoch, score in points:
        if score > mid:
            break
        best = epoch
    return best


def measure_run(run_dir: str | os.PathLike, crops: list | None = None,
                diverged: dict[int, str] | None = None) -> dict:
    """The meter for every sampled epoch of a run (``crops``: images or paths; ``diverged``:
    engine.epochs.diverged_epochs, read here when not given); returns what :func:`write`
    stores."""
    run_dir = Path(run_dir)
    crop_feats = [features(c) for c in (crops or [])
                  if isinstance(c, Image.Image) or Path(c).is_file()]
    diverged = ep.diverged_epochs(run_dir) if diverged is None else diverged
    curve = []
    for epoch in ep.sampled_epochs(run_dir):
        m = measure_epoch(ep.read_epoch(run_dir, epoch), run_dir, crop_feats)
        why = diverged.get(epoch) or (BLANK_REASON.format(weight=m["weight"]) if m["blank"] else None)
        curve.append({"epoch": epoch, **m, "diverged": why})
    return {"epochs": curve, "suggested_epoch": suggest_epoch(curve),
            "crops": len(crop_feats), "thumb": THUMB}


def write(run_dir: str | os.PathLike, crops: list | None = None) -> dict:
    """Measure and store ``run_dir/overfit.json`` (atomic); an epoch found blank is recorded
    as diverged (engine.epochs.mark_diverged)."""
    known = ep.diverged_epochs(run_dir)
    result = measure_run(run_dir, crops, known)
    for c in result["epochs"]:
        if c["blank"] and c["epoch"] not in known:
            ep.mark_diverged(run_dir, c["epoch"], c["diverged"], check="blank samples")
    atomic_write_text(Path(run_dir) / OVERFIT_FILE, json.dumps(result, indent=1))
    return result


def read(run_dir: str | os.PathLike) -> dict:
    """The stored meter, or an empty one when the run has not been measured."""
    try:
        data = json.loads((Path(run_dir) / OVERFIT_FILE).read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("epochs"), list):
            return data
    except (FileNotFoundError, ValueError):
        pass
    return {"epochs": [], "suggested_epoch": None}
