"""Journeys across screens (issue 10, reproductions 1–3 and 11's crop moves), each asserting
what project.toml holds on disk after a user's keys."""

from __future__ import annotations

import os
import time

from engine import project as pj
from engine.cli import main as cli
from tui.app import SAVE_EVERY, OneloraApp
from tui_journey import (SIZE, FrameCounter, disk_box, disk_tags, frames_while_idle, on_disk,
                         select_crop, settle)


async def test_crops_undo_after_tagging_all_crops_keeps_the_tag(project):
    """Repro 1: move a crop, tag every crop `smile` on Tags, back to Crops, undo → the box
    goes back and the tag stays (the undo used to restore whole crops, tags included)."""
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        crops = app.screen
        await select_crop(pilot, crops, "face")
        start = disk_box(project.root, "face")
        await pilot.press("j")
        await pilot.press("2")
        await settle(app, pilot)
        assert disk_box(project.root, "face") != start  # the switch wrote the move
        await pilot.press("A")
        await pilot.pause()
        await pilot.press(*"smile", "enter")
        await pilot.pause()
        assert all("smile" in tags for tags in disk_tags(project.root).values())
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("u")
        await pilot.press("q")
    assert disk_box(project.root, "face") == start
    tags = disk_tags(project.root)
    assert tags and all("smile" in t for t in tags.values()), tags


async def test_undo_of_a_removed_crop_brings_back_its_tags(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("A")
        await pilot.pause()
        await pilot.press(*"hat", "enter", "1")
        await pilot.pause()
        await select_crop(pilot, app.screen, "bangs")
        await pilot.press("x")
        app.flush_project()
        assert "bangs" not in disk_tags(project.root)
        await pilot.press("u", "q")
    assert "hat" in disk_tags(project.root)["bangs"]


async def test_new_crop_and_tab_bursts_settle_and_keys_act_on_the_crop_shown(project):
    """Repro 2: `n`, then Tab Tab Tab in one burst: the app goes idle (no refresh loop), Tab
    walks the list, and `x` removes the crop that is shown."""
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        counter = FrameCounter(app)
        await settle(app, pilot)
        crops = app.screen
        await pilot.press("n")
        assert crops.selected_name() == "custom_1"
        assert await frames_while_idle(pilot, counter, 1.0) == 0
        refreshes = crops.refreshes
        await pilot.pause(0.5)
        assert crops.refreshes == refreshes
        names = crops.items()
        await pilot.press("tab", "tab", "tab")
        expect = names[(names.index("custom_1") + 3) % len(names)]
        assert crops.selected_name() == expect
        assert await frames_while_idle(pilot, counter, 1.0) == 0
        await pilot.press("shift+tab")
        shown = crops.selected_name()
        assert shown not in ("face box", "custom_1")
        await pilot.press("x", "q")
    names_on_disk = [c["name"] for c in on_disk(project.root)["crops"]["items"]]
    assert shown not in names_on_disk
    assert "custom_1" in names_on_disk and "face" in names_on_disk or shown == "face"


async def test_tags_added_in_the_tui_keep_the_captions_the_cli_wrote_meanwhile(project):
    """Repro 3: TUI open on Tags; `onelora caption --tags` in another shell; one tag added in
    the TUI right after → every tag from the CLI is still in project.toml."""
    from engine import crops as ec

    ec.auto_crops(project)
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert cli(["caption", str(project.root), "--tags",
                    "school_uniform, red_ribbon, holding_book"]) == 0
        cli_tags = disk_tags(project.root)
        assert "school_uniform" in cli_tags["full_body"]
        await pilot.press("a")  # at once: the save itself must merge
        await pilot.pause()
        await pilot.press(*"hat", "enter")
        await pilot.pause()
        tags = disk_tags(project.root)
        for name, expected in cli_tags.items():
            assert expected <= tags[name], (name, expected - tags[name])
        assert "hat" in tags[app.screen.crop_name]


async def test_the_tui_picks_up_an_outside_change_within_a_second(project):
    """The poll merges another program's change into the open project (unsaved edits kept)
    and the next TUI edit composes with it."""
    from engine import crops as ec

    ec.auto_crops(project)
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        other = pj.load(project.root)
        other.reg.count = 17
        other.tags.underscores = True
        pj.save(other)
        await pilot.pause(1.2)
        assert app.project.reg.count == 17 and app.project.tags.underscores is True
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"bow", "enter")
        await pilot.pause()
        crop = app.screen.crop_name
    data = on_disk(project.root)
    assert data["reg"]["count"] == 17 and data["tags"]["underscores"] is True
    assert "bow" in disk_tags(project.root)[crop]


async def test_held_arrow_key_writes_a_few_times_a_second_and_quit_keeps_the_last_move(project):
    """Repro 11 (crop moves): a held key is drawn at once, saved at most every 250 ms, and
    a quit right after the last move still writes it."""
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        crops = app.screen
        await select_crop(pilot, crops, "face")
        await pilot.press("f")  # fine steps: many moves stay inside the image
        app.flush_project()
        writes = app.store.writes
        started = time.monotonic()
        for _ in range(12):  # ~30 repeats a second, like a held key
            await pilot.press("l")
            await pilot.pause(0.033)
        held = app.store.writes - writes
        took = time.monotonic() - started
        # the rule, whatever this machine's speed: one write per SAVE_EVERY (+1 at the edge)
        assert 1 <= held <= int(took / SAVE_EVERY) + 1, (held, took)
        assert held < 12 / 2
        await pilot.press("l")
        last = crops.selected_box()
        await pilot.press("q")
    assert disk_box(project.root, "face") == last


async def test_a_pending_move_is_written_before_another_screen_shows(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_crop(pilot, app.screen, "face")
        await pilot.press("l")
        box = app.screen.selected_box()
        assert app.save_pending
        mtime = os.stat(project.path).st_mtime_ns
        await pilot.press("3")
        assert disk_box(project.root, "face") == box
        assert os.stat(project.path).st_mtime_ns != mtime
