"""One project store: every in-process save of ``project.toml`` goes through here.

The store remembers the last version of the file this process read or wrote (the *base*, a
plain dict from :func:`engine.project.file_dict`, unknown keys included) and a stamp of
the file (mtime, size and SHA-256).  Saving a project writes the difference between the base and the in-memory
project onto the *current* file:

- the file did not change since the last read or write → the project is written as is;
- another program (``onelora caption`` in a second shell, an editor) changed it → it is read
  again and the three versions are merged (base, ours = the in-memory project, theirs = the
  file): per setting key, crops matched by name, each crop's tags matched by tag text.  A
  value changed on one side only takes that side's value, so CLI and TUI edits compose; a
  value changed differently on both sides keeps ours, and a notice says so.  The merged
  result goes into the in-memory project (in place, keeping its objects) and to disk.

:meth:`ProjectStore.absorb` does the same merge without writing, for a program that polls
the file (the TUI) and wants another program's changes while keeping unsaved edits.

Every project read from a file carries the store it was read through (``project.store``,
see :func:`store_of`): the base is per loaded project, so two copies of one project in a
process (the TUI's and an in-process CLI command's) merge like two programs do.  The
result is written onto the file's current text (engine/toml_edit.py), so the user's comments
and layout survive every save.  Every save,
in every process, holds an exclusive lock on the project folder while it reads, merges and
writes, so concurrent saves take turns.  Torch-free and Textual-free; thread-safe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import project as pj
from engine import reg, toml_edit
from engine.errors import UserError
from engine.files import atomic_write_bytes, exclusive_lock

_MISSING = object()


# ---------------------------------------------------------------------------------------
# Three-way merge of project dicts
# ---------------------------------------------------------------------------------------

def _list_key(path: tuple) -> str | None:
    """The field that identifies an item of the list at ``path`` (None = a plain value)."""
    if path == ("crops", "items"):
        return "name"
    if len(path) == 4 and path[:2] == ("crops", "items") and path[3] == "tags":
        return "tag"
    return None


# Lists that are sets of decisions: each side's additions and removals are merged item by
# item, so a keep in the TUI and a `grow --keep` in another shell both stay.
_SET_LISTS = {("reg", "removed"), ("grow", "kept"), ("grow", "discarded"),
              ("tags", "image_tags"), ("tags", "extra_trait_tags"), ("tags", "never_trait_tags")}


def _merge_set(b: Any, o: list, t: list) -> list | None:
    """Three-way merge of a list used as a set (None: items that cannot be compared)."""
    try:
        base, ours, theirs = set(b if isinstance(b, list) else []), set(o), set(t)
    except TypeError:
        return None
    gone = {x for x in base if x not in ours or x not in theirs}
    out = [x for x in o if x not in gone]
    out += [x for x in t if x not in ours and x not in base and x not in out]
    return out


def _one_decision_each(merged: dict, ours: dict) -> None:
    """A grow candidate kept on one side and discarded on the other: this program's says."""
    grow, mine = merged.get("grow"), ours.get("grow")
    if not isinstance(grow, dict) or not isinstance(mine, dict):
        return
    kept, discarded = grow.get("kept"), grow.get("discarded")
    if not isinstance(kept, list) or not isinstance(discarded, list):
        return
    both = set(kept) & set(discarded)
    if both:
        ours_kept = set(mine.get("kept") or [])
        grow["kept"] = [n for n in kept if n not in both or n in ours_kept]
        grow["discarded"] = [n for n in discarded if n not in both or n not in ours_kept]


def _label(path: tuple) -> str:
    out = ""
    for i, part in enumerate(path):
        if i and _list_key(path[:i]) is not None:
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(removed)"
    if isinstance(value, dict):
        return "(changed)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def merge3(base: dict, ours: dict, theirs: dict) -> tuple[dict, list[str]]:
    """Merge two edits of ``base``; returns ``(merged, notices)``.

    A key changed on one side only takes that side's value; changed identically on both,
    that value; changed differently on both, *ours* wins and a notice names the key and
    both values.  ``crops.items`` is merged per crop name and each crop's ``tags`` per tag
    text, so a crop (or a tag) added on each side keeps both; lists of decisions
    (``grow.kept``, ``reg.removed``, the image tags, ...) item by item.
    """
    notices: list[str] = []
    merged = _merge((), base, ours, theirs, notices)
    if isinstance(merged, dict) and isinstance(ours, dict):
        _one_decision_each(merged, ours)
    return merged, notices


def _merge(path: tuple, b: Any, o: Any, t: Any, notices: list[str]) -> Any:
    if o == t:
        return o
    if o == b:
        return t
    if t == b:
        return o
    if isinstance(o, dict) and isinstance(t, dict):
        bd = b if isinstance(b, dict) else {}
        out = {}
        for k in list(o) + [k for k in t if k not in o]:
            v = _merge(path + (k,), bd.get(k, _MISSING), o.get(k, _MISSING),
                       t.get(k, _MISSING), notices)
            if v is not _MISSING:
                out[k] = v
        return out
    is_set = path in _SET_LISTS or (len(path) == 4 and path[:2] == ("crops", "items")
                                    and path[3] == "removed")
    if is_set and isinstance(o, list) and isinstance(t, list):
        merged_set = _merge_set(b, o, t)
        if merged_set is not None:
            return merged_set
    key = _list_key(path)
    if key is not None and isinstance(o, list) and isinstance(t, list):
        merged = _merge_keyed(path, key, b if isinstance(b, list) else [], o, t, notices)
        if merged is not None:
            return merged
    notices.append(f"{_label(path)}: changed here and in another program; kept this "
                   f"program's {_show(o)} (the other had {_show(t)})")
    return o


def _by_key(items: list, key: str) -> dict | None:
    out = {}
    for item in items:
        if not isinstance(item, dict) or key not in item or item[key] in out:
            return None  # not a keyed list after all: merge it as one value
        out[item[key]] = item
    return out


def _merge_keyed(path: tuple, key: str, b: list, o: list, t: list,
                 notices: list[str]) -> list | None:
    bm, om, tm = _by_key(b, key), _by_key(o, key), _by_key(t, key)
    if bm is None or om is None or tm is None:
        return None
    # Order: ours unless only the other side reordered; items new on the other side go
    # after their predecessor there.
    first, second = (tm, om) if list(om) == list(bm) else (om, tm)
    order = list(first)
    prev = None
    for name in second:
        if name not in order:
            order.insert(order.index(prev) + 1 if prev in order else 0, name)
        prev = name
    out = []
    for name in order:
        v = _merge(path + (name,), bm.get(name, _MISSING), om.get(name, _MISSING),
                   tm.get(name, _MISSING), notices)
        if v is not _MISSING:
            out.append(v)
    return out


# ---------------------------------------------------------------------------------------
# Putting a merged project into the in-memory one
# ---------------------------------------------------------------------------------------

_ITEM_KEYS = {pj.Crop: "name", pj.Tag: "tag"}


def update_in_place(old: Any, new: Any) -> None:
    """Make dataclass ``old`` equal to ``new`` while keeping ``old``'s objects (sections,
    crops matched by name, tags by text), so widgets holding them see the new values."""
    for f in dataclasses.fields(old):
        if not f.metadata.get("stored", True):
            continue
        ov, nv = getattr(old, f.name), getattr(new, f.name)
        if dataclasses.is_dataclass(ov) and type(ov) is type(nv):
            update_in_place(ov, nv)
        elif (isinstance(ov, list) and isinstance(nv, list) and nv
              and type(nv[0]) in _ITEM_KEYS):
            attr = _ITEM_KEYS[type(nv[0])]
            olds = {getattr(x, attr): x for x in ov if type(x) is type(nv[0])}
            items = []
            for item in nv:
                keep = olds.pop(getattr(item, attr), None)
                if keep is not None:
                    update_in_place(keep, item)
                    items.append(keep)
                else:
                    items.append(item)
            ov[:] = items
        elif ov != nv:
            setattr(old, f.name, nv)


# ---------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stamp:
    """What project.toml looked like when last read or written."""

    mtime_ns: int
    size: int
    sha256: str
    taken_ns: int = 0
    """When the stamp was taken: a file modified in the same clock tick as our own read or
    write keeps its mtime, so until the file is older than that tick the hash decides."""

    def trusted(self, now: tuple[int, int]) -> bool:
        """True if ``now`` (mtime_ns, size) proves the file unchanged without reading it."""
        return (now == (self.mtime_ns, self.size)
                and self.taken_ns - self.mtime_ns > _RACY_NS)


_RACY_NS = 50_000_000
"""File-system timestamps tick in steps (a few ms); closer than this to our stamp, hash."""


def _stamp_of(raw: bytes, st: os.stat_result) -> Stamp:
    return Stamp(st.st_mtime_ns, st.st_size, hashlib.sha256(raw).hexdigest(), time.time_ns())


@dataclass
class SaveReport:
    """What a save (or an absorb) did."""

    path: Path
    wrote: bool = False
    """True if project.toml was written."""
    merged: bool = False
    """True if another program's changes were merged into the in-memory project."""
    notices: list[str] = field(default_factory=list)
    """Values changed on both sides (ours kept), one line each, for the user."""


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _text_of(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _folder_lock(root: Path):
    """An exclusive lock on the project folder while a save reads, merges and writes, so
    two processes saving at once (the TUI and ``onelora caption``) take turns instead of one
    writing over a file the other has just merged."""
    return exclusive_lock(root)


class ProjectGone(UserError):
    """The project folder this store read was moved or deleted: nothing is written (a save
    would re-make a folder holding only project.toml at the old path)."""


def _dir_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class ProjectStore:
    """Loads and saves one project folder's ``project.toml``, merging outside changes."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.path = self.root / pj.PROJECT_FILE
        self._lock = threading.RLock()
        self._base: dict | None = None
        self._stamp: Stamp | None = None
        self._text: str | None = None
        """The file's text as of ``_stamp``: a save edits it (keeping the user's comments)."""
        self._editor = toml_edit.Editor()
        self.writes = 0
        """How many times this store wrote project.toml (the benchmark counts them)."""
        self.merges = 0
        """How many times another program's changes were merged in."""
        self._notices: list[str] = []
        self._root_id = _dir_id(self.root)
        """The folder read or written (device, inode): a folder made anew at the same path
        after a move is not this project."""

    def gone(self) -> str:
        """Why this project's folder is no longer there ("" while it is): moved or deleted
        after the store read it, or replaced by another folder of the same name that has no
        project.toml.  A project.toml deleted from its own folder is not "gone": the next save
        writes it back there."""
        if self._base is None:
            return ""  # never read or written: a first save makes it
        now = _dir_id(self.root)
        if now is not None and (now == self._root_id or self.path.exists()):
            return ""
        return (f"the project folder {self.root} is gone (moved or deleted?): nothing was "
                f"saved there and your edits are kept in memory; move the folder back to "
                f"{self.root} to save them")

    # -- reading -------------------------------------------------------------------------
    def _read(self) -> tuple[dict, Stamp, str]:
        before = _stat(self.path)
        if before is None:
            raise UserError(f"{self.path} not found: create a project with "
                            f"'onelora new IMAGE {self.root} --trigger NAME'")
        raw = self.path.read_bytes()
        st = os.stat(self.path)
        stamp = _stamp_of(raw, st)
        if len(raw) != st.st_size:  # replaced while we read: the stamp must not lie
            stamp = Stamp(0, -1, stamp.sha256)
        try:
            text = raw.decode("utf-8")
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"{self.path} is not valid TOML ({e}); fix the line or restore "
                            "a backup")
        except UnicodeDecodeError:
            raise UserError(f"{self.path} is not UTF-8 text")
        return data, stamp, text

    def _parse(self, data: dict) -> pj.Project:
        try:
            return pj.project_from_dict(data, self.root)
        except UserError as e:
            raise UserError(f"{self.path}: {e}") from None

    def load(self) -> pj.Project:
        """Read project.toml; it becomes the base of later saves."""
        with self._lock:
            data, stamp, text = self._read()
            project = self._parse(data)
            project.store = self
            self._base, self._stamp, self._text = pj.file_dict(project), stamp, text
            self._root_id = _dir_id(self.root)
        pj.remove_stale_temps(self.path)  # left by a save that was killed halfway
        pj.announce(self.path, project.warnings)
        return project

    def changed_on_disk(self) -> bool:
        """True if project.toml differs from what this store last read or wrote.  Costs a
        ``stat`` when nothing changed (the TUI polls it); a touched but identical file is
        recognised by its hash and not reported."""
        with self._lock:
            now = _stat(self.path)
            if self._stamp is None or now is None:
                return now is not None and self._base is not None
            if self._stamp.trusted(now):
                return False
            try:
                raw = self.path.read_bytes()
                st = os.stat(self.path)
            except FileNotFoundError:
                return False
            stamp = _stamp_of(raw, st)
            if stamp.sha256 == self._stamp.sha256:
                if len(raw) == st.st_size:
                    self._stamp = stamp
                return False
            return True

    # -- merging -------------------------------------------------------------------------
    def _merge_disk(self, project: pj.Project,
                    ours: dict) -> tuple[dict, dict, Stamp, str, list[str]]:
        """Read the changed file and merge it with ``ours``:
        (merged, theirs, stamp, text, notices)."""
        theirs, stamp, text = self._read()
        theirs = pj.file_dict(self._parse(theirs))  # defaults filled in, like base and ours
        base = self._base if self._base is not None else theirs
        merged, notices = merge3(base, ours, theirs)
        return merged, theirs, stamp, text, notices

    def __deepcopy__(self, memo: dict) -> ProjectStore:
        return self  # a copy of a project (a what-if of the prep step) shares its file's store

    def _adopt(self, project: pj.Project, merged: dict) -> None:
        new = self._parse(merged)
        update_in_place(project, new)
        project.unknown = new.unknown  # keys a newer onelora (or the user) wrote: kept

    def absorb(self, project: pj.Project) -> SaveReport | None:
        """If project.toml changed on disk, merge it into ``project`` without writing:
        unsaved in-memory edits stay (and win over a different outside value).  Returns
        None when nothing changed."""
        with self._lock:
            if not self.changed_on_disk():
                return None
            ours = pj.file_dict(project)
            merged, theirs, stamp, text, notices = self._merge_disk(project, ours)
            self._adopt(project, merged)
            self._base, self._stamp, self._text = theirs, stamp, text
            self.merges += 1
            self._notices += notices
            return SaveReport(self.path, wrote=False, merged=merged != ours, notices=notices)

    # -- writing -------------------------------------------------------------------------
    def save(self, project: pj.Project) -> SaveReport:
        """Write ``project`` onto the current file (merging outside changes, see the module
        docstring).  Nothing is written when nothing changed.  Raises UserError for an
        invalid project or an unreadable changed file (the in-memory project is kept)."""
        with self._lock, _folder_lock(self.root):
            gone = self.gone()
            if gone:
                raise ProjectGone(gone)
            ours = pj.file_dict(project)
            report = SaveReport(self.path)
            data, text = ours, self._text
            on_disk = self._base
            if self.changed_on_disk():
                merged, theirs, stamp, text, notices = self._merge_disk(project, ours)
                if merged != ours:
                    self._adopt(project, merged)
                    report.merged = True
                self.merges += 1
                report.notices = notices
                self._notices += notices
                if merged == theirs:  # the file already says it all
                    self._base, self._stamp, self._text = theirs, stamp, text
                    return report
                data, on_disk = merged, theirs
            elif ours == self._base and self.path.exists():
                return report
            if not self.path.exists():
                text = None  # gone, or never written: a fresh file
            elif text is None:  # a project made in memory over an existing file
                text = _text_of(self.path)
            pj.check(project)
            # a new reg folder name (repeats or class changed) takes the generated set along
            move = reg.plan_move(self.root, on_disk, data)
            if move is not None:
                data["reg"]["removed"] = list(move.removed)
                project.reg.removed = list(move.removed)
            # Only the layout comes from the old text (the user's comments, key order):
            # the content written is exactly ``data`` (engine/toml_edit.py).
            raw = self._editor.dumps(text, data).encode("utf-8")
            if move is None:
                atomic_write_bytes(self.path, raw)
            else:  # a reg generation running now sees the new name and the moved set together
                with reg.folder_lock(self.root):
                    atomic_write_bytes(self.path, raw)
                    reg.do_move(self.root, move)
            self._stamp = _stamp_of(raw, os.stat(self.path))
            self._base, self._text = data, raw.decode("utf-8")
            self._root_id = _dir_id(self.root)
            self.writes += 1
            report.wrote = True
            return report

    def take_notices(self) -> list[str]:
        """Conflict notices not yet shown to the user (and forget them)."""
        with self._lock:
            out, self._notices = self._notices, []
            return out


def store_of(project: pj.Project) -> ProjectStore:
    """The store ``project`` was read through (a new one, remembered on the project, for a
    project made in memory: its first save writes it whole)."""
    if project.store is None or Path(project.store.root).resolve() != Path(project.root).resolve():
        project.store = ProjectStore(project.root)
    return project.store


def load(root: str | os.PathLike) -> pj.Project:
    """Read ``root/project.toml`` through a new store (the project remembers it)."""
    return ProjectStore(root).load()


def save(project: pj.Project) -> Path:
    """Save ``project`` through its store (merging what others changed since it was read)."""
    store_of(project).save(project)
    return project.path
