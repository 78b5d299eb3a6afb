"""Crop tags follow the crop's content: framing read from the box on the figure, framing tags
that contradict the crop pruned; tag undo steps are operations on tags only."""

from __future__ import annotations

import pytest

from engine import crops as ec
from engine import framing as fr
from engine import tag_history as th
from engine import tags as tg
from engine.project import Crop

FIGURES = [  # (figure box, face box, image bounds)
    ([28, 10, 40, 140], [30, 10, 36, 36], (96, 160)),
    ([300, 100, 600, 2000], [480, 120, 240, 260], (1200, 2300)),
    ([100, 40, 300, 900], [190, 60, 120, 110], (500, 1000)),
]


@pytest.mark.parametrize("figure,face,bounds", FIGURES)
@pytest.mark.parametrize("preset", ec.PRESETS)
def test_every_preset_box_reads_as_its_own_framing(project, figure, face, bounds, preset):
    project.crops.figure_box, project.crops.face_box = figure, face
    box = ec.preset_box(preset, figure, face, bounds)
    crop = Crop(preset, box, preset)
    assert tg.crop_framing(project, crop) == fr.PRESET_FRAMING[preset]


def test_a_face_crop_stretched_over_the_figure_is_full_body(project):
    project.crops.figure_box, project.crops.face_box = FIGURES[1][:2]
    crop = Crop("face", [250, 60, 700, 2100], "face")
    assert tg.crop_tags(project, crop) == ["full_body"]


def test_a_custom_crop_is_framed_by_what_of_the_figure_it_holds(project):
    project.crops.figure_box, project.crops.face_box = FIGURES[1][:2]
    assert tg.crop_tags(project, Crop("head", [450, 100, 300, 320], "")) == \
        ["portrait", "close-up"]
    assert tg.crop_tags(project, Crop("top", [280, 80, 640, 1000], "")) == ["upper_body"]
    assert tg.crop_tags(project, Crop("legs", [300, 1000, 600, 1150], "")) == \
        ["lower_body", "head_out_of_frame"]
    assert tg.crop_tags(project, Crop("boots", [300, 1900, 600, 220], "")) == \
        ["head_out_of_frame", "close-up"]  # a detail at the feet
    framing, visible = tg.crop_framing(project, Crop("cuffs", [300, 1000, 600, 300], ""))
    assert framing == ("head_out_of_frame", "close-up") and "head" not in visible


def test_without_a_figure_box_the_preset_decides(project):
    assert project.crops.figure_box == []
    assert tg.crop_tags(project, Crop("f", [0, 0, 10, 10], "face")) == ["portrait", "close-up"]


def test_framing_tags_of_the_image_that_contradict_a_crop_are_pruned(project):
    project.crops.figure_box, project.crops.face_box = FIGURES[0][:2]
    project.crops.items = [Crop(p, ec.preset_box(p, *FIGURES[0]), p) for p in
                           ("full_body", "face")]
    tg.tag_crops(project, ["1girl", "full body", "upper body"])
    face = {t.tag: (t.kept, t.reason) for t in project.crop("face").tags}
    assert face["full_body"] == (False, "not this crop's framing: portrait/close-up")
    assert face["upper_body"][0] is False
    full = {t.tag: t.kept for t in project.crop("full_body").tags}
    assert full["full_body"] is True and full["upper_body"] is False
    assert tg.caption(project, project.crop("face")) == \
        "zq_tester, girl, 1girl, portrait, close-up"


def test_a_hand_added_framing_tag_that_contradicts_the_crop_is_pruned(project):
    project.crops.figure_box, project.crops.face_box = FIGURES[0][:2]
    project.crops.items = [Crop("face", ec.preset_box("face", *FIGURES[0]), "face")]
    tg.add_tag(project, "full body", "face")
    tg.add_tag(project, "red hair", "face")
    tg.add_tag(project, "hair bow", "face")
    got = {t.tag: (t.kept, t.reason, t.override) for t in project.crop("face").tags}
    assert got["full_body"][0] is False
    assert got["red_hair"] == (False, tg.HAIR_COLOUR, False)
    assert got["hair_bow"] == (True, "added by you", False)
    tg.tag_crops(project)  # a re-tag keeps the hand-added tags, under the rules
    assert {t.tag for t in project.crop("face").tags} >= {"full_body", "red_hair", "hair_bow"}


def test_tag_undo_is_operations_on_tags_applied_to_the_current_project(project):
    project.crops.items = [Crop("a", [0, 0, 10, 10], "face"), Crop("b", [0, 0, 20, 20], "")]
    tg.tag_crops(project, ["smile", "hat"])
    history = th.History()
    before = th.tag_state(project)
    tg.remove_tag(project, "smile")  # on every crop, and out of the image's tags
    tg.prune_tag(project, "hat", "a")
    history.push(th.diff(before, project, "remove smile, prune hat"))
    # meanwhile: a crop moves, another tag is added, a crop is made
    project.crop("b").box = [5, 5, 20, 20]
    tg.add_tag(project, "bow", "b")
    project.crops.items.append(Crop("c", [1, 1, 9, 9], ""))
    history.undo_step(project)
    a = {t.tag: t.kept for t in project.crop("a").tags}
    assert a["smile"] is True and a["hat"] is True
    assert [t.tag for t in project.crop("a").tags][:2] == ["smile", "hat"]  # same place
    assert "smile" in project.tags.image_tags
    assert project.crop("b").box == [5, 5, 20, 20]
    assert "bow" in {t.tag for t in project.crop("b").tags}
    assert [c.name for c in project.crops.items] == ["a", "b", "c"]
    history.redo_step(project)
    assert "smile" not in {t.tag for c in project.crops.items for t in c.tags}
    assert "smile" not in project.tags.image_tags
    assert "bow" in {t.tag for t in project.crop("b").tags}


def test_following_moved_crops_changes_framing_only(project):
    project.crops.figure_box, project.crops.face_box = FIGURES[0][:2]
    project.crops.items = [Crop(p, ec.preset_box(p, *FIGURES[0]), p) for p in
                           ("full_body", "face")]
    tg.tag_crops(project, ["1girl", "smile", "boots", "full body"])
    tg.remove_tag(project, "smile", "face")  # by hand, on one crop only
    face = project.crop("face")
    face.box = list(project.crop("full_body").box)  # stretched over the whole figure
    tg.follow_framing(project)
    got = {t.tag: (t.kept, t.source) for t in face.tags}
    assert "smile" not in got  # a tag taken off by hand does not come back
    assert got["full_body"] == (True, "user")  # no longer contradicts the crop
    assert got["boots"][0] is True  # the feet are in view now
    assert ("portrait" not in got) and ("close-up" not in got)
    assert tg.caption(project, face).endswith("full body")
