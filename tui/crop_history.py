"""Undo and redo of exactly what the Crops screen changes, as operations.

An edit is two :class:`CropsState` values — what the Crops screen owns (crop rectangles,
presets, which crops exist and their order, the face and figure boxes, the prep steps) before
and after one change.  Undo moves the *current* project from "after" back to "before" only
where the two differ, so a tag added on the Tags screen in between, or a caption written by
``onelora caption`` meanwhile, is never touched.  A removed crop keeps its object (tags
included) in the edit, so undoing the removal brings it back whole.

No Textual here: the screen drives it, tests can call it on a plain project.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from engine import project as pj


@dataclass(frozen=True)
class CropsState:
    """The part of a project the Crops screen edits."""

    figure_box: tuple
    face_box: tuple
    order: tuple[str, ...]
    crops: dict
    """name → (box, preset, image)."""
    prep: tuple
    """(field, value) pairs of the prep settings."""


def capture(project: pj.Project) -> CropsState:
    cs = project.crops
    return CropsState(
        tuple(cs.figure_box), tuple(cs.face_box), tuple(c.name for c in cs.items),
        {c.name: (tuple(c.box), c.preset, c.image) for c in cs.items},
        tuple(sorted(pj.to_dict(project.prep).items())))


@dataclass
class Edit:
    """One change of the Crops screen."""

    before: CropsState
    after: CropsState
    removed: dict = field(default_factory=dict)
    """Crop objects (with their tags) that one direction of this edit takes out."""
    selected_before: str | None = None
    selected_after: str | None = None


def apply(project: pj.Project, frm: CropsState, to: CropsState, removed: dict) -> None:
    """Change ``project`` from ``frm`` to ``to`` where those two differ; everything else
    (tags, other screens' settings, crops added elsewhere) stays as it is now.  Crops taken
    out are kept in ``removed`` so the opposite direction can put them back."""
    cs = project.crops
    if frm.figure_box != to.figure_box:
        cs.figure_box = list(to.figure_box)
    if frm.face_box != to.face_box:
        cs.face_box = list(to.face_box)
    if frm.prep != to.prep:
        old, new = dict(frm.prep), dict(to.prep)
        for key, value in new.items():
            if old.get(key) != value:
                setattr(project.prep, key, copy.deepcopy(value))
    current = {c.name: c for c in cs.items}
    for name in frm.order:
        if name not in to.crops and name in current:
            removed[name] = current.pop(name)
    for name in to.order:
        box, preset, image = to.crops[name]
        if name not in frm.crops:
            if name not in current:
                crop = removed.pop(name, None) or pj.Crop(name=name)
                crop.name = name  # a renamed crop (one object, tags and all) takes this side's name
                crop.box, crop.preset, crop.image = list(box), preset, image
                current[name] = crop
        elif frm.crops[name] != to.crops[name] and name in current:
            crop = current[name]
            fbox, fpreset, fimage = frm.crops[name]
            if fbox != box:
                crop.box = list(box)
            if fpreset != preset:
                crop.preset = preset
            if fimage != image:
                crop.image = image
    # Order: what is there now stays in place; a crop put back goes after its predecessor.
    items = [c for c in cs.items if current.get(c.name) is c]
    for i, name in enumerate(to.order):
        if name in current and all(c.name != name for c in items):
            before = {n for n in to.order[:i]}
            at = max((k + 1 for k, c in enumerate(items) if c.name in before), default=0)
            items.insert(at, current[name])
    cs.items[:] = items


class History:
    """The Crops screen's undo and redo stacks."""

    LIMIT = 200

    def __init__(self) -> None:
        self.undo: list[Edit] = []
        self.redo: list[Edit] = []

    def push(self, edit: Edit) -> None:
        self.undo.append(edit)
        del self.undo[:-self.LIMIT]
        self.redo.clear()

    def clear(self) -> None:
        self.undo.clear()
        self.redo.clear()

    def step_back(self, project: pj.Project, selected: str | None) -> Edit | None:
        """Undo the newest edit on ``project``; returns it (None: nothing to undo)."""
        if not self.undo:
            return None
        edit = self.undo.pop()
        edit.selected_after = selected
        apply(project, edit.after, edit.before, edit.removed)
        self.redo.append(edit)
        return edit

    def step_forward(self, project: pj.Project) -> Edit | None:
        """Redo the newest undone edit on ``project``."""
        if not self.redo:
            return None
        edit = self.redo.pop()
        apply(project, edit.before, edit.after, edit.removed)
        self.undo.append(edit)
        return edit
