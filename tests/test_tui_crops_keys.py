"""Crops screen keys found silent in a keyboard-only walk at 80×24: x on the face box, and
undo/redo of the prep toggles (X, W) — each now says what happened (Pilot, project.toml)."""

from __future__ import annotations

from test_tui_crops_screen import SIZE, open_crops, select, stored
from tui.app import OneloraApp


def said(app) -> list[str]:
    """The notifications shown so far (then forgotten, so the next step starts clean)."""
    out = [n.message for n in app._notifications]
    app.clear_notifications()
    return out


async def prep_done(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_x_on_the_face_box_says_it_cannot_be_removed_and_what_to_do(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "face box")
        before = stored(project, app)
        said(app)
        await pilot.press("x")
        await pilot.pause()
        lines = said(app)
        assert any("face box cannot be removed" in s and "tab to a crop" in s for s in lines), lines
        assert stored(project, app) == before
        await select(pilot, screen, "bangs")  # x on a crop still removes it, and says so
        await pilot.press("x")
        await pilot.pause()
        assert "bangs" not in stored(project, app)["crops"]
        assert any("removed crop bangs" in s for s in said(app))


async def test_undo_and_redo_of_the_prep_toggles_say_what_they_undid(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await open_crops(app, pilot)
        for key, field, words in (("X", "fix_artifacts", "fix stray pixels"),
                                  ("W", "flatten_background", "flatten background")):
            await pilot.press(key)
            await prep_done(app, pilot)
            assert stored(project, app)["prep"][field] is True
            said(app)
            await pilot.press("u")
            await prep_done(app, pilot)
            assert stored(project, app)["prep"][field] is False
            assert f"undone: {words} (U redoes it)" in said(app)
            await pilot.press("U")
            await prep_done(app, pilot)
            assert stored(project, app)["prep"][field] is True
            assert f"redone: {words} (u undoes it)" in said(app)


async def test_undo_and_redo_of_a_move_a_removal_and_a_preset_name_them(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        await select(pilot, screen, "cowboy_shot")
        await pilot.press("down")
        said(app)
        await pilot.press("u")
        assert "undone: move of crop cowboy_shot (U redoes it)" in said(app)
        await pilot.press("shift+right", "u")
        assert "undone: resize of crop cowboy_shot (U redoes it)" in said(app)
        await pilot.press("x")
        said(app)
        await pilot.press("u")
        assert "undone: removal of crop cowboy_shot (U redoes it)" in said(app)
        assert "cowboy_shot" in stored(project, app)["crops"]
        await pilot.press("p", "u")  # preset dialog: u = upper body
        await pilot.pause()
        said(app)
        await pilot.press("u", "U")
        lines = said(app)
        assert "redone: preset upper body on crop cowboy_shot (u undoes it)" in lines, lines
        await select(pilot, screen, "face box")
        await pilot.press("left")
        said(app)
        await pilot.press("u")
        lines = said(app)
        assert any(s.startswith("undone: move of the face box") for s in lines), lines


async def test_crops_palette_offers_the_prep_toggles_and_undo_redo(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_crops(app, pilot)
        titles = [t for t, _, _ in screen.palette_commands()]
        for title in ("crops: fix stray pixels", "crops: flatten background", "crops: undo",
                      "crops: redo", "crops: remove crop"):
            assert title in titles, titles
