"""Undo and redo of exactly what the Crops screen changes, as operations.

An edit is two :class:`CropsState` values — what the Crops screen owns (crop rectangles,
presets, which crops exist and their order, the face and figure boxes, the prep steps) before
and after one change.  Undo moves the *current* project from "after" back to "before" only
where the two differ, so a tag added on the Tags screen in between, or a caption written by
``onelora caption`` meanwhile, is never touched.  A box is put back only if it still holds
the value the edit left: one changed since (``onelora crops --set`` in another shell) stays as
it is, rescaled when the edit changed the prepared image's size (an upscale), so undoing the
upscale neither drops that change nor leaves it at the wrong scale.  A removed crop keeps its
object (tags included) in the edit, so undoing the removal brings it back whole.

No Textual here: the screen drives it, tests can call it on a plain project.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from engine import project as pj
from engine.crops import clamp_box


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
    size: tuple | None = None
    """The prepared image's (width, height) the boxes are in (None: not known)."""


def capture(project: pj.Project, size: tuple[int, int] | None = None) -> CropsState:
    cs = project.crops
    return CropsState(
        tuple(cs.figure_box), tuple(cs.face_box), tuple(c.name for c in cs.items),
        {c.name: (tuple(c.box), c.preset, c.image) for c in cs.items},
        tuple(sorted(pj.to_dict(project.prep).items())), tuple(size) if size else None)


def _box_to(current, frm, to, frm_size, to_size, left: list | None = None, name: str = ""):
    """The box a crop gets when an edit goes from ``frm`` to ``to``: ``to`` if the box still
    is ``frm``; a box changed elsewhere since stays, scaled when the image size changes (its
    name goes into ``left`` when it stays as it is)."""
    if tuple(current) == tuple(frm) or len(current) != 4:
        return list(to)
    if frm_size and to_size and tuple(frm_size) != tuple(to_size):
        sx, sy = to_size[0] / frm_size[0], to_size[1] / frm_size[1]
        x, y, w, h = current
        return clamp_box([x * sx, y * sy, w * sx, h * sy], to_size)
    if left is not None:
        left.append(name)
    return list(current)


@dataclass
class Edit:
    """One change of the Crops screen."""

    before: CropsState
    after: CropsState
    removed: dict = field(default_factory=dict)
    """Crop objects (with their tags) that one direction of this edit takes out."""
    selected_before: str | None = None
    selected_after: str | None = None
    left_alone: list = field(default_factory=list)
    """Boxes the last undo/redo of this edit left as they were: changed elsewhere since."""


def apply(project: pj.Project, frm: CropsState, to: CropsState, removed: dict,
          left: list | None = None) -> None:
    """Change ``project`` from ``frm`` to ``to`` where those two differ; everything else
    (tags, other screens' settings, crops added elsewhere) stays as it is now.  Crops taken
    out are kept in ``removed`` so the opposite direction can put them back."""
    cs = project.crops
    sizes = (frm.size, to.size)
    if frm.figure_box != to.figure_box:
        cs.figure_box = _box_to(cs.figure_box, frm.figure_box, to.figure_box, *sizes, left,
                                "figure box")
    if frm.face_box != to.face_box:
        cs.face_box = _box_to(cs.face_box, frm.face_box, to.face_box, *sizes, left, "face box")
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
                crop.box = _box_to(crop.box, fbox, box, *sizes, left, name)
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
        edit.left_alone = []
        apply(project, edit.after, edit.before, edit.removed, edit.left_alone)
        self.redo.append(edit)
        return edit

    def step_forward(self, project: pj.Project) -> Edit | None:
        """Redo the newest undone edit on ``project``."""
        if not self.redo:
            return None
        edit = self.redo.pop()
        edit.left_alone = []
        apply(project, edit.before, edit.after, edit.removed, edit.left_alone)
        self.undo.append(edit)
        return edit


def _box_change(old, new) -> str:
    """"move" when only the position changed, else "resize"."""
    return "move" if len(old) == len(new) == 4 and tuple(old[2:]) == tuple(new[2:]) else "resize"


def describe(edit: Edit) -> str:
    """What ``edit`` did, in the user's words ("move of crop face", "removal of crop custom_1",
    "fix stray pixels"): the undo and redo toasts say it."""
    from tui import prep_steps

    b, a = edit.before, edit.after
    parts = prep_steps.describe(dict(b.prep), dict(a.prep))
    changed = [n for n in a.order if n in b.crops and b.crops[n] != a.crops[n]]
    if parts:  # an upscale rescales every crop with it: the prep step is what was done
        changed = []
    if b.face_box != a.face_box:
        follow = f" (and {len(changed)} crop{'s' if len(changed) != 1 else ''} placed from it)" \
            if changed else ""
        parts.append(f"{_box_change(b.face_box, a.face_box)} of the face box{follow}")
        changed = []
    added = [n for n in a.order if n not in b.crops]
    gone = [n for n in b.order if n not in a.crops]
    for n in list(added):  # a rename: same place in the list, same box, preset and image
        i = a.order.index(n)
        o = b.order[i] if i < len(b.order) else None
        if o in gone and b.crops[o] == a.crops[n]:
            parts.append(f"rename of crop {o} to {n}")
            added.remove(n)
            gone.remove(o)
    parts += [f"new crop {n}" for n in added]
    parts += [f"removal of crop {n}" for n in gone]
    if len(changed) > 2:
        parts.append(f"{len(changed)} crops ({', '.join(changed[:3])}"
                     f"{'…' if len(changed) > 3 else ''})")
    else:
        for n in changed:
            (obox, opreset, _), (nbox, npreset, _) = b.crops[n], a.crops[n]
            if opreset != npreset and npreset:
                parts.append(f"preset {npreset.replace('_', ' ')} on crop {n}")
            else:
                parts.append(f"{_box_change(obox, nbox)} of crop {n}")
    if not parts and b.order != a.order:
        parts.append("crop order")
    return "; ".join(parts) or "a crops change"
