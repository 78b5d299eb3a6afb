"""Crops: the face box moves every preset with it.  A preset crop the user had resized by hand
was recomputed from the preset instead, so one nudge of the face box silently threw away the
hand-made size (a user walk: face crop made wider and taller with L L J, then the face box
moved with l → the face crop was back at the preset's size, and even moved the other way)."""

from __future__ import annotations

from tui.app import OneloraApp
from tui_journey import SIZE, disk_box, on_disk, select_crop, settle


async def test_moving_the_face_box_moves_a_hand_sized_face_crop_and_keeps_its_size(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await select_crop(pilot, screen, "face")
        await pilot.press("f")  # fine steps: the small test image has room for them
        await pilot.press("L", "L", "J")
        app.flush_project()
        sized = disk_box(project.root, "face")
        bangs = disk_box(project.root, "bangs")
        face_box = on_disk(project.root)["crops"]["face_box"]
        await select_crop(pilot, screen, screen.items()[-1])  # the face box, last in the list
        await pilot.press("l")
        app.flush_project()
        moved_by = on_disk(project.root)["crops"]["face_box"][0] - face_box[0]
        assert moved_by > 0
        now = disk_box(project.root, "face")
        assert now[2:] == sized[2:], (sized, now)  # the hand-made size stays
        assert now[0] - sized[0] == moved_by and now[1] == sized[1]
        after = disk_box(project.root, "bangs")  # a preset crop never touched: as before
        assert after[0] - bangs[0] == moved_by and after[2:] == bangs[2:]
        await pilot.press("q")
