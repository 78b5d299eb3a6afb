"""The project store: edits from two programs (the TUI and the CLI) compose in project.toml."""

from __future__ import annotations

import os
import tomllib

from engine import crops as ec
from engine import project as pj
from engine import tags as tg
from engine.store import ProjectStore, merge3


def on_disk(project) -> dict:
    return tomllib.loads(project.path.read_text())


def crop_tags(data: dict, name: str) -> dict[str, bool]:
    crop = next(c for c in data["crops"]["items"] if c["name"] == name)
    return {t["tag"]: t["kept"] for t in crop.get("tags", [])}


def crop_box(data: dict, name: str) -> list[int]:
    return next(c for c in data["crops"]["items"] if c["name"] == name)["box"]


def other_program(root, edit) -> None:
    """What `onelora caption/crops ...` in another shell does: load, change, save plainly.
    The mtime is moved on so a same-tick write is seen even on coarse file systems."""
    project = pj.load(root)
    edit(project)
    pj.save(project)
    st = os.stat(project.path)
    os.utime(project.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def with_crops(project):
    ec.auto_crops(project)
    return project


def test_tags_added_by_the_cli_and_a_tag_added_in_the_tui_both_survive(project):
    with_crops(project)
    store = ProjectStore(project.root)
    ours = store.load()
    other_program(project.root, lambda p: [tg.edit_tag(p, "add", t, None)
                                           for t in ("school_uniform", "red_ribbon")])
    tg.edit_tag(ours, "add", "smile", ours.crop("face"))
    report = store.save(ours)
    assert report.wrote and report.merged and report.notices == []
    face = crop_tags(on_disk(project), "face")
    assert {"school_uniform", "red_ribbon", "smile"} <= set(face)
    assert "school_uniform" in crop_tags(on_disk(project), "full_body")
    # the in-memory project now has the other program's tags too
    assert {"school_uniform", "red_ribbon", "smile"} <= {t.tag for t in ours.crop("face").tags}


def test_a_crop_moved_in_the_tui_and_caption_edits_from_the_cli_compose(project):
    with_crops(project)
    store = ProjectStore(project.root)
    ours = store.load()
    face_crop = ours.crop("face")
    moved = [face_crop.box[0] + 4, face_crop.box[1] + 2, *face_crop.box[2:]]
    other_program(project.root, lambda p: (tg.edit_tag(p, "add", "hat", None),
                                           setattr(p.tags, "underscores", True)))
    face_crop.box = moved
    store.save(ours)
    data = on_disk(project)
    assert crop_box(data, "face") == moved
    assert "hat" in crop_tags(data, "face") and "hat" in crop_tags(data, "cowboy_shot")
    assert data["tags"]["underscores"] is True
    assert ours.crop("face") is face_crop  # kept in place: a screen holding it stays valid


def test_the_same_value_changed_on_both_sides_keeps_ours_and_says_so(project):
    store = ProjectStore(project.root)
    ours = store.load()
    other_program(project.root, lambda p: setattr(p.train, "epochs", 3))
    ours.train.epochs = 7
    report = store.save(ours)
    assert on_disk(project)["train"]["epochs"] == 7
    assert len(report.notices) == 1 and "train.epochs" in report.notices[0]
    assert "7" in report.notices[0] and "3" in report.notices[0]
    assert store.take_notices() == report.notices and store.take_notices() == []


def test_a_crop_added_on_each_side_keeps_both_in_order(project):
    with_crops(project)
    store = ProjectStore(project.root)
    ours = store.load()
    other_program(project.root, lambda p: ec.set_crop(p, "hands", [0, 0, 40, 40], save=False))
    ec.set_crop(ours, "wrist_cuffs", [4, 4, 40, 40], save=False)
    store.save(ours)
    names = [c["name"] for c in on_disk(project)["crops"]["items"]]
    assert names[:len(ec.PRESETS)] == list(ec.PRESETS)
    assert set(names[len(ec.PRESETS):]) == {"hands", "wrist_cuffs"}


def test_a_tag_pruned_elsewhere_and_another_kept_here_both_hold(project):
    with_crops(project)
    tg.edit_tag(project, "add", "smile", None)
    tg.edit_tag(project, "add", "hat", None)
    pj.save(project)
    store = ProjectStore(project.root)
    ours = store.load()
    other_program(project.root, lambda p: tg.edit_tag(p, "prune", "smile", p.crop("face")))
    tg.edit_tag(ours, "prune", "hat", ours.crop("face"))
    store.save(ours)
    face = crop_tags(on_disk(project), "face")
    assert face["smile"] is False and face["hat"] is False


def test_absorb_brings_outside_changes_in_and_keeps_unsaved_edits(project):
    with_crops(project)
    store = ProjectStore(project.root)
    ours = store.load()
    assert store.absorb(ours) is None  # nothing changed: nothing to do
    ours.reg.count = 12  # an unsaved edit
    other_program(project.root, lambda p: tg.edit_tag(p, "add", "smile", None))
    assert store.changed_on_disk()
    report = store.absorb(ours)
    assert report is not None and report.merged and not report.wrote
    assert "smile" in {t.tag for t in ours.crop("face").tags}
    assert ours.reg.count == 12
    assert not store.changed_on_disk()
    store.save(ours)
    assert on_disk(project)["reg"]["count"] == 12
    assert "smile" in crop_tags(on_disk(project), "face")


def test_saving_an_unchanged_project_does_not_write(project):
    store = ProjectStore(project.root)
    ours = store.load()
    assert store.save(ours).wrote is False
    ours.reg.count = 5
    assert store.save(ours).wrote is True
    assert store.writes == 1


def test_a_touched_but_identical_file_is_not_a_change(project):
    store = ProjectStore(project.root)
    store.load()
    st = os.stat(project.path)
    os.utime(project.path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
    assert not store.changed_on_disk()


def test_merge3_removed_on_one_side_and_changed_on_the_other_keeps_ours():
    base = {"crops": {"items": [{"name": "a", "box": [0, 0, 1, 1]}]}}
    ours = {"crops": {"items": []}}
    theirs = {"crops": {"items": [{"name": "a", "box": [5, 0, 1, 1]}]}}
    merged, notices = merge3(base, ours, theirs)
    assert merged == {"crops": {"items": []}}
    assert notices and "crops.items[a]" in notices[0]
