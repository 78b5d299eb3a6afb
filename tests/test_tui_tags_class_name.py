"""The Tags screen's class field (c): a class word that project.toml would refuse is refused
as it is typed, so it never sits in the open project blocking every later save (seen in the
random-key walk, seed 3: a class with ']' made each save fail, and tags added to every crop
afterwards never reached project.toml)."""

from __future__ import annotations

from engine import crops as ec
from engine import project as pj
from engine.api import Engine
from tui.app import OneloraApp
from tui_journey import SIZE


async def test_a_class_with_a_bracket_is_refused_and_later_tag_edits_still_reach_disk(project):
    ec.auto_crops(project)
    app = OneloraApp(project.root, engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("c", "]", "x", "enter")  # "girl]x": not a folder-safe name
        await pilot.pause()
        assert app.project.class_name == "girl"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("A", *"hat_bow", "enter")  # add to every crop
        await pilot.pause()
        assert app.flush_project()
    saved = pj.load(project.root)
    assert saved.class_name == "girl"
    assert saved.crops.items and all("hat_bow" in {t.tag for t in c.tags}
                                     for c in saved.crops.items)
