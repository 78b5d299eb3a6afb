"""The source & crops screen driven by keys (Textual Pilot), asserting what project.toml stores."""

from __future__ import annotations

import tomllib

from engine import crops as ec
from tui.app import OneloraApp
from tui.widgets import box_edit

SIZE = (80, 24)


def stored(project, app=None) -> dict:
    """The crops as project.toml holds them: name -> (box, preset), plus the face box.  With
    ``app``, edits still waiting for their coalesced save are written first (the app does so
    on its own within App.SAVE_EVERY, on a screen switch and on quit)."""
    if app is not None:
        app.flush_project()
    data = tomllib.loads(project.path.read_text())
    crops = {c["name"]: (c["box"], c.get("preset", "")) for c in data["crops"]["items"]}
    return {"crops": crops, "face_box": data["crops"]["face_box"], "prep": data["prep"]}


async def open_crops(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    return app.screen


async def select(pilot, screen, name):
    while screen.selected_name() != name:
        await pilot.press("tab")


async def test_crops_screen_creates_the_seven_presets_and_saves_them(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        assert type(screen).__name__ == "CropsScreen"
        assert screen.view.image is not None
        assert list(stored(project, app)["crops"]) == list(ec.PRESETS)


async def test_arrow_keys_and_hjkl_move_the_selected_crop_in_project_toml(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "face")
        size = screen.image_size()
        coarse, fine = box_edit.steps(size)
        start = stored(project, app)["crops"]["face"][0]
        await pilot.press("right")
        expected = ec.move_box(start, coarse, 0, size)
        assert stored(project, app)["crops"]["face"][0] == expected
        await pilot.press("j")
        expected = ec.move_box(expected, 0, coarse, size)
        assert stored(project, app)["crops"]["face"][0] == expected
        await pilot.press("f", "left")  # fine steps
        expected = ec.move_box(expected, -fine, 0, size)
        assert stored(project, app)["crops"]["face"][0] == expected
        assert expected != start


async def test_shift_arrows_and_capital_hjkl_resize_the_crop(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "bangs")
        size = screen.image_size()
        coarse, _ = box_edit.steps(size)
        start = stored(project, app)["crops"]["bangs"][0]
        await pilot.press("shift+right")
        after = stored(project, app)["crops"]["bangs"][0]
        assert after == ec.resize_box(start, coarse, 0, size)
        await pilot.press("J")
        assert stored(project, app)["crops"]["bangs"][0] == ec.resize_box(after, 0, coarse, size)


async def test_aspect_lock_keeps_the_ratio_when_resizing(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "bangs")
        x, y, w, h = stored(project, app)["crops"]["bangs"][0]
        await pilot.press("a", "L", "L")
        _, _, w2, h2 = stored(project, app)["crops"]["bangs"][0]
        assert w2 > w and h2 > h
        assert abs(w2 / h2 - w / h) < 0.02


async def test_preset_key_gives_the_crop_that_presets_box(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "face")
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("u")  # "u" in the preset dialog = upper body
        await pilot.pause()
        p = app.project.crops
        want = ec.preset_box("upper_body", p.figure_box, p.face_box, screen.image_size())
        assert stored(project, app)["crops"]["face"] == (want, "upper_body")


async def test_undo_and_redo_restore_the_stored_rectangles(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "cowboy_shot")
        before = stored(project, app)["crops"]["cowboy_shot"][0]
        await pilot.press("down", "shift+left")
        moved = stored(project, app)["crops"]["cowboy_shot"][0]
        assert moved != before
        await pilot.press("u", "u")
        assert stored(project, app)["crops"]["cowboy_shot"][0] == before
        await pilot.press("U", "U")
        assert stored(project, app)["crops"]["cowboy_shot"][0] == moved


async def test_moving_the_face_box_moves_the_face_presets(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "face box")
        before = stored(project, app)
        await pilot.press("right", "right")
        after = stored(project, app)
        assert after["face_box"][0] > before["face_box"][0]
        assert after["crops"]["face"][0] != before["crops"]["face"][0]
        assert after["crops"]["full_body"] == before["crops"]["full_body"]


async def test_moves_redraw_overlays_without_rendering_pixels_again(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        renders = screen.view.renders
        assert renders == 1
        await pilot.press("right", "down", "L", "tab", "left")
        await pilot.pause()
        assert screen.view.renders == renders
        await pilot.press("z")  # zooming renders the new view once
        await pilot.pause()
        assert screen.view.view_region is not None
        assert screen.view.renders == renders + 1


async def test_short_crop_shows_an_upscale_warning(project):
    from textual.widgets import Static

    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "face")
        while min(stored(project, app)["crops"]["face"][0][2:]) >= 512:
            await pilot.press("H", "K")
        await pilot.pause()
        info = str(screen.query_one("#crop-info", Static).render())
        assert "short side" in info and "512" in info


async def test_fix_stray_pixels_runs_in_a_worker_and_is_recorded(project):
    from tui.messages import TaskFinished

    seen = []
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await open_crops(app, pilot)
        await pilot.press("X")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert stored(project, app)["prep"]["fix_artifacts"] is True
        assert any(isinstance(m, TaskFinished) and m.task == "fix stray pixels" for m in seen)
        assert (project.root / "source" / "prepared.png").is_file()


async def test_crops_palette_offers_group_verb_commands(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        titles = [t for t, _, _ in screen.palette_commands()]
        assert "crops: undo" in titles and "crops: zoom" in titles
        assert "crops: apply preset full body" in titles


async def test_pixel_preview_falls_back_to_half_block_zoom_without_graphics(project):
    app = OneloraApp(project.root, graphics="halfblock")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await pilot.press("i")
        await pilot.pause()
        assert screen.zoomed and screen.view.view_region is not None


async def test_pixel_preview_opens_with_kitty_graphics(project):
    from tui.widgets.pixel_preview import PixelPreview

    app = OneloraApp(project.root, graphics="kitty")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "face")
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, PixelPreview)
        assert app.screen._image.size == tuple(stored(project, app)["crops"]["face"][0][2:])
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_upscale_key_records_a_larger_long_side_and_rescales_crops(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        before = stored(project, app)["crops"]["full_body"][0]
        await pilot.press("e")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert stored(project, app)["prep"]["upscale_to"] == 3072
        assert max(screen.image_size()) == 3072
        after = stored(project, app)["crops"]["full_body"][0]
        assert abs(after[3] - before[3] * 1.5) <= 2
        await pilot.press("u")  # undo brings back the 2048 px image and the old boxes
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert stored(project, app)["prep"]["upscale_to"] == 2048
        assert stored(project, app)["crops"]["full_body"][0] == before
        assert max(screen.image_size()) == 2048


async def test_theme_toggle_redraws_the_image_on_the_new_background(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        renders = screen.view.renders
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.pause()
        assert screen.view.renders == renders + 1


async def test_pixel_preview_of_an_imported_crop_shows_its_own_image(tmp_path):
    """A project imported from a kohya folder: each crop is cut from its own image."""
    from PIL import Image

    from engine.kohya import import_kohya
    from tui.widgets.pixel_preview import PixelPreview

    folder = tmp_path / "kohya" / "img" / "5_zq girl"
    folder.mkdir(parents=True)
    Image.new("RGB", (700, 900), (200, 40, 40)).save(folder / "a.png")
    Image.new("RGB", (520, 640), (40, 40, 200)).save(folder / "b.png")
    (folder / "a.txt").write_text("zq, girl, smile\n")
    (folder / "b.txt").write_text("zq, girl, hat\n")
    project = import_kohya(tmp_path / "kohya", tmp_path / "proj", trigger="zq")
    other = next(c for c in project.crops.items if c.image and "b" in c.image)
    app = OneloraApp(project.root, graphics="kitty")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, other.name)
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, PixelPreview)
        assert app.screen._image.getpixel((5, 5)) == (40, 40, 200)
