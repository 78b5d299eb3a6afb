"""Tags: Tab moves between the crop list and the tag list, never into the trigger field (found
in a walk: Tab selected the trigger's text, then `a bow enter` meant to add a tag renamed the
trigger to "abow"); t still edits the trigger on purpose."""

from __future__ import annotations

from engine import crops as ec
from engine import project as pj
from tui.app import OneloraApp
from tui_journey import SIZE, disk_tags, on_disk, settle


async def test_tab_then_add_a_tag_never_renames_the_trigger(project):
    ec.auto_crops(project)
    pj.save(project)
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        seen = set()
        for _ in range(5):
            await pilot.press("tab")
            seen.add(app.focused.id)
        assert seen == {"crop-list", "checklist"}
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"bow", "enter")
        await pilot.pause()
        crop = app.screen.crop_name
        await pilot.press("t")
        await pilot.pause()
        assert app.focused.id == "trigger"  # on purpose, it still can
        await pilot.press("escape")
    assert on_disk(project.root)["trigger"] == "zq_tester"
    assert "bow" in disk_tags(project.root)[crop]
