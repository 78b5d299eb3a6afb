"""Crops undo/redo with the CLI changing crops in another shell meanwhile: an undo puts back
only what the TUI's own edit changed, never a box set elsewhere since (a user walk found
`e` (upscale), `onelora crops --set bangs=...`, `u` putting bangs back to its old box)."""

from __future__ import annotations

from engine.cli import main as cli
from tui.app import OneloraApp
from tui_journey import SIZE, disk_box, select_crop, settle


async def _idle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_undo_of_an_upscale_keeps_a_crop_the_cli_set_meanwhile_rescaled(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("e")  # upscale 2048 -> 3072 px
        await _idle(app, pilot)
        assert max(screen.image_size()) == 3072
        w, h = screen.image_size()
        set_box = [w // 4, h // 5, w // 2, h // 3]
        assert cli(["crops", str(project.root), "--set",
                    "bangs=" + ",".join(map(str, set_box))]) == 0
        await pilot.pause(1.3)  # the TUI picks up the outside change
        await pilot.press("u")  # undo the upscale
        await _idle(app, pilot)
        assert max(screen.image_size()) == 2048
        app.flush_project()
        undone = disk_box(project.root, "bangs")
        expected = [round(v * 2048 / 3072) for v in set_box]
        assert all(abs(a - b) <= 2 for a, b in zip(undone, expected)), (undone, expected)
        await pilot.press("U")  # redo: back at 3072 px, still the CLI's box
        await _idle(app, pilot)
        app.flush_project()
        redone = disk_box(project.root, "bangs")
        assert all(abs(a - b) <= 3 for a, b in zip(redone, set_box)), (redone, set_box)
        await pilot.press("q")


async def test_undo_of_a_move_leaves_a_box_the_cli_set_afterwards(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_crop(pilot, app.screen, "face")
        moved_from = disk_box(project.root, "face")
        await pilot.press("j")
        app.flush_project()
        assert disk_box(project.root, "face") != moved_from
        assert cli(["crops", str(project.root), "--set", "face=10,12,40,40"]) == 0
        await pilot.pause(1.3)
        await pilot.press("u")
        await pilot.pause()
        assert app.screen.history.redo[-1].left_alone == ["face"]  # and a toast says so
        await pilot.press("q")
    assert disk_box(project.root, "face") == [10, 12, 40, 40]
