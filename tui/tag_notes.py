"""What a tag edit on the Tags screen did, as one notification that names the crops it touched
(``smile added to 8 crops: full_body, cowboy_shot, +6 more``) and, for a tag the rules prune,
on which crops and why (``pruned by the rules on face (not visible: feet)``)."""

from __future__ import annotations

from engine.project import Project
from engine.tags import TagChange, normalize
from tui.wording import crop_list

KEEP_KEY = "space"
"""The Tags screen key that keeps a pruned tag on the highlighted crop."""


def _reason(project: Project, crop: str, tag: str) -> str:
    c = project.crop(crop)
    t = next((t for t in c.tags if normalize(t.tag) == tag), None) if c else None
    return t.reason if t is not None else ""


def _pruned_part(project: Project, changes: list[TagChange]) -> str:
    """``pruned by the rules on face, bangs (not visible: feet)``, one group per reason."""
    groups: dict[str, list[str]] = {}
    for ch in changes:
        if ch.after == "pruned":
            groups.setdefault(_reason(project, ch.crop, ch.tag), []).append(ch.crop)
    parts = [f"on {crop_list(crops)}" + (f" ({why})" if why else "")
             for why, crops in groups.items()]
    return f"pruned by the rules {'; '.join(parts)}" if parts else ""


def all_there(project: Project, tags: list[str], crop) -> bool:
    """Whether every one of ``tags`` is already on ``crop`` (None: on every crop)."""
    targets = [crop] if crop is not None else project.crops.items
    return all(any(normalize(t.tag) == normalize(tag) for t in c.tags)
               for c in targets for tag in tags)


def added_note(project: Project, tags: list[str], changes: list[TagChange],
               crop: str | None) -> str:
    """After ``a`` (``crop`` = the crop) or ``A`` (``crop`` = None, every crop)."""
    total = len(project.crops.items)
    notes = []
    for tag in dict.fromkeys(normalize(t) for t in tags):
        mine = [ch for ch in changes if ch.tag == tag and ch.before is None]
        names = [ch.crop for ch in mine]
        if not mine:
            if crop is None:
                notes.append(f"{tag} is already on every crop")
                continue
            why = _reason(project, crop, tag)
            state = next((t.kept for t in project.crop(crop).tags if normalize(t.tag) == tag), True)
            notes.append(f"{tag} is already on {crop}" + ("" if state else
                         f", pruned ({why}); {KEEP_KEY} keeps it"))
            continue
        if crop:
            note = f"{tag} added to {crop}"
        elif len(names) == total:
            note = f"{tag} added to all {total} crops ({crop_list(names)})"
        else:
            note = (f"{tag} added to {len(names)} crops: {crop_list(names)} "
                    f"({total - len(names)} had it)")
        if crop and mine[0].after == "pruned":
            why = _reason(project, crop, tag)
            note += f", pruned by the rules ({why}); {KEEP_KEY} keeps it"
        elif not crop and _pruned_part(project, mine):
            note += f"; {_pruned_part(project, mine)}; {KEEP_KEY} keeps it on a crop"
        notes.append(note)
    return "; ".join(notes) + (" (u undoes)" if changes else "")


def state_note(tag: str, kept: bool, changes: list[TagChange], total: int) -> str:
    """After ``g`` (give the highlighted tag's state to every crop)."""
    word = "kept" if kept else "pruned"
    changed = [ch.crop for ch in changes]
    if not changed:
        return f"{tag}: already {word} on all {total} crops"
    return (f"{tag}: {word} on all {total} crops; changed on {crop_list(changed)} (u undoes)")


def removed_note(tag: str, changes: list[TagChange]) -> str:
    """After ``x`` (this crop, or every crop in the frequency view)."""
    gone = [ch.crop for ch in changes if ch.after is None]
    where = f" from {crop_list(gone)}" if gone else ""
    return f"removed {tag}{where} (u undoes)"
