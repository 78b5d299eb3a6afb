"""Tags screen: tags toggled, added, applied to all crops and removed by keys, saved at once."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from engine import project as pj
from engine import tags as tg
from engine.api import Engine
from tui.screens.tags import TagsScreen
from tui.widgets.tag_checklist import FrequencyList, TagChecklist
from tui_host import ScreenHost


def Host(project: pj.Project, engine: Engine | None = None) -> ScreenHost:
    return ScreenHost(project, TagsScreen, engine)


@pytest.fixture
def tagged(project):
    project.crops.items = [
        pj.Crop(name="full_body", box=[0, 0, 96, 160], preset="full_body"),
        pj.Crop(name="face", box=[28, 8, 40, 40], preset="face"),
    ]
    tg.tag_crops(project, ["1girl", "long_hair", "blue_eyes", "hair_bow", "smile", "dress"])
    pj.save(project)
    return project


def tag_of(project, crop, name):
    return next((t for t in pj.load(project.root).crop(crop).tags if t.tag == name), None)


async def highlight(pilot, screen, tag):
    checklist = screen.query_one(TagChecklist)
    checklist.focus()
    ids = [checklist.get_option_at_index(i).id for i in range(checklist.option_count)]
    checklist.highlighted = ids.index(tag)
    await pilot.pause()


async def test_space_toggles_a_pruned_trait_into_the_caption(tagged):
    assert tag_of(tagged, "full_body", "long_hair").kept is False  # pruned as a trait
    app = Host(tagged)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        text = str(screen.query_one(TagChecklist).get_option_at_index(0).prompt)
        assert "kept" in text
        await highlight(pilot, screen, "long_hair")
        await pilot.press("space")
        await pilot.pause()
        saved = tag_of(tagged, "full_body", "long_hair")
        assert saved.kept and saved.override
        assert "long hair" in str(screen.query_one("#caption").render())
        await pilot.press("space")
        await pilot.pause()
        assert tag_of(tagged, "full_body", "long_hair").kept is False
        assert tag_of(tagged, "face", "long_hair").kept is False  # other crop untouched


async def test_add_tag_with_completion_then_apply_to_all_crops(tagged):
    app = Host(tagged)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.press("a")
        await pilot.pause()
        field = app.screen.query_one("#add-tag", Input)
        await pilot.press(*"wrist_cuf")
        await pilot.pause(0.2)
        assert "wrist_cuffs" in str(app.screen.query_one("#add-matches").render())
        await pilot.press("right")  # accept the completion
        assert field.value == "wrist_cuffs"
        await pilot.press("enter")
        await pilot.pause()
        assert tag_of(tagged, "full_body", "wrist_cuffs").kept
        assert tag_of(tagged, "face", "wrist_cuffs") is None
        await highlight(pilot, screen, "wrist_cuffs")
        await pilot.press("g")
        await pilot.pause()
        assert tag_of(tagged, "face", "wrist_cuffs").kept
        await pilot.press("x")
        await pilot.pause()
        assert tag_of(tagged, "full_body", "wrist_cuffs") is None
        assert tag_of(tagged, "face", "wrist_cuffs") is not None


async def test_crop_list_switches_the_checklist_and_frequency_view_edits_all(tagged):
    app = Host(tagged)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#crop-list").focus()
        await pilot.press("down")
        await pilot.pause()
        assert screen.crop_name == "face"
        assert "face:" in str(screen.query_one("#caption").render())
        await pilot.press("f")
        await pilot.pause()
        freq = screen.query_one(FrequencyList)
        assert freq.has_focus
        ids = [freq.get_option_at_index(i).id for i in range(freq.option_count)]
        freq.highlighted = ids.index("smile")
        await pilot.press("space")  # kept on both crops → pruned on both
        await pilot.pause()
        assert not tag_of(tagged, "face", "smile").kept
        assert not tag_of(tagged, "full_body", "smile").kept


async def test_trigger_edit_is_checked_and_saved(tagged):
    app = Host(tagged)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        await pilot.press("ctrl+u", *"bad name", "enter")
        await pilot.pause()
        assert pj.load(tagged.root).trigger == "zq_tester"  # refused: contains a space
        await pilot.press("ctrl+u", *"mira9x", "enter")
        await pilot.pause()
        assert pj.load(tagged.root).trigger == "mira9x"
        assert "mira9x, girl" in str(app.screen.query_one("#caption").render())


async def test_underscore_key_switches_caption_spelling_and_u_is_undo(tagged):
    app = Host(tagged)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("underscore")
        await pilot.pause()
        assert pj.load(tagged.root).tags.underscores is True
        await highlight(pilot, app.screen, "smile")
        await pilot.press("x")  # off this crop
        await pilot.pause()
        assert tag_of(tagged, "full_body", "smile") is None
        await pilot.press("u")  # undo brings it back; the spelling stays as chosen
        await pilot.pause()
        assert tag_of(tagged, "full_body", "smile").kept
        assert pj.load(tagged.root).tags.underscores is True


async def test_page_keys_on_a_list_with_no_layout_yet_move_to_an_end_instead_of_crashing():
    """The random-key walk (seed 2) ended the app: pagedown on the Tags checklist right after
    its options were rebuilt, before the list had a size, raised KeyError inside Textual."""
    from textual.app import App
    from textual.widgets.option_list import Option

    from tui.widgets.tag_checklist import TagChecklist

    class Host(App):
        def compose(self):
            yield TagChecklist(id="checklist")

    app = Host()
    async with app.run_test(size=(40, 10)) as pilot:
        checklist = app.query_one(TagChecklist)
        checklist.add_options([Option(f"tag {i}") for i in range(30)])
        checklist.highlighted = 1
        checklist.display = False  # no size: Textual has no line for option 1
        checklist._line_cache.clear()
        checklist.action_page_down()
        assert checklist.highlighted == 29
        checklist.action_page_up()
        assert checklist.highlighted == 0
        await pilot.pause()
