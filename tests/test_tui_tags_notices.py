"""Tags screen notices name the crops they are about: `A` (add to every crop) said nothing of
which crops got the tag, and its "pruned by the rules" notice repeated `smile (not visible:
head)` once per crop without naming any; `a` on one crop did not name the crop either."""

from __future__ import annotations

import pytest

from engine import crops as ec
from engine import project as pj
from engine import tags as tg
from tui.screens.tags import TagsScreen
from tui.widgets.tag_checklist import TagChecklist
from tui.wording import crop_list
from tui_host import ScreenHost

SIZE = (80, 24)
NAMES = ("full_body", "cowboy_shot", "upper_body", "lower_body", "face", "bangs")


@pytest.fixture
def six_crops(project):
    ec.auto_crops(project)
    project.crops.items = [c for c in project.crops.items if c.name in NAMES]
    tg.tag_crops(project, ["1girl", "long_hair", "blue_eyes", "hair_bow", "smile", "dress"])
    pj.save(project)
    return project


def _told(app) -> list[str]:
    return [" ".join(n.message.split()) for n in app._notifications]


def _states(project, tag) -> dict[str, bool]:
    return {c.name: t.kept for c in pj.load(project.root).crops.items
            for t in c.tags if t.tag == tag}


def test_crop_list_shortens_many_names():
    assert crop_list(["face"]) == "face"
    assert crop_list(["face", "upper_body", "bangs"]) == "face, upper_body, bangs"
    assert crop_list(["face", "upper_body", "a", "b", "c"]) == "face, upper_body, +3 more"


async def test_add_to_every_crop_names_the_crops_and_where_the_rules_pruned_it(six_crops):
    app = ScreenHost(six_crops, TagsScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("A", *"barefoot", "enter")
        await pilot.pause()
        told = _told(app)
    states = _states(six_crops, "barefoot")
    assert list(states) == list(NAMES)  # on disk: on every crop
    pruned = [name for name, kept in states.items() if not kept]
    assert pruned and "face" in pruned  # feet are not in the face crop
    note = next(m for m in told if m.startswith("barefoot added to"))
    assert "barefoot added to all 6 crops (full_body, cowboy_shot, +4 more)" in note
    assert f"pruned by the rules on {crop_list(pruned)} (not visible: feet)" in note
    assert pruned[0] in note
    assert note.count("not visible") == 1  # one group, not one line per crop


async def test_add_on_one_crop_names_the_crop_when_the_rules_prune_it(six_crops):
    app = ScreenHost(six_crops, TagsScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#crop-list").focus()
        while screen.crop_name != "face":
            await pilot.press("down")
            await pilot.pause()
        screen.query_one(TagChecklist).focus()
        await pilot.press("a", *"red_hair", "enter")
        await pilot.pause()
        await pilot.press("a", *"blue_eyes", "enter")  # already there, pruned as a trait
        await pilot.pause()
        told = _told(app)
    assert _states(six_crops, "red_hair") == {"face": False}
    assert any(m.startswith("red_hair added to face, pruned by the rules (trait") for m in told)
    assert any(m.startswith("blue_eyes is already on face, pruned (trait") for m in told)


async def test_apply_to_all_names_the_crops_it_changed(six_crops):
    app = ScreenHost(six_crops, TagsScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        before = _states(six_crops, "long_hair")
        checklist = screen.query_one(TagChecklist)
        checklist.focus()
        ids = [checklist.get_option_at_index(i).id for i in range(checklist.option_count)]
        checklist.highlighted = ids.index("long_hair")
        await pilot.pause()
        await pilot.press("space", "g")  # keep long_hair on full_body, then on every crop
        await pilot.pause()
        told = _told(app)
    after = _states(six_crops, "long_hair")
    assert all(after.values()) and len(after) == 6
    changed = [n for n in NAMES if before.get(n) is not True and n != "full_body"]
    note = next(m for m in told if m.startswith("long_hair: kept on all 6 crops"))
    assert f"changed on {crop_list(changed)}" in note
