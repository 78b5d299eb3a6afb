"""kohya sd-scripts dataset folders: export a project, import an existing dataset, and the dataset rows
the training engine reads.

Export layout (docs/lora-format.md §4)::

    DEST/img/<repeats>_<trigger> <class>/<crop>.png + <crop>.txt
    DEST/img/<grow.repeats>_<trigger> <class> grown/NNNN.png + NNNN.txt  (kept grow candidates)
    DEST/reg/<repeats>_<class>/<image> + <image>.txt        (when the project has reg images)
    DEST/dataset_config.toml                                 ([general], [[datasets]], [[datasets.subsets]])

The export is built in a hidden folder inside DEST and its entries (img/, reg/, dataset_config.toml,
the marker) are renamed into place; nothing else in DEST is touched (kohya_ss keeps model/ and log/
there), and DEST may neither be nor hold a project.  Image dirs in the TOML are absolute, because
sd-scripts resolves them from its own working directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import tomli_w

from engine import candidates, names
from engine import project as pj
from engine import tags as tg
from engine.errors import UserError
from engine.files import NoSpaceError, is_no_space, no_space_error
from engine.project import Crop, Project, Tag

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
EXPORT_MARKER = ".onelora-export"
_SUBSET_RE = re.compile(r"^(\d+)_(.+)$")


@dataclass
class DatasetItem:
    """One training or regularization image with its caption (the rows engine.data trains on)."""

    image: Path | Callable[[], Any]
    """A file path (reg images), or a callable returning the PIL image (crops, cut on demand)."""
    caption: str
    """The caption line, trigger and class first."""
    repeats: int = 1
    """How often the image is seen per epoch."""
    is_reg: bool = False
    """True for regularization images (their loss is weighted by reg.prior_loss_weight)."""
    name: str = ""
    """Crop name or reg file name, for events and error messages."""
    folder: str = ""
    """kohya folder name it belongs to (``5_trigger girl``, ``1_girl``)."""


@dataclass
class ExportResult:
    """What an export wrote."""

    dest: Path
    img_dir: Path
    reg_dirs: list[Path] = field(default_factory=list)
    grown_dir: Path | None = None
    grown_images: int = 0
    images: int = 0
    reg_images: int = 0
    config: Path | None = None
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Dataset rows
# ---------------------------------------------------------------------------------------

def train_folder_name(project: Project) -> str:
    """``<repeats>_<trigger> <class>``: kohya reads the repeats and class tokens from it."""
    return f"{project.train.repeats}_{project.trigger} {project.class_name}"


def crop_pixels(project: Project, crop: Crop):
    """The crop as a PIL image (engine.crops.crop_image: cut from its own imported image when it
    has one, else from the prepared image)."""
    from engine.crops import crop_image

    return crop_image(project, crop)


def reg_sources(project: Project) -> list[tuple[str, list[Path]]]:
    """Regularization images in the project: (class, image files) per ``reg/<N>_<class>/`` folder,
    without the ones the user pruned (``reg.removed``, by file name or path)."""
    root = project.root / "reg"
    if not root.is_dir():
        return []
    removed = {Path(r).name for r in project.reg.removed} | set(project.reg.removed)
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        m = _SUBSET_RE.match(folder.name)
        if not m:
            continue
        files = [f for f in sorted(folder.iterdir())
                 if f.suffix.lower() in IMAGE_EXTENSIONS and f.name not in removed
                 and str(f.relative_to(project.root)) not in removed]
        if files:
            out.append((m.group(2), files))
    return out


def read_caption(image: Path, default: str = "") -> str:
    """First line of ``<image>.txt`` (or ``.caption``), as kohya reads it; ``default`` if none."""
    for ext in (".txt", ".caption"):
        cap = image.with_suffix(ext)
        if cap.is_file():
            try:
                lines = cap.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError:
                raise UserError(f"caption {cap} is not UTF-8 text; re-save it as UTF-8") from None
            return lines[0].strip() if lines else default
    return default


def dataset_items(project: Project) -> list[DatasetItem]:
    """The dataset the training engine uses: every crop (cut on demand) with its caption, the kept
    grow candidates (engine.candidates), then the regularization images that were not pruned."""
    folder = train_folder_name(project)
    items = [DatasetItem(image=(lambda c=crop: crop_pixels(project, c)),
                         caption=tg.caption(project, crop), repeats=project.train.repeats,
                         is_reg=False, name=crop.name, folder=folder)
             for crop in project.crops.items]
    items += candidates.dataset_items(project)  # kept grow candidates: their own folder
    for cls, files in reg_sources(project):
        reg_folder = f"{project.reg.repeats}_{cls}"
        for f in files:
            items.append(DatasetItem(image=f, caption=read_caption(f, cls),
                                     repeats=project.reg.repeats, is_reg=True, name=f.name,
                                     folder=reg_folder))
    return items


# ---------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------

def _file_stem(name: str) -> str:
    stem = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")
    return stem or "crop"


def dataset_config(project: Project, img_dir: Path, reg_dirs: list[Path],
                   grown_dir: Path | None = None) -> dict:
    """The dataset_config.toml content for sd-scripts (``--dataset_config``): a subset for the
    crops, one for the kept grow candidates (their own num_repeats), one per reg folder."""
    t = project.train
    subset_common = {
        "keep_tokens": t.keep_tokens, "shuffle_caption": t.shuffle_caption,
        "flip_aug": t.flip_aug, "color_aug": t.color_aug, "caption_extension": ".txt",
        "caption_dropout_rate": t.caption_dropout_rate,
        "caption_tag_dropout_rate": t.caption_tag_dropout_rate,
    }
    subsets = [{"image_dir": img_dir.as_posix(), "num_repeats": t.repeats, "is_reg": False,
                "class_tokens": f"{project.trigger} {project.class_name}", **subset_common}]
    if grown_dir is not None:
        subsets.append({**subsets[0], "image_dir": grown_dir.as_posix(),
                        "num_repeats": project.grow.repeats})
    for d in reg_dirs:
        m = _SUBSET_RE.match(d.name)
        subsets.append({"image_dir": d.as_posix(), "num_repeats": project.reg.repeats,
                        "is_reg": True, "class_tokens": m.group(2) if m else project.class_name,
                        **subset_common})
    return {
        "general": {"shuffle_caption": t.shuffle_caption, "keep_tokens": t.keep_tokens,
                    "caption_extension": ".txt", "flip_aug": t.flip_aug, "color_aug": t.color_aug},
        "datasets": [{"resolution": t.resolution, "batch_size": t.batch_size,
                      "enable_bucket": t.enable_bucket, "min_bucket_reso": t.min_bucket_reso,
                      "max_bucket_reso": t.max_bucket_reso,
                      "bucket_reso_steps": t.bucket_reso_steps, "subsets": subsets}],
    }


def export(project: Project, dest: str | os.PathLike) -> ExportResult:
    """Write the kohya dataset folder for ``project`` to ``dest``.

    ``dest`` must be missing, empty, or an earlier onelora export (it holds ``.onelora-export``),
    and must neither be nor hold a project, nor lie in a project's own data folders.  Only what
    an export owns is replaced (``img/``, ``reg/``, ``dataset_config.toml``, the marker); anything
    else a user keeps there (kohya_ss's ``model/``, ``log/``) is left alone, and a file inside
    ``img/`` or ``reg/`` that the earlier export did not write makes the export refuse.
    """
    dest = Path(dest).resolve()
    check_export_dest(project, dest)
    if not project.crops.items:
        raise UserError("the project has no crops to export; make them with 'onelora crops DIR "
                        "--auto' first")
    result = ExportResult(dest=dest, img_dir=dest / "img" / train_folder_name(project))
    stage = dest / f"{_STAGE_PREFIX}{os.getpid()}"
    made = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(dest)
        written = _write_export(project, stage, result)
        _write_marker(project, stage, written)
        _swap_into_place(stage, dest)
    except (OSError, NoSpaceError) as e:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        if made and dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()  # the folder this export made, empty again
        if isinstance(e, NoSpaceError) or is_no_space(e):
            raise no_space_error(dest / "img", "the kohya export") from None
        raise
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return result


OWNED = ("img", "reg", "dataset_config.toml", EXPORT_MARKER)
"""What an export writes in its folder, and so all it may ever replace there."""
PROJECT_DATA = ("source", "imported", "reg", "reg_removed", "runs", "output", "wildcards",
                "crops", "samples")
"""A project's own folders: an export may not go inside them."""
_STAGE_PREFIX = ".onelora-stage-"
_OLD_PREFIX = ".onelora-old-"
_MANIFEST_HEAD = "files written by this export (a later export replaces only these):"


def _enclosing_project(path: Path) -> Path | None:
    for p in (path, *path.parents):
        if (p / pj.PROJECT_FILE).is_file():
            return p
    return None


def _project_within(folder: Path) -> Path | None:
    """The first folder under ``folder`` (itself included) holding a project.toml."""
    for here, dirs, files in os.walk(folder):  # does not follow links
        if pj.PROJECT_FILE in files:
            return Path(here)
        dirs[:] = [d for d in dirs if not d.startswith((_STAGE_PREFIX, _OLD_PREFIX))]
    return None


def read_manifest(dest: Path) -> set[str] | None:
    """The files the export in ``dest`` wrote (relative, posix), or None for an export made by
    an onelora that kept no list (it owned img/, reg/ and dataset_config.toml as a whole)."""
    try:
        lines = (dest / EXPORT_MARKER).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if _MANIFEST_HEAD not in lines:
        return None
    return {ln for ln in lines[lines.index(_MANIFEST_HEAD) + 1:] if ln.strip()}


def check_export_dest(project: Project, dest: Path) -> None:
    """Refuse an export folder where writing could destroy something of the user's."""
    proot = project.root.resolve()
    hint = f"use a new folder such as {proot / 'kohya'}"
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest} exists and is not a folder; choose another export folder")
    home = _enclosing_project(dest)
    if home is not None:
        if home == dest:
            raise UserError(f"export folder {dest} is a project folder (it holds "
                            f"{pj.PROJECT_FILE}); {hint}")
        first = dest.relative_to(home).parts[0]
        if first in PROJECT_DATA or first.startswith("."):
            raise UserError(f"export folder {dest} is inside the project data of {home} "
                            f"({first}/); {hint}")
    if not dest.is_dir():
        return
    entries = [p for p in dest.iterdir() if not p.name.startswith((_STAGE_PREFIX, _OLD_PREFIX))]
    if entries and not (dest / EXPORT_MARKER).is_file():
        raise UserError(f"{dest} is not empty and is not an onelora export; choose an empty "
                        "folder so nothing of yours is overwritten")
    inner = _project_within(dest)  # (an earlier export's folder: small, walked whole)
    if inner is not None:
        raise UserError(f"export folder {dest} holds the project {inner} (its "
                        f"{pj.PROJECT_FILE}), which an export there could overwrite; {hint}")
    manifest = read_manifest(dest)
    for name in OWNED[:-1]:
        path = dest / name
        if path.is_symlink() or (name == "dataset_config.toml" and path.exists()
                                 and not path.is_file()):
            raise UserError(f"{path} was not written by onelora; move it away or choose "
                            "another export folder")
        if manifest is None or not path.exists():
            continue
        found = [path] if path.is_file() else [f for f in path.rglob("*") if not f.is_dir()]
        for f in found:
            if f.relative_to(dest).as_posix() not in manifest:
                raise UserError(f"{f} was not written by the earlier export, and a new export "
                                f"replaces {dest / name}; move the file away or choose another "
                                "export folder")


def _remove_leftovers(dest: Path) -> None:
    """Stage and old-copy folders an interrupted export left in ``dest`` (only onelora makes
    folders with these names)."""
    for p in dest.iterdir():
        if p.name.startswith((_STAGE_PREFIX, _OLD_PREFIX)) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def _write_marker(project: Project, stage: Path, written: list[Path]) -> None:
    rels = sorted(p.relative_to(stage).as_posix() for p in written)
    pj.atomic_write_text(stage / EXPORT_MARKER,
                         f"exported by onelora from {project.root.resolve()}\n"
                         f"{_MANIFEST_HEAD}\n" + "".join(f"{r}\n" for r in rels))


def _write_export(project: Project, stage: Path, result: ExportResult) -> list[Path]:
    """Write the export into ``stage``; returns every file written."""
    import io

    written: list[Path] = []
    img_stage = names.inside(stage / "img" / result.img_dir.name, stage, "export image folder")
    img_stage.mkdir(parents=True)
    used: set[str] = set()
    for crop in project.crops.items:
        stem = _file_stem(crop.name)
        while stem.lower() in used:
            stem += "_"
        used.add(stem.lower())
        img = crop_pixels(project, crop)
        if img.mode not in ("RGB", "RGBA", "L"):
            img = img.convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        pj.atomic_write_bytes(img_stage / f"{stem}.png", buf.getvalue())
        pj.atomic_write_text(img_stage / f"{stem}.txt", tg.caption(project, crop) + "\n")
        written += [img_stage / f"{stem}.png", img_stage / f"{stem}.txt"]
        result.warnings += tg.caption_warnings(project, crop)
        if not crop.tags:
            result.warnings.append(f"crop {crop.name!r} has no tags yet: its caption is only the "
                                   "trigger and class; run 'onelora caption DIR' first")
        result.images += 1
    kept = candidates.kept_files(project)
    if kept:
        name = candidates.folder_name(project)
        grown_stage = names.inside(stage / "img" / name, stage, "export grown folder")
        grown_stage.mkdir(parents=True)
        for f in kept:
            shutil.copy2(f, grown_stage / f.name)
            pj.atomic_write_text(grown_stage / f"{f.stem}.txt",
                                 candidates.training_caption(project, f) + "\n")
            written += [grown_stage / f.name, grown_stage / f"{f.stem}.txt"]
        result.grown_dir, result.grown_images = result.dest / "img" / name, len(kept)
    for cls, files in reg_sources(project):
        name = f"{project.reg.repeats}_{cls}"
        reg_stage = names.inside(stage / "reg" / name, stage, "export reg folder")
        reg_stage.mkdir(parents=True)
        for f in files:
            shutil.copy2(f, reg_stage / f.name)
            pj.atomic_write_text(reg_stage / f"{f.stem}.txt", read_caption(f, cls) + "\n")
            written += [reg_stage / f.name, reg_stage / f"{f.stem}.txt"]
            result.reg_images += 1
        result.reg_dirs.append(result.dest / "reg" / name)
    config = dataset_config(project, result.img_dir, result.reg_dirs, result.grown_dir)
    pj.atomic_write_text(stage / "dataset_config.toml", tomli_w.dumps(config))
    written.append(stage / "dataset_config.toml")
    result.config = result.dest / "dataset_config.toml"
    return written


def _swap_into_place(stage: Path, dest: Path) -> None:
    """Replace the export's own entries in ``dest`` (and nothing else) by the staged ones.  Each
    entry moves by rename; on a failure the old entries are put back."""
    old = dest / f"{_OLD_PREFIX}{os.getpid()}"
    old.mkdir()
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in OWNED:
            if (dest / name).exists() or (dest / name).is_symlink():
                os.replace(dest / name, old / name)
                moved_old.append(name)
        for name in OWNED:
            if (stage / name).exists():
                os.replace(stage / name, dest / name)
                moved_new.append(name)
    except BaseException:
        for name in moved_new:
            os.replace(dest / name, stage / name)
        for name in moved_old:
            os.replace(old / name, dest / name)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)  # only the earlier export's own entries


# ---------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------

def _subsets(root: Path) -> list[tuple[int, str, Path]]:
    """(repeats, class tokens, folder) for every ``N_name`` folder directly under ``root``."""
    if _SUBSET_RE.match(root.name) and any(f.suffix.lower() in IMAGE_EXTENSIONS
                                           for f in root.iterdir() if f.is_file()):
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    out = []
    for d in folders:
        m = _SUBSET_RE.match(d.name)
        if m and int(m.group(1)) >= 1:
            out.append((int(m.group(1)), m.group(2), d))
    return out


def _images(folder: Path) -> list[Path]:
    return [f for f in sorted(folder.iterdir()) if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]


def _apply_config(project: Project, folder: Path) -> None:
    """Carry train settings from an existing dataset_config.toml (general < dataset < subset)."""
    path = folder / "dataset_config.toml"
    if not path.is_file():
        return
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        project.warnings.append(f"{path} ignored: not valid TOML ({e})")
        return
    merged: dict = dict(data.get("general", {}))
    datasets = data.get("datasets") or [{}]
    merged.update({k: v for k, v in datasets[0].items() if k != "subsets"})
    subsets = [s for s in datasets[0].get("subsets", []) if not s.get("is_reg")]
    if subsets:
        merged.update({k: v for k, v in subsets[0].items() if k not in ("image_dir", "class_tokens")})
    names = ("keep_tokens", "shuffle_caption", "flip_aug", "color_aug", "batch_size",
             "enable_bucket", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps",
             "caption_dropout_rate", "caption_tag_dropout_rate", "resolution")
    for key in names:
        if key in merged and not (key == "resolution" and not isinstance(merged[key], int)):
            try:
                pj.set_setting(project, f"train.{key}", merged[key])
            except UserError as e:
                project.warnings.append(f"{path}: {e}; kept the default")


def _caption_tags(caption: str, trigger: str, class_name: str) -> list[Tag]:
    items = [t.strip() for t in caption.split(",") if t.strip()]
    if items and items[0] == trigger:
        items = items[1:]
    if items and tg.normalize(items[0]) == tg.normalize(class_name):
        items = items[1:]
    names = tg._unique(tg.normalize(t) for t in items)
    return [Tag(n, True, "imported caption", "user", True) for n in names]


def _check_folder(folder: Path, repeats: int, kind: str) -> None:
    """A kohya ``N_name`` folder whose name onelora can use: N in the range its settings allow,
    and a name that is safe as a folder name (engine.names)."""
    field = "repeats"
    limits = {f.name: f.metadata for f in dataclasses.fields(pj.TrainSettings)}[field]
    if not limits["min"] <= repeats <= limits["max"]:
        raise UserError(f"kohya folder {str(folder)!r}: {repeats} repeats is out of range "
                        f"({limits['min']} to {limits['max']}); rename the folder, e.g. "
                        f"'5_{folder.name.partition('_')[2]}'")
    try:
        names.check_name(folder.name, "name", spaces=True)
        if kind == "reg":  # its class becomes the reg folder's class (train: --trigger/--class)
            names.check_name(folder.name.partition("_")[2], "its class part", spaces=True)
    except UserError as e:
        raise UserError(f"kohya {kind} folder {str(folder)!r} cannot be imported: {e}; rename "
                        "the folder") from None


def _with_hint(check: Callable[[str], Any], value: str, what: str, option: str) -> None:
    try:
        check(value)
    except UserError as e:
        raise UserError(f"{what}: {e}; or give it with {option}") from None


def _crop_name(stem: str, used: set[str]) -> str:
    """A crop name from an image file name: letters, digits, ``_ . -``, unique, never a
    reserved device name."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).lstrip("_.-")[:names.MAX_NAME - 8] or "image"
    if names.name_problem(name):
        name = f"image_{name}"
    while name in used:
        name += "_"
    used.add(name)
    return name


def _tag_styles(items: list[str]) -> list[bool]:
    """One vote per multi-word tag: True for ``long_hair``, False for ``long hair``.  One-word
    tags (``smile``) and kaomoji (``^_^``) say nothing about the style."""
    votes = []
    for item in items:
        t = item.strip()
        if not t or tg.is_kaomoji(t):
            continue
        if "_" in t.strip("_") and " " not in t:
            votes.append(True)
        elif " " in t and "_" not in t:
            votes.append(False)
    return votes


def import_kohya(folder: str | os.PathLike, root: str | os.PathLike, trigger: str | None = None,
                 class_name: str | None = None) -> Project:
    """Make a project in ``root`` from a kohya dataset folder.

    ``folder`` may be an export (``img/`` and ``reg/`` inside), a ``train_data_dir`` (``N_name``
    folders inside) or a single ``N_name`` folder.  onelora projects start from one image, so:
    the first training image becomes the project's source, and every training image is copied to
    ``root/imported/<folder>/`` and becomes a crop covering that whole image (``crop.image``; crop
    names are the file names made safe: letters, digits, ``_ . -``).  Each
    caption becomes the crop's tags, all kept and marked as decided (``override``), in caption order,
    so captions come back unchanged; the trigger and class are read from the folder name
    (``N_<trigger> <class>``) or given.  Regularization folders are copied to ``root/reg/``.
    Train settings come from ``dataset_config.toml`` when there is one.
    """
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give a kohya dataset folder (N_name folders "
                        "with images and .txt captions)")
    train_root, reg_root = (folder / "img", folder / "reg") if (folder / "img").is_dir() \
        else (folder, None)
    train = [s for s in _subsets(train_root) if _images(s[2])]
    if not train:
        raise UserError(f"no '<repeats>_<name>' folder with images found in {train_root}; kohya "
                        "folders are named like '5_isab3lla girl'")
    grown = [t for t in train if t[1].endswith(f" {candidates.GROWN_SUFFIX}")]  # round two
    train = [t for t in train if t not in grown] or train
    reg_subsets = _subsets(reg_root) if reg_root is not None and reg_root.is_dir() else []
    for n, _, sub in train + reg_subsets:  # refuse at the door, before anything is written
        _check_folder(sub, n, "reg" if sub.parent == reg_root else "train")
    repeats, tokens, _ = train[0]
    words = tokens.split()
    first_caption = read_caption(_images(train[0][2])[0])
    cap_items = [t.strip() for t in first_caption.split(",") if t.strip()]
    from_folder = f"the trigger read from kohya folder {train[0][2].name!r}"
    if trigger is None:
        _with_hint(pj.check_trigger, words[0], from_folder, "--trigger NAME")
    trigger = trigger or words[0]
    if class_name is None:
        if len(words) > 1:
            class_name = " ".join(words[1:])
        elif len(cap_items) > 1 and cap_items[0] == trigger:
            class_name = cap_items[1]
        else:
            class_name = "girl"
        _with_hint(lambda v: names.check_name(v, "class", spaces=True), class_name,
                   f"the class read from {train[0][2].name!r}", "--class NAME")
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UserError(f"{root} is not empty; choose a new folder for the imported project")
    project = pj.create(_images(train[0][2])[0], root, trigger=trigger, class_name=class_name,
                        check_image=False)  # the source is only a stand-in: crops are the images
    project.train.repeats = repeats
    if len({s[0] for s in train}) > 1:
        project.warnings.append(f"folders have different repeats; using {repeats} for all crops")
    styles = []
    used: set[str] = set()
    for _, _, sub in train:
        for f in _images(sub):
            rel = Path("imported") / sub.name / f.name
            names.inside(project.root / rel, project.root, f"import of {f}")
            pj.atomic_write_bytes(project.root / rel, f.read_bytes())
            with Image.open(f) as img:
                w, h = img.size
            name = _crop_name(f.stem, used)
            caption = read_caption(f)
            styles += _tag_styles(caption.split(",")[2:])
            project.crops.items.append(Crop(name=name, box=[0, 0, w, h], preset="", image=str(rel),
                                            tags=_caption_tags(caption, trigger, class_name)))
    project.tags.underscores = bool(styles) and sum(styles) * 2 >= len(styles)
    for n, _, sub in (t for t in grown if t not in train):
        candidates.import_kept(project, _images(sub), n)
    if reg_subsets:
        for reg_repeats, cls, sub in reg_subsets:
            dest = names.inside(project.root / "reg" / f"{reg_repeats}_{cls}", project.root,
                                f"import of {sub}")
            for f in _images(sub):
                pj.atomic_write_bytes(dest / f.name, f.read_bytes())
                cap = f.with_suffix(".txt")
                if cap.is_file():
                    pj.atomic_write_bytes(dest / cap.name, cap.read_bytes())
            project.reg.repeats = reg_repeats
            if cls != class_name:
                project.reg.class_name = cls
    _apply_config(project, folder)
    pj.save(project)
    return project
