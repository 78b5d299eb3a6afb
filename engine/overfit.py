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


def features(image: str | os.PathLike | Image.Image, size: int = THUMB) -> np.ndarray:
    """A unit vector from a small RGB thumbnail with its mean removed."""
    img = image if isinstance(image, Image.Image) else Image.open(image)
    img = img.convert("RGB").resize((size, size), Image.Resampling.BOX)
    v = np.asarray(img, dtype=np.float32).reshape(-1) / 255.0
    v = v - v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-8 else np.zeros_like(v)


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
    """``collapse``/``memorising``/``score`` for one epoch's samples (None when unknown)."""
    if not records:
        return {"collapse": None, "memorising": None, "score": None, "weight": None}
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
    return {"collapse": collapse, "memorising": memorising, "score": score, "weight": weight}


def suggest_epoch(curve: list[dict]) -> int | None:
    """The last epoch before the overfit score passes the midpoint of its range."""
    points = [(c["epoch"], c["score"]) for c in curve
              if c.get("score") is not None and math.isfinite(c["score"])]
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


def measure_run(run_dir: str | os.PathLike, crops: list | None = None) -> dict:
    """The meter for every sampled epoch of a run (``crops``: images or paths); returns what
    :func:`write` stores."""
    run_dir = Path(run_dir)
    crop_feats = [features(c) for c in (crops or [])
                  if isinstance(c, Image.Image) or Path(c).is_file()]
    curve = []
    for epoch in ep.sampled_epochs(run_dir):
        m = measure_epoch(ep.read_epoch(run_dir, epoch), run_dir, crop_feats)
        curve.append({"epoch": epoch, **m})
    return {"epochs": curve, "suggested_epoch": suggest_epoch(curve),
            "crops": len(crop_feats), "thumb": THUMB}


def write(run_dir: str | os.PathLike, crops: list | None = None) -> dict:
    """Measure and store ``run_dir/overfit.json`` (atomic)."""
    result = measure_run(run_dir, crops)
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
