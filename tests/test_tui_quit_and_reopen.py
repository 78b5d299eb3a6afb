"""Quitting never drops an edit silently, and reopening the TUI mid-run lands on the run.

- an edit project.toml refused (the file was broken by hand meanwhile, the disk is full) stays
  pending: quitting asks first, "n" keeps the app open, and once the file is fixed quitting
  writes the edit;
- `onelora open DIR` while a training run of DIR is going opens the training dashboard
  following that run, not the Crops screen.
"""

from __future__ import annotations

import os

from engine import crops as ec
from engine import events, runs
from engine import project as pj
from tui.app import OneloraApp, start_mode_for
from tui.widgets.train_dialogs import ConfirmScreen
from tui_journey import SIZE, disk_box, select_crop, settle


def live_train_run(project):
    """A training run folder that reads as running: this process's pid, a first event."""
    run_dir = runs.start_run(project, "train", detach=False)
    (run_dir / "pid").write_text(str(os.getpid()))
    with events.EventWriter(run_dir) as w:
        w.emit("started", total_steps=40)
    return run_dir


async def move_face_crop_after_the_file_broke(app, pilot, project) -> str:
    """On Crops: the file is broken by hand, then the face crop moves (a save the store must
    refuse).  Returns the file's good text."""
    await settle(app, pilot)
    await select_crop(pilot, app.screen, "face")
    good = project.path.read_text()
    project.path.write_text(good + "\n[broken\n")  # an editor saved a half-typed line
    await pilot.press("f", "l", "l")  # fine moves: stay inside the image
    return good


async def test_quit_with_an_edit_the_file_refused_asks_and_keeps_it(project):
    ec.auto_crops(project)
    pj.save(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        good = await move_face_crop_after_the_file_broke(app, pilot, project)
        moved = app.screen.selected_box()
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # stay
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        project.path.write_text(good)  # the user repairs the file
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running
    assert disk_box(project.root, "face") == moved


async def test_quit_anyway_drops_the_edit_only_when_the_user_says_y(project):
    ec.auto_crops(project)
    pj.save(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        broken = await move_face_crop_after_the_file_broke(app, pilot, project) + "\n[broken\n"
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
    assert not app.is_running
    assert project.path.read_text() == broken  # nothing written over the user's file


def test_reopening_while_a_training_run_goes_lands_on_the_dashboard(project):
    ec.auto_crops(project)
    assert start_mode_for(project.root) == "crops"
    run_dir = live_train_run(project)
    assert start_mode_for(project.root) == "train"
    with events.EventWriter(run_dir) as w:
        w.emit("finished", path=str(run_dir / "x.safetensors"), step=40)
    assert start_mode_for(project.root) == "crops"


async def test_the_dashboard_opened_mid_run_follows_that_run(project):
    ec.auto_crops(project)
    run_dir = live_train_run(project)
    app = OneloraApp(project.root, start_mode=start_mode_for(project.root))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)  # (the run follower is a worker that never ends: no settle)
        assert app.current_mode == "train"
        assert app.screen.run_dir == run_dir
