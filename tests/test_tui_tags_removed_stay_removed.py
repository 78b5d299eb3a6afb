"""Tags, then caption again: a tag taken off one crop by hand (x on the Tags screen,
`onelora tag DIR CROP --remove T`) came back on the next caption step (`onelora caption`, C),
silently undoing the user's edit (a user walk: remove `standing` from face, caption again with
the same image tags → `standing` back on face).  It stays off until the user adds it again."""

from __future__ import annotations

from engine import crops as ec
from engine import project as pj
from engine.api import Engine
from engine.cli import main as cli
from tui.app import OneloraApp
from tui.widgets.tag_checklist import TagChecklist
from tui_journey import SIZE, disk_tags

TAGS = "school_uniform, standing, red_ribbon"


async def test_tag_removed_from_one_crop_stays_off_after_captioning_again(project):
    ec.auto_crops(project)
    assert cli(["caption", str(project.root), "--tags", TAGS]) == 0
    app = OneloraApp(project.root, start_mode="tags", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        crop = screen.crop_name
        tags = screen.query_one(TagChecklist)
        await pilot.press("enter")  # the crop list has the focus first: into its tags
        for _ in range(30):  # walk the list to `standing`
            if tags.highlighted_tag() == "standing":
                break
            await pilot.press("down")
        assert tags.highlighted_tag() == "standing"
        await pilot.press("x")
        await pilot.pause()
        app.flush_project()
        assert "standing" not in disk_tags(project.root)[crop]
        assert cli(["caption", str(project.root), "--tags", TAGS]) == 0  # another shell
        await pilot.pause(1.3)
        assert "standing" not in disk_tags(project.root)[crop]
        await pilot.press("u")  # undo the removal: back, and captioning keeps it
        await pilot.pause()
        app.flush_project()
        await pilot.press("q")
    assert cli(["caption", str(project.root), "--tags", TAGS]) == 0
    assert "standing" in disk_tags(project.root)[crop]


def test_cli_remove_then_caption_then_add_back(project):
    ec.auto_crops(project)
    root = str(project.root)
    assert cli(["caption", root, "--tags", TAGS]) == 0
    assert cli(["tag", root, "face", "--remove", "standing"]) == 0
    assert cli(["caption", root, "--tags", TAGS]) == 0
    tags = disk_tags(project.root)
    assert "standing" not in tags["face"] and "standing" in tags["full_body"]
    assert cli(["tag", root, "face", "--add", "standing"]) == 0
    assert cli(["caption", root, "--tags", TAGS]) == 0
    assert "standing" in disk_tags(project.root)["face"]
    assert pj.load(project.root).crop("face").removed == []
