"""Samples screen while a run draws samples (Pilot, 80×24, no torch): a fake run folder whose
events the test writes, as the sampling process would.

Found in a user walk: the first epoch's samples took minutes on builtin:tiny and the Samples
screen said only "No samples yet" all that time.  It now shows "sampling epoch N: k/M images"
while the run's events say a pass is drawing, and the line goes once the pass is over."""

from __future__ import annotations

import os

from textual.widgets import Static

from engine import events, runs
from engine import project as pj
from tui.screens.samples import SamplesScreen
from tui_host import ScreenHost


def live_train_run(project: pj.Project):
    """A training run folder whose process is alive (this test's pid holds its pid file)."""
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    (run_dir / "pid").write_text(str(os.getpid()))
    return run_dir


def sampling_line(app) -> str:
    status = app.screen.query_one("#samples-sampling", Static)
    return str(status.render()) if status.display else ""


async def wait_for(pilot, cond, tries: int = 100) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.05)
    assert cond()


async def test_samples_screen_says_which_epoch_is_being_sampled_and_how_far(project, monkeypatch):
    monkeypatch.setattr(SamplesScreen, "POLL_S", 0.1)
    run_dir = live_train_run(project)
    w = events.EventWriter(run_dir)
    w.emit("started", job="train", total_steps=10, epochs=2, steps_per_epoch=5,
           sample_images=24, sample_every=1)
    for s in range(1, 6):
        w.emit("step", step=s, epoch=1, total_steps=10, loss=0.1)
    w.emit("checkpoint", path=str(run_dir / "zq_tester-000001.safetensors"), epoch=1, step=5)
    app = ScreenHost(project, SamplesScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        assert sampling_line(app) == ""  # steps and a checkpoint: nothing is being drawn
        w.emit("sampling", epoch=1, done=0, total=24, width=128, height=128, steps=8)
        await wait_for(pilot, lambda: "sampling epoch 1: 0/24 images" in sampling_line(app))
        assert run_dir.name in sampling_line(app)
        w.emit("sampling", epoch=1, done=12, total=24, width=128, height=128, steps=8)
        await wait_for(pilot, lambda: "sampling epoch 1: 12/24 images" in sampling_line(app))
        w.emit("sampling", epoch=1, done=24, total=24, width=128, height=128, steps=8)
        for k in range(24):
            w.emit("sample", epoch=1, weight=1.0, prompt="zq_tester, girl", seed=k,
                   path=str(run_dir / f"s{k}.png"))
        w.emit("epoch_end", epoch=1, step=5, loss=0.1)
        await wait_for(pilot, lambda: sampling_line(app) == "")  # done: the line goes
        w.emit("sampling", epoch=2, done=0, total=24, width=128, height=128, steps=8)
        await wait_for(pilot, lambda: "sampling epoch 2: 0/24 images" in sampling_line(app))
        w.emit("log", message="sampling epoch 2 stopped after 0/24 images")
        w.emit("stopped", reason="stopped by the user", step=10, epoch=2)
        await wait_for(pilot, lambda: sampling_line(app) == "")  # a stopped pass is over too
    w.close()


async def test_a_dead_run_left_mid_sampling_shows_no_sampling_line(project, monkeypatch):
    """A run killed while drawing (no end event) is crashed, not sampling."""
    import subprocess
    import sys

    monkeypatch.setattr(SamplesScreen, "POLL_S", 0.1)
    run_dir = live_train_run(project)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (run_dir / "pid").write_text(str(proc.pid))
    with events.EventWriter(run_dir) as w:
        w.emit("started", job="train", total_steps=10, epochs=2, steps_per_epoch=5)
        w.emit("sampling", epoch=1, done=4, total=24, width=128, height=128, steps=8)
    assert runs.run_info(run_dir).status == "crashed"
    app = ScreenHost(project, SamplesScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        assert sampling_line(app) == ""
