"""The regularization set on disk: ``DIR/reg/<repeats>_<class>/NNNN.png`` + ``NNNN.txt``.

Generation is in engine/sample.py (torch); this light module lists the images and prunes
them for the CLI and the TUI gallery.  A removed image is moved (with its caption) to
``DIR/reg_removed/<folder>/`` — outside ``reg/``, so the kohya export no longer sees it —
and recorded in ``project.reg.removed`` so a resumed generation does not draw it again.
When a save changes the folder's name (reg repeats, the reg class or the project's class), the
project store moves both folders along (:func:`plan_move`, :func:`do_move`); a generation
running meanwhile follows the set to its new folder (:func:`folder_lock`, :func:`live_folder`).
"""

from __future__ import annotations

import os
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine import project as pj
from engine.files import exclusive_lock
from engine.errors import UserError

REG_DIR = "reg"
REMOVED_DIR = "reg_removed"
FOLDER_LOCK = ".reg-folder.lock"
"""In ``DIR/runs/``: held while the reg folder is renamed and while a generation writes an image."""

PROMPT_TAIL = "solo, clothes, __expression__, __camera__, {indoors|outdoors}"
"""The default reg prompt after its class tag (the seed workflow's prompt)."""
LEGACY_PROMPT = f"1woman, {PROMPT_TAIL}"
"""The default every project got before the prompt followed the class word ("1woman" even for a
girl); a project still holding it unchanged gets its class's default when loaded."""
COUNTED_CLASSES = frozenset({"girl", "boy", "woman", "man", "other"})
"""Class words written as a Danbooru-style counted tag: girl → 1girl, other → 1other."""


def class_tag(class_name: str) -> str:
    """The class word as the prompt's first tag: ``1girl``, ``1boy``, ``1woman``, ``1man``,
    ``1other``; any other class (``cat``, ``robot``) is its own tag."""
    word = " ".join(class_name.split()).lower()
    return f"1{word}" if word in COUNTED_CLASSES else word


def default_prompt(class_name: str) -> str:
    """The reg prompt a new project of class ``class_name`` starts with."""
    return f"{class_tag(class_name)}, {PROMPT_TAIL}"


def follow_class(project: pj.Project, old_class: str) -> bool:
    """After the class word changed from ``old_class``: a reg prompt that is still the old
    class's default becomes the new class's default; a prompt the user edited is never
    touched.  True when the prompt changed (the caller saves)."""
    if project.reg.prompt.strip() not in (default_prompt(old_class), LEGACY_PROMPT):
        return False
    new = default_prompt(project.class_name)
    changed = new != project.reg.prompt
    project.reg.prompt = new
    return changed


def upgrade_prompt(project: pj.Project, stored: dict) -> None:
    """On load (``stored`` = the file's ``[reg]`` table): no prompt, or the old fixed default
    ``1woman, ...`` unchanged, becomes the class's default.  Any other text is the user's and
    stays as it is."""
    prompt = stored.get("prompt") if isinstance(stored, dict) else None
    if prompt is None or prompt == LEGACY_PROMPT:
        project.reg.prompt = default_prompt(project.class_name)


def reg_folder(project: pj.Project) -> Path:
    """``DIR/reg/<repeats>_<class>`` (class = reg.class_name or the project's class)."""
    name = (project.reg.class_name or project.class_name).strip()
    return Path(project.root) / REG_DIR / f"{project.reg.repeats}_{name}"


def rel(project: pj.Project, path: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(project.root).resolve())).as_posix()


def images(project: pj.Project) -> list[Path]:
    """The kept regularization images, in number order."""
    folder = reg_folder(project)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.stem.isdigit())


def removed_paths(project: pj.Project) -> set[str]:
    return set(project.reg.removed)


def caption_of(image: Path) -> str:
    try:
        return image.with_suffix(".txt").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _resolve(project: pj.Project, image: str | os.PathLike) -> Path:
    """An image named by path, by its name in the reg folder (``0003.png``) or number (``3``)."""
    raw = str(image)
    candidates = [Path(raw), Path(project.root) / raw, reg_folder(project) / raw]
    if raw.isdigit():
        candidates.append(reg_folder(project) / f"{int(raw):04d}.png")
    for c in candidates:
        if c.is_file():
            return c
    return candidates[-1]


def remove(project: pj.Project, image_names: list[str], save: bool = True) -> list[str]:
    """Prune images: move them and their captions to ``reg_removed/`` and record them in
    ``reg.removed``.  Returns the project-relative paths removed."""
    done = []
    for name in image_names:
        path = _resolve(project, name)
        key = rel(project, reg_folder(project) / path.name)
        if not path.is_file():
            if key in project.reg.removed:
                continue
            raise UserError(f"regularization image {name!r} not found in {reg_folder(project)}")
        if not str(key).startswith(REG_DIR + "/"):
            raise UserError(f"{name} is not in {reg_folder(project)}: only generated "
                            "regularization images can be removed")
        dest = Path(project.root) / REMOVED_DIR / path.parent.name / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
        txt = path.with_suffix(".txt")
        if txt.exists():
            os.replace(txt, dest.with_suffix(".txt"))
        if key not in project.reg.removed:
            project.reg.removed.append(key)
        done.append(key)
    if save and done:
        pj.save(project)
    return done


def restore(project: pj.Project, image_name: str, save: bool = True) -> bool:
    """Undo a removal (the gallery's keep on a removed image)."""
    name = Path(image_name).name
    folder = reg_folder(project)
    key = rel(project, folder / name)
    src = Path(project.root) / REMOVED_DIR / folder.name / name
    if not src.is_file():
        return False
    os.replace(src, folder / name)
    if src.with_suffix(".txt").exists():
        os.replace(src.with_suffix(".txt"), (folder / name).with_suffix(".txt"))
    project.reg.removed = [r for r in project.reg.removed if r != key]
    if save:
        pj.save(project)
    return True


def is_removed(project: pj.Project, index: int) -> bool:
    return rel(project, reg_folder(project) / f"{index:04d}.png") in project.reg.removed


# -- the folder follows its name -------------------------------------------------------------

def folder_name_of(data: dict | None) -> str | None:
    """The reg folder name (``<repeats>_<class>``) a project.toml dict gives (None: unknown)."""
    if not isinstance(data, dict) or not isinstance(data.get("reg"), dict):
        return None
    reg = data["reg"]
    cls = str(reg.get("class_name") or data.get("class_name") or "").strip()
    repeats = reg.get("repeats", pj.RegSettings().repeats)
    if not cls or not isinstance(repeats, int):
        return None
    return f"{repeats}_{cls}"


@dataclass
class FolderMove:
    """The regularization set moving to a renamed folder (see :func:`plan_move`)."""

    old: str
    new: str
    removed: list[str]
    """``reg.removed`` with its paths under the new folder name."""


def plan_move(root: str | os.PathLike, before: dict | None, after: dict) -> FolderMove | None:
    """The move a save from ``before`` to ``after`` calls for: when ``reg.repeats``, the reg
    class or the project's class changes, the folder name ``reg/<repeats>_<class>`` changes,
    and the images generated (and pruned) under the old name would drop out of the set, the
    gallery, the export and training.  None when the name is unchanged, the old folder holds
    nothing, or the new one already holds images (both are then left as they are)."""
    old, new = folder_name_of(before), folder_name_of(after)
    if not old or not new or old == new:
        return None
    base = Path(root)
    src, dest = base / REG_DIR / old, base / REG_DIR / new
    if not src.is_dir() or not any(src.iterdir()):
        return None
    if dest.exists() and any(dest.iterdir()):
        return None
    prefix = f"{REG_DIR}/{old}/"
    removed = [f"{REG_DIR}/{new}/{r[len(prefix):]}" if r.startswith(prefix) else r
               for r in after.get("reg", {}).get("removed", [])]
    return FolderMove(old, new, removed)


@contextmanager
def folder_lock(root: str | os.PathLike):
    """Held (``flock``, across processes) by the store while it writes a new folder name and
    moves the set, and by a generation while it picks the folder of an image and writes it:
    an image never lands in a folder that was just moved away (it would make a second set
    under the old name that the project no longer names)."""
    from engine import runs

    lock_dir = runs.runs_root(root)
    try:
        lock_dir.mkdir(exist_ok=True)  # never the project folder itself (moved away: no lock)
    except OSError:
        yield
        return
    with exclusive_lock(lock_dir / FOLDER_LOCK, create=True):
        yield


def live_folder(root: str | os.PathLike, folder: Path) -> Path:
    """Where a generation that began in ``folder`` writes its next image (call it under
    :func:`folder_lock`): ``folder`` while it is there (a rename still to come takes the new
    image along), else the folder ``project.toml`` names now when that is another one (the
    set was renamed, or renamed before its first image)."""
    folder = Path(folder)
    if folder.is_dir():
        return folder
    try:
        data = tomllib.loads((Path(root) / pj.PROJECT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return folder
    name = folder_name_of(data)
    return Path(root) / REG_DIR / name if name else folder


def removed_in(project: pj.Project, folder: Path) -> set[str]:
    """Names of the images the user removed from ``folder`` (project.toml as it is on disk
    now, which knows removals made under a later name; the frozen ``project`` otherwise)."""
    removed = list(project.reg.removed)
    try:
        data = tomllib.loads((Path(project.root) / pj.PROJECT_FILE).read_text(encoding="utf-8"))
        removed += [str(r) for r in data.get("reg", {}).get("removed", [])]
    except (OSError, ValueError, AttributeError):
        pass
    prefix = f"{REG_DIR}/{Path(folder).name}/"
    return {r[len(prefix):] for r in removed if r.startswith(prefix)}


def do_move(root: str | os.PathLike, move: FolderMove) -> None:
    """Rename ``reg/<old>`` (and ``reg_removed/<old>``) to the new name."""
    base = Path(root)
    for top in (REG_DIR, REMOVED_DIR):
        src, dest = base / top / move.old, base / top / move.new
        if not src.is_dir():
            continue
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        if not dest.exists():
            os.replace(src, dest)
