"""Renaming a crop on the Crops screen (r): a crop the user added as custom_1 could not be
renamed in the TUI.  The new name lands in project.toml with the crop's box, preset and tags;
empty, illegal and taken names are refused in the dialog with the reason; u and U undo and redo
the rename with the tags intact; the kohya export uses the new name and leaves no old file."""

from __future__ import annotations

import tomllib

import pytest
from textual.widgets import Input, Static

from engine import crops as ec
from engine import kohya
from engine import project as pj
from engine import tags as tg
from engine.errors import UserError
from tui.app import OneloraApp
from tui.widgets.crop_rename import RenameCropScreen

SIZE = (80, 24)


def _crops_on_disk(project) -> dict[str, dict]:
    data = tomllib.loads(project.path.read_text())
    return {c["name"]: c for c in data["crops"]["items"]}


@pytest.fixture
def with_custom(project):
    from engine import images

    images.prepare(project)
    ec.auto_crops(project)
    ec.set_crop(project, "custom_1", [100, 300, 520, 520])
    tg.add_tag(project, "wrist_cuffs", "custom_1")
    tg.prune_tag(project, "wrist_cuffs", "custom_1")
    pj.save(project)
    return project


async def _open_on(app, pilot, name):
    for _ in range(2):
        await pilot.pause()
        await app.workers.wait_for_complete()
    screen = app.screen
    while screen.selected_name() != name:
        await pilot.press("tab")
    return screen


async def _rename(pilot, app, text):
    await pilot.press("r")
    await pilot.pause()
    assert isinstance(app.screen, RenameCropScreen)
    field = app.screen.query_one("#rename-crop", Input)
    field.value = ""
    await pilot.press(*text, "enter")
    await pilot.pause()


async def test_r_renames_a_new_crop_and_its_tags_box_and_order_follow(with_custom):
    before = _crops_on_disk(with_custom)["custom_1"]
    order = list(_crops_on_disk(with_custom))
    app = OneloraApp(with_custom.root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_on(app, pilot, "custom_1")
        from tui.commands import screen_commands

        assert any(title == "crops: rename crop" for title, _, _ in screen_commands(screen))
        assert any(b.id == "crops-rename" for b in type(screen).BINDINGS)
        await _rename(pilot, app, "wrist cuffs")  # a space becomes an underscore
        assert app.screen is screen
        told = [n.message for n in app._notifications]
        on_disk = _crops_on_disk(with_custom)  # saved at once, no flush needed
        assert screen.selected_name() == "wrist_cuffs"
    assert "custom_1" not in on_disk
    after = on_disk["wrist_cuffs"]
    assert after["box"] == before["box"] and after.get("preset", "") == before.get("preset", "")
    assert after["tags"] == before["tags"]  # the pruned wrist_cuffs tag, reason and all
    assert list(on_disk) == [n if n != "custom_1" else "wrist_cuffs" for n in order]
    assert any("crop custom_1 is now wrist_cuffs" in m for m in told)


async def test_rename_refuses_empty_illegal_and_taken_names_in_the_dialog(with_custom):
    app = OneloraApp(with_custom.root)
    async with app.run_test(size=SIZE) as pilot:
        await _open_on(app, pilot, "custom_1")
        for bad, why in (("", "needs a name"), ("cuffs/left", "not allowed"),
                         ("Face", "a crop named 'face' exists already")):
            await _rename(pilot, app, bad)
            assert isinstance(app.screen, RenameCropScreen), bad  # enter did not close it
            assert why in str(app.screen.query_one("#rename-error", Static).render())
            await pilot.press("escape")
            await pilot.pause()
    assert "custom_1" in _crops_on_disk(with_custom)


async def test_rename_is_undone_and_redone_with_its_tags(with_custom):
    app = OneloraApp(with_custom.root)
    async with app.run_test(size=SIZE) as pilot:
        await _open_on(app, pilot, "custom_1")
        await _rename(pilot, app, "cuff")
        await pilot.press("u")
        await pilot.pause()
        app.flush_project()
        undone = _crops_on_disk(with_custom)
        await pilot.press("U")
        await pilot.pause()
        app.flush_project()
        redone = _crops_on_disk(with_custom)
    assert "cuff" not in undone and "custom_1" in undone
    assert [t["tag"] for t in undone["custom_1"]["tags"]] == ["wrist_cuffs"]
    assert "custom_1" not in redone and "cuff" in redone
    assert redone["cuff"]["tags"] == undone["custom_1"]["tags"]


async def test_tags_screen_undo_reaches_a_renamed_crop(with_custom):
    app = OneloraApp(with_custom.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        tags = app.screen
        tags.crop_name = "custom_1"
        await pilot.press("a", *"bracelet", "enter")  # a tag edit on custom_1
        await pilot.pause()
        await pilot.press("1")
        await _open_on(app, pilot, "custom_1")
        await _rename(pilot, app, "cuff")
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("u")  # undo the tag edit: it reaches the crop under its new name
        await pilot.pause()
        app.flush_project()
    cuff = _crops_on_disk(with_custom)["cuff"]
    assert "bracelet" not in [t["tag"] for t in cuff["tags"]]


def test_engine_rename_checks_and_export_uses_the_new_name(with_custom, tmp_path):
    with pytest.raises(UserError, match="no crop named 'nope'"):
        ec.rename_crop(with_custom, "nope", "x")
    with pytest.raises(UserError, match="exists already"):
        ec.rename_crop(with_custom, "custom_1", "face")
    kohya.export(with_custom, tmp_path / "out")
    ec.rename_crop(with_custom, "custom_1", "cuff")
    assert pj.load(with_custom.root).crop("cuff").tags[0].tag == "wrist_cuffs"
    kohya.export(with_custom, tmp_path / "out")  # over the earlier export
    names = {p.name for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert "cuff.png" in names and "cuff.txt" in names
    assert not any(n.startswith("custom_1") for n in names)


def test_cli_crops_rename_moves_the_tags_and_refuses_a_taken_name(with_custom, capsys):
    from engine.cli import main

    root = str(with_custom.root)
    assert main(["crops", root, "--rename", "custom_1=face"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a crop named 'face' exists already" in err[0]
    assert main(["crops", root, "--rename", "custom_1=cuff"]) == 0
    on_disk = _crops_on_disk(with_custom)
    assert "custom_1" not in on_disk
    assert [t["tag"] for t in on_disk["cuff"]["tags"]] == ["wrist_cuffs"]


def test_undo_of_a_rename_says_rename_not_a_new_crop_and_a_removal(with_custom):
    from tui import crop_history as ch

    before = ch.capture(with_custom)
    crop = next(c for c in with_custom.crops.items if c.name == "custom_1")
    crop.name = "hands"
    edit = ch.Edit(before, ch.capture(with_custom), {})
    assert ch.describe(edit) == "rename of crop custom_1 to hands"
