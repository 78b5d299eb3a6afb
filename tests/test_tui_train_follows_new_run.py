"""The training dashboard follows a run started from the CLI (``onelora train DIR --detach``)
while the TUI is open: a user walk found it stayed on the old, finished run until r, enter.
It never leaves a run that is still training (it says that a new one started instead)."""

from __future__ import annotations

from engine.events import EventWriter
from test_tui_train_dashboard import Host, fake_run, wait_for, write_steps
from tui.screens import train as train_screen


def finished_run(project, name):
    run_dir = fake_run(project, name, alive=False)
    w = EventWriter(run_dir)
    w.emit("started", total_steps=20, epochs=2, steps_per_epoch=10, device="cpu")
    write_steps(w, 1, 20, total=20)
    w.emit("finished", path=str(run_dir / "lora.safetensors"))
    return run_dir


def live_run(project, name):
    run_dir = fake_run(project, name, alive=True)
    w = EventWriter(run_dir)
    w.emit("started", total_steps=100, epochs=10, steps_per_epoch=10, device="cpu")
    write_steps(w, 1, 5)
    return run_dir


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_run_started_from_the_cli_is_followed_when_the_shown_one_has_finished(
        project, monkeypatch):
    monkeypatch.setattr(train_screen, "NEWER_RUN_EVERY", 0.1, raising=False)
    old = finished_run(project, "20250101-000000-train")
    app = Host(project)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "finished")
        assert screen.run_dir == old
        # the CLI's run folder: a sample job first (not a training run), then the training run
        fake_run(project, "20250101-000100-sample", alive=False)
        new = live_run(project, "20250101-000200-train")
        await wait_for(pilot, lambda: screen.run_dir == new)
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "running")
        assert any("following the new run 20250101-000200-train" in n for n in notes(app))
        # it stays on the live one when yet another run starts
        newer = live_run(project, "20250101-000300-train")
        await wait_for(pilot, lambda: any("20250101-000300-train started too" in n
                                          for n in notes(app)))
        assert screen.run_dir == new


async def test_a_live_run_being_watched_is_never_left_for_a_new_one(project, monkeypatch):
    monkeypatch.setattr(train_screen, "NEWER_RUN_EVERY", 0.1, raising=False)
    watched = live_run(project, "20250101-000000-train")
    app = Host(project)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "running")
        live_run(project, "20250101-000500-train")
        await wait_for(pilot, lambda: any("started too" in n for n in notes(app)))
        await pilot.pause(0.3)
        assert screen.run_dir == watched
        assert sum("started too" in n for n in notes(app)) == 1  # said once, not every look


async def test_an_older_run_picked_with_r_is_not_left_for_the_newest(project, monkeypatch):
    monkeypatch.setattr(train_screen, "NEWER_RUN_EVERY", 0.1, raising=False)
    older = finished_run(project, "20250101-000000-train")
    finished_run(project, "20250101-000100-train")
    app = Host(project)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "finished")
        screen.attach(older)  # what r, down, enter does
        await pilot.pause(0.5)
        assert screen.run_dir == older


async def test_the_first_run_of_a_project_started_from_the_cli_is_followed(project,
                                                                           monkeypatch):
    monkeypatch.setattr(train_screen, "NEWER_RUN_EVERY", 0.1, raising=False)
    app = Host(project)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.pause(0.3)
        assert screen.run_dir is None  # "no run yet"
        first = live_run(project, "20250101-000000-train")
        await wait_for(pilot, lambda: screen.run_dir == first)
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "running")
        assert any("following the new run 20250101-000000-train" in n for n in notes(app))


async def test_a_run_started_while_another_screen_is_shown_is_announced_on_coming_back(
        project, monkeypatch):
    from tui.app import OneloraApp
    from tui_journey import SIZE

    monkeypatch.setattr(train_screen, "NEWER_RUN_EVERY", 0.1, raising=False)
    finished_run(project, "20250101-000000-train")
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.5)
        train = app.screen
        await pilot.press("2")
        await pilot.pause(0.2)
        new = live_run(project, "20250101-000200-train")
        await wait_for(pilot, lambda: train.run_dir == new)  # followed meanwhile
        assert not any("following the new run" in n for n in notes(app))
        await pilot.press("4")
        await wait_for(pilot, lambda: any("following the new run 20250101-000200-train" in n
                                          for n in notes(app)))
