"""A run killed before its first epoch ended has no saved state: the dashboard says so and
u refuses at once.  Before, the dashboard offered 'u resume from the last saved state', and u
started a worker that loaded the model, then failed — turning the crashed run into a failed one
whose hint said to 'fix the setting named above'."""

from __future__ import annotations

import pytest

from engine import events as ev
from engine import runs
from engine.errors import UserError
from engine.events import EventWriter
from test_tui_train_dashboard import FakeEngine, Host, fake_run, wait_for, write_steps


def crashed_in_epoch_1(project):
    run_dir = fake_run(project, alive=False)
    with EventWriter(run_dir) as w:
        w.emit("started", total_steps=100, epochs=10, steps_per_epoch=10, device="cpu",
               precision="no")
        write_steps(w, 1, 7)
    return run_dir


async def test_resume_of_a_run_killed_in_its_first_epoch_is_refused_and_the_run_stays_crashed(project):
    run_dir = crashed_in_epoch_1(project)
    before = ev.read_events(run_dir)
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "crashed")
        end = str(screen.query_one("#dash-end").render())
        assert "no saved state" in end and "ctrl+g" in end
        assert "u resume" not in end and "press u" not in end
        await pilot.press("u")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.3)
    assert not (run_dir / "worker.log").exists()  # no worker was started
    assert ev.read_events(run_dir) == before
    assert runs.run_info(run_dir).status == "crashed"


def test_cli_and_engine_refuse_that_resume_in_one_line(project):
    run_dir = crashed_in_epoch_1(project)
    with pytest.raises(UserError, match="no saved state.*start a new run"):
        runs.start_run(project, "train", resume=run_dir.name)
    assert "no saved state" in runs.run_info(run_dir).hint
