"""The grow step's candidates on disk and the user's keep/discard decisions.

Candidates are ``DIR/grow/candidates/NNNN.png`` with ``NNNN.txt`` captions, drawn by
engine/grow.py.  Each PNG carries what made it in its text chunks (prompt, negative, seed,
weight, strength, source crop, mode, LoRA, run).  The decisions are numbers in
``project.grow.kept`` / ``project.grow.discarded`` (project.toml holds every decision); a
discarded candidate's files stay where they are, so its number is never drawn again and
the decision can be undone.

Kept candidates join the dataset as their own kohya folder with their own repeats
(:func:`folder_name`, :func:`dataset_items`).

Light module (Pillow + numpy): the CLI and the TUI gallery use it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from engine import project as pj
from engine.errors import UserError

GROW_DIR = "grow"
CANDIDATES_DIR = "candidates"
GROWN_SUFFIX = "grown"


def candidates_dir(project: pj.Project) -> Path:
    return Path(project.root) / GROW_DIR / CANDIDATES_DIR


def candidate_path(project: pj.Project, number: int) -> Path:
    return candidates_dir(project) / f"{int(number):04d}.png"


def numbers(project: pj.Project) -> list[int]:
    """Numbers of the candidate PNGs on disk, in order."""
    folder = candidates_dir(project)
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit())


def next_number(project: pj.Project) -> int:
    """The first number no candidate on disk nor any decision uses (numbers start at 1)."""
    used = set(numbers(project)) | set(project.grow.kept) | set(project.grow.discarded)
    return max(used, default=0) + 1


def state(project: pj.Project, number: int) -> str:
    if number in project.grow.discarded:
        return "discarded"
    if number in project.grow.kept:
        return "kept"
    return "undecided"


def read_info(path: Path) -> dict[str, str]:
    """The PNG text chunks of a candidate (empty when unreadable)."""
    try:
        with Image.open(path) as img:
            return {str(k): str(v) for k, v in getattr(img, "text", {}).items()}
    except OSError:
        return {}


def caption_of(path: Path) -> str:
    try:
        return path.with_suffix(".txt").read_text(encoding="utf-8").splitlines()[0].strip()
    except (FileNotFoundError, IndexError):
        return ""


@dataclass
class Candidate:
    """One candidate as the gallery and ``onelora grow --list`` show it."""

    number: int
    path: Path
    state: str
    caption: str
    info: dict[str, str] = field(default_factory=dict)
    similarity: float | None = None
    """Cosine similarity to the nearest training crop (overfit meter thumbnails; 1 = a copy)."""


def crop_features(project: pj.Project) -> list:
    """Overfit-meter features of the training crops and their mirror images."""
    from PIL import ImageOps

    from engine import overfit

    feats = []
    for c in overfit.crop_images(project):
        img = c if isinstance(c, Image.Image) else Image.open(c)
        feats += [overfit.features(img), overfit.features(ImageOps.mirror(img.convert("RGB")))]
    return feats


def nearest_crop_similarity(image, crop_feats: list) -> float | None:
    import numpy as np

    from engine import overfit

    if not crop_feats:
        return None
    f = overfit.features(image)
    return float(max(np.clip(np.dot(f, c), 0.0, 1.0) for c in crop_feats))


def list_candidates(project: pj.Project, similarity: bool = True) -> list[Candidate]:
    feats = crop_features(project) if similarity else []
    out = []
    for n in numbers(project):
        path = candidate_path(project, n)
        sim = nearest_crop_similarity(path, feats) if feats else None
        out.append(Candidate(n, path, state(project, n), training_caption(project, path),
                                   read_info(path), sim))
    return out


def _check(project: pj.Project, nums: list[int]) -> None:
    have = set(numbers(project))
    missing = [n for n in nums if n not in have]
    if missing:
        raise UserError(f"no candidate {missing[0]:04d}.png in {candidates_dir(project)}; "
                        f"see them with 'onelora grow {project.root} --list'")


def decide(project: pj.Project, nums: list[int], decision: str, save: bool = True) -> None:
    """Mark candidates ``kept``, ``discarded`` or ``undecided`` (project.toml saved)."""
    if decision not in ("kept", "discarded", "undecided"):
        raise UserError(f"unknown decision {decision!r}; use kept, discarded or undecided")
    _check(project, nums)
    g = project.grow
    drop = set(nums)
    g.kept = [n for n in g.kept if n not in drop]
    g.discarded = [n for n in g.discarded if n not in drop]
    if decision == "kept":
        g.kept = sorted(g.kept + list(dict.fromkeys(nums)))
    elif decision == "discarded":
        g.discarded = sorted(g.discarded + list(dict.fromkeys(nums)))
    if save:
        pj.save(project)


def folder_name(project: pj.Project) -> str:
    """``<grow.repeats>_<trigger> <class> grown``: the kohya folder of the kept candidates.

    It differs from the crops' ``<repeats>_<trigger> <class>`` even when both repeats are equal
    (sd-scripts names a subset by its folder's base name in ``ss_dataset_dirs``, so two equal
    names would merge).  sd-scripts reads the words after ``N_`` as class tokens only for an
    image without a caption; every candidate has one, and dataset_config.toml sets
    ``class_tokens = "<trigger> <class>"``."""
    return f"{project.grow.repeats}_{project.trigger} {project.class_name} {GROWN_SUFFIX}"


def kept_files(project: pj.Project) -> list[Path]:
    """The kept candidates that exist on disk, in number order."""
    discarded = set(project.grow.discarded)
    paths = [candidate_path(project, n) for n in sorted(set(project.grow.kept) - discarded)]
    return [p for p in paths if p.is_file()]


def training_caption(project: pj.Project, path: Path) -> str:
    """A kept candidate's caption as it trains and exports: its ``.txt``, with the trigger and
    class it was drawn with (the first two words of the prompt in its PNG) replaced by the
    project's current ones, so a trigger or class renamed after drawing reaches the grown
    folder too instead of training the old word."""
    from engine.kohya import read_caption
    from engine.tags import normalize

    base = f"{project.trigger}, {project.class_name}"
    caption = read_caption(path, base)
    words = [w.strip() for w in caption.split(",")]
    drawn = [w.strip() for w in read_info(path).get("prompt", "").split(",")]
    changed = False
    for i, now in enumerate((project.trigger, project.class_name)):
        if (i < len(words) and i < len(drawn) and drawn[i]
                and normalize(words[i]) == normalize(drawn[i]) != normalize(now)):
            words[i], changed = now, True
    return ", ".join(words) if changed else caption


def dataset_items(project: pj.Project) -> list:
    """The kept candidates as training rows (engine.kohya.DatasetItem)."""
    from engine.kohya import DatasetItem

    folder = folder_name(project)
    return [DatasetItem(image=p, caption=training_caption(project, p),
                        repeats=project.grow.repeats, is_reg=False, name=f"{GROW_DIR}/{p.name}",
                        folder=folder)
            for p in kept_files(project)]


def import_kept(project: pj.Project, images: list[Path], repeats: int) -> list[int]:
    """Add images (with their captions) as kept candidates, e.g. an export's ``... grown``
    folder brought back by import-kohya; ``grow.repeats`` becomes ``repeats``.  The project is
    not saved here."""
    import io

    added = []
    for f in images:
        n = next_number(project)
        with Image.open(f) as img:
            buf = io.BytesIO()
            img.save(buf, format="PNG", pnginfo=_png_text(img))
        pj.atomic_write_text(candidate_path(project, n).with_suffix(".txt"),
                             (caption_of(f) or f"{project.trigger}, {project.class_name}") + "\n")
        pj.atomic_write_bytes(candidate_path(project, n), buf.getvalue())
        project.grow.kept.append(n)
        added.append(n)
    project.grow.repeats = repeats
    return added


def _png_text(img: Image.Image):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in getattr(img, "text", {}).items():
        info.add_text(str(k), str(v))
    return info
