"""Undo/redo of the tags screen: edits as operations on the tags of the crops.

A :class:`Step` is what one user action did to tags — per (crop, tag) the tag before and after
(absent = ``None``), plus which tags joined or left the image's tag list.  Undo applies the
"before" side of each operation to the project as it is now, by crop and tag name; it never
restores a snapshot, so crop boxes, settings, other tags and edits made meanwhile (on another
screen or by the CLI) stay as they are.  Pure data, no textual.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from engine.project import Crop, Project, Tag


@dataclass
class TagOp:
    """One tag on one crop: its value before and after (``None`` = not on the crop)."""

    crop: str
    tag: str
    before: Tag | None
    after: Tag | None
    index: int
    """Where it stood in the crop's list (before, or after when it was added)."""
    target: Crop | None = field(default=None, compare=False, repr=False)
    """The crop object itself: undo finds it even after the crop was renamed (by name only
    when the project was reloaded since)."""


@dataclass
class Step:
    """The operations of one user action, with a label for the toast ("prune long_hair")."""

    label: str
    ops: list[TagOp] = field(default_factory=list)
    image_before: list[str] = field(default_factory=list)
    image_after: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.ops) or self.image_before != self.image_after


TagState = tuple[dict[str, list[Tag]], list[str]]


def tag_state(project: Project) -> TagState:
    """The tags of every crop and the image's tag list (copies), to diff an action against."""
    return ({c.name: [copy.copy(t) for t in c.tags] for c in project.crops.items},
            list(project.tags.image_tags))


def _same(a: Tag | None, b: Tag | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.tag, a.kept, a.reason, a.source, a.override) == \
        (b.tag, b.kept, b.reason, b.source, b.override)


def diff(before: TagState, project: Project, label: str) -> Step:
    """The step that turned ``before`` into the project's current tags."""
    crops_before, image_before = before
    step = Step(label, image_before=list(image_before), image_after=list(project.tags.image_tags))
    for crop in project.crops.items:
        old = crops_before.get(crop.name)
        if old is None:
            continue  # a crop made meanwhile: not this screen's operation
        old_at = {t.tag: (i, t) for i, t in enumerate(old)}
        new_at = {t.tag: (i, t) for i, t in enumerate(crop.tags)}
        for name in [*old_at, *(n for n in new_at if n not in old_at)]:
            i0, t0 = old_at.get(name, (None, None))
            i1, t1 = new_at.get(name, (None, None))
            if not _same(t0, t1):
                step.ops.append(TagOp(crop.name, name, copy.copy(t0), copy.copy(t1),
                                      i0 if i0 is not None else i1, target=crop))
    return step


def _put(project: Project, op: TagOp, value: Tag | None, removing: bool = False) -> bool:
    """Put ``value`` as the crop's tag ``op.tag`` (None: take it off; ``removing``: a removal by
    hand, which a later caption step must not undo - see ``Crop.removed``).  The crop is the
    same object the edit was made on (it may have been renamed since), else one of its name."""
    name, index = op.tag, op.index
    crop = next((c for c in project.crops.items if c is op.target), None) or \
        next((c for c in project.crops.items if c.name == op.crop), None)
    if crop is None:
        return False
    if value is not None:
        crop.removed[:] = [r for r in crop.removed if r != name]
    elif removing and name not in crop.removed:
        crop.removed.append(name)
    at = next((i for i, t in enumerate(crop.tags) if t.tag == name), None)
    if value is None:
        if at is None:
            return False
        del crop.tags[at]
        return True
    if at is None:
        crop.tags.insert(min(index, len(crop.tags)), copy.copy(value))
    else:
        crop.tags[at] = copy.copy(value)
    return True


def apply(project: Project, step: Step, undo: bool) -> int:
    """Apply a step's "before" (undo) or "after" (redo) side to the project as it is now;
    returns how many tag operations applied (those on crops that still exist)."""
    done = 0
    ops = reversed(step.ops) if undo else step.ops
    for op in ops:
        redone_removal = not undo and op.after is None and op.before is not None
        done += _put(project, op, op.before if undo else op.after, removing=redone_removal)
    src, dst = (step.image_after, step.image_before) if undo else \
        (step.image_before, step.image_after)
    image = list(project.tags.image_tags)
    for t in src:
        if t not in dst and t in image:
            image.remove(t)
    for i, t in enumerate(dst):
        if t not in src and t not in image:
            image.insert(min(i, len(image)), t)
    project.tags.image_tags = image
    return done


class History:
    """Undo and redo stacks of tag steps (the newest last)."""

    def __init__(self, limit: int = 200) -> None:
        self.undo: list[Step] = []
        self.redo: list[Step] = []
        self.limit = limit

    def push(self, step: Step) -> None:
        if step:
            self.undo.append(step)
            del self.undo[:-self.limit]
            self.redo.clear()

    def undo_step(self, project: Project) -> Step | None:
        if not self.undo:
            return None
        step = self.undo.pop()
        apply(project, step, undo=True)
        self.redo.append(step)
        return step

    def redo_step(self, project: Project) -> Step | None:
        if not self.redo:
            return None
        step = self.redo.pop()
        apply(project, step, undo=False)
        self.undo.append(step)
        return step
