"""Training screen: a fake run directory written by the test (no torch) drives the dashboard."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import project as pj
from engine import runs
from engine.api import Engine
from engine.events import EventWriter, Nonfinite, Step
from tui.run_watch import RunModel, read_history, status_of
from tui.screens.train import TrainScreen
from tui.widgets.loss_chart import LossChart
from tui.widgets.nan_panel import NanPanel
from tui_host import ScreenHost


class FakeEngine(Engine):
    """Records commands and started runs instead of launching processes."""

    def __init__(self) -> None:
        self.sent: list[tuple[Path, str]] = []
        self.started: list[Path] = []

    def send(self, run_dir, command):
        self.sent.append((Path(run_dir), command))
        super().send(run_dir, command)

    def start_run(self, project, kind="train", **run):
        pj.save(project)
        run_dir = runs.start_run(project, kind, detach=False, **run)
        (run_dir / "pid").write_text(str(os.getpid()))
        self.started.append(run_dir)
        return run_dir


def Host(project: pj.Project, engine: Engine | None = None) -> ScreenHost:
    return ScreenHost(project, TrainScreen, engine)


def fake_run(project: pj.Project, name: str = "20250101-000000-train", alive: bool = True) -> Path:
    run_dir = runs.runs_root(project.root) / name
    run_dir.mkdir(parents=True)
    runs.freeze_config(project, run_dir, "train")
    if alive:
        pid = os.getpid()
    else:
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        pid = proc.pid
    (run_dir / "pid").write_text(str(pid))
    return run_dir


def write_steps(w: EventWriter, start: int, n: int, total: int = 100) -> None:
    for s in range(start, start + n):
        w.emit("step", step=s, epoch=1 + s // 10, total_steps=total, loss=1.0 / s,
               loss_ema=1.2 / s, lr={"unet": 1e-3, "text_encoder": 5e-4}, it_s=4.0,
               vram_mb=3000.0, files=["crops/face.png"])


async def wait_for(pilot, cond, tries: int = 60) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.05)
    assert cond()


async def test_dashboard_chart_and_numbers_follow_appended_events(project):
    run_dir = fake_run(project)
    w = EventWriter(run_dir)
    w.emit("started", total_steps=100, epochs=10, steps_per_epoch=10, device="cpu",
           precision="no")
    write_steps(w, 1, 5)
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        await wait_for(pilot, lambda: screen.snapshot.get("step") == 5)
        chart = screen.query_one(LossChart)
        assert len(chart.raw) == 5 and chart.raw[-1] == pytest.approx(0.2)
        write_steps(w, 6, 20)
        await wait_for(pilot, lambda: screen.snapshot.get("step") == 25)
        assert len(chart.xs) == 25
        head = str(screen.query_one("#dash-head").render())
        assert "step 25/100" in head and "running" in head
        progress = str(screen.query_one("#dash-progress").render())
        assert "4.00 it/s" in progress and "2.9 GiB" in progress and "unet 1.0e-03" in progress and "te 5.0e-04" in progress
        assert "ETA 18s" in head  # 75 steps left at 4 it/s
        # the run keys stay out of the 80-column footer; the dashboard says them while live
        keys = screen.query_one("#dash-end")
        assert keys.display and "s stop" in str(keys.render()) and "p pause" in str(keys.render())
    w.close()


async def test_nonfinite_event_shows_in_the_nan_panel(project):
    run_dir = fake_run(project)
    w = EventWriter(run_dir)
    w.emit("started", total_steps=50, epochs=5, steps_per_epoch=10, device="cpu", precision="fp16")
    write_steps(w, 1, 3, total=50)
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        panel = screen.query_one(NanPanel)
        await wait_for(pilot, lambda: screen.snapshot.get("step") == 3)
        assert not panel.has_class("-has-nan") and panel.display is False or \
            not panel.has_class("-has-nan")
        w.emit_event(Step(step=4, epoch=1, total_steps=50, loss=math.nan, loss_ema=0.3,
                          lr={"unet": 1e-3}, it_s=4.0, vram_mb=3000.0))
        # the action the trainer writes for a skipped step (engine/train.py's NaN policy)
        w.emit_event(Nonfinite(step=4, epoch=1, what="loss", files=["crops/bangs.png"],
                               captions=["zq_tester, girl, blunt bangs"], action="skipped"))
        await wait_for(pilot, lambda: screen.snapshot.get("nonfinite_total") == 1)
        await pilot.pause()
        assert panel.has_class("-has-nan") and panel.display
        text = str(panel.render())
        assert "step 4" in text and "bangs.png" in text and "skipped" in text
        assert "zq_tester, girl, blunt bangs" in text
        assert not math.isfinite(screen.query_one(LossChart).raw[-1])
    w.close()


async def test_stop_writes_the_control_command_after_confirming(project):
    run_dir = fake_run(project)
    w = EventWriter(run_dir)
    w.emit("started", total_steps=10, epochs=1, steps_per_epoch=10, device="cpu", precision="no")
    engine = FakeEngine()
    app = Host(project, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "running")
        await pilot.press("s")
        await pilot.pause()
        assert not (run_dir / "control").exists()  # only the question so far
        await pilot.press("n")  # declined
        await pilot.pause()
        assert not (run_dir / "control").exists()
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        control = json.loads((run_dir / "control").read_text())
        assert control["command"] == "stop" and engine.sent == [(run_dir, "stop")]
        await pilot.press("p")
        await pilot.pause()
        assert json.loads((run_dir / "control").read_text())["command"] == "pause"
    w.close()


async def test_run_with_dead_pid_shows_as_crashed_with_resume_offered(project):
    run_dir = fake_run(project, alive=False)
    (run_dir / "state").mkdir()
    (run_dir / "state" / "state.pt").write_bytes(b"saved at an epoch end")
    w = EventWriter(run_dir)
    w.emit("started", total_steps=100, epochs=10, steps_per_epoch=10, device="cpu",
           precision="no")
    write_steps(w, 1, 7)
    w.close()
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "crashed")
        end = screen.query_one("#dash-end")
        assert end.display and "CRASHED" in str(end.render())
        assert "press u to resume" in str(end.render())
        assert runs.run_info(run_dir).status == "crashed"  # same verdict as the engine
        await pilot.press("s")  # a dead run cannot be stopped: no question, no command
        await pilot.pause()
        assert not (run_dir / "control").exists()


async def test_failed_run_shows_diagnosis_and_hint(project):
    run_dir = fake_run(project)
    w = EventWriter(run_dir)
    w.emit("started", total_steps=100, epochs=10, steps_per_epoch=10, device="cuda",
           precision="fp16")
    w.emit("failed", reason="loss stayed non-finite after 3 rollbacks",
           hint="fp16 overflow: set mixed_precision = bf16")
    w.close()
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("status") == "failed")
        text = str(screen.query_one("#dash-end").render())
        assert "3 rollbacks" in text and "bf16" in text


async def test_switch_between_runs_attaches_to_the_picked_one(project):
    old = fake_run(project, "20250101-000000-train")
    with EventWriter(old) as w:
        w.emit("started", total_steps=10, epochs=1, steps_per_epoch=10, device="cpu",
               precision="no")
        write_steps(w, 1, 10, total=10)
        w.emit("finished", path=str(old / "zq.safetensors"))
    new = fake_run(project, "20250102-000000-train")
    with EventWriter(new) as w:
        w.emit("started", total_steps=10, epochs=1, steps_per_epoch=10, device="cpu",
               precision="no")
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("run") == new.name)
        await pilot.press("r")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen.snapshot.get("run") == old.name)
        assert screen.snapshot["status"] == "finished" and screen.snapshot["step"] == 10


def test_history_reader_tolerates_torn_and_bad_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"t":1,"kind":"started","total_steps":3}\nnot json\n'
                     b'{"t":2,"kind":"step","step":1,"loss":"nan"}\n{"t":3,"kind":"st')
    events, offset, pending = read_history(path)
    assert [e["kind"] for e in events] == ["started", "step"]
    assert pending == b'{"t":3,"kind":"st' and offset == path.stat().st_size
    model = RunModel(tmp_path)
    model.fold_all(events)
    assert model.total_steps == 3 and math.isnan(model.loss[0])
    assert status_of(model, alive=False)[0] == "crashed"


async def test_palette_offers_the_dashboard_run_keys(project):
    from tui.commands import screen_commands

    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        titles = [t for t, _, _ in screen_commands(app.screen)]
        for want in ("train: start", "train: stop", "train: pause/resume", "train: sample now",
                     "train: runs", "train: resume"):
            assert want in titles, titles


def test_eta_counts_the_epochs_sampling_and_counts_down_while_samples_are_drawn(tmp_path):
    """Watching a run: after epoch 1 (10 steps at 2 it/s, then 30 s of saving and samples)
    the ETA holds the 9 epochs left with their samples, not just their steps; while epoch 2's
    samples are drawn (no step events) it keeps counting down instead of freezing."""
    from engine.events import Checkpoint, EpochEnd, Sample, Started

    model = RunModel(tmp_path)
    events = [Started(t=0.0, total_steps=100, epochs=10, steps_per_epoch=10)]
    events += [Step(t=0.5 * s, step=s, epoch=1, total_steps=100, loss=0.1, loss_ema=0.1,
                    it_s=2.0) for s in range(1, 11)]  # last step at t=5
    events += [Checkpoint(t=6.0, path="a-000001.safetensors", epoch=1, step=10),
               Sample(t=20.0, epoch=1, weight=1.0, prompt="zq", seed=1, path="s.png"),
               EpochEnd(t=35.0, epoch=1, step=10, loss=0.1)]  # a 30 s tail
    model.fold_all([e.to_dict() for e in events])
    assert model.eta_s(now=35.0) == pytest.approx(90 / 2.0 + 9 * 30.0)
    more = [Step(t=35.0 + 0.5 * i, step=10 + i, epoch=2, total_steps=100, loss=0.1,
                 loss_ema=0.1, it_s=2.0) for i in range(1, 11)]  # last step at t=40
    more += [Checkpoint(t=41.0, path="a-000002.safetensors", epoch=2, step=20)]
    model.fold_all([e.to_dict() for e in more])
    at_41, at_55 = model.eta_s(now=41.0), model.eta_s(now=55.0)
    assert at_41 == pytest.approx(80 / 2.0 + 9 * 30.0 - 1.0)
    assert at_55 == pytest.approx(at_41 - 14.0)  # sampling: no events, the ETA still moves
    assert model.eta_s(now=500.0) == pytest.approx(80 / 2.0 + 8 * 30.0)  # never below the rest


async def test_dashboard_eta_moves_while_samples_are_drawn(project):
    import time

    from engine.events import Checkpoint, EpochEnd, Started

    run_dir = fake_run(project)
    now = time.time()
    events = [Started(t=now - 60, total_steps=20, epochs=2, steps_per_epoch=10)]
    events += [Step(t=now - 60 + s, step=s, epoch=1, total_steps=20, loss=0.1, loss_ema=0.1,
                    it_s=1.0) for s in range(1, 11)]
    events += [EpochEnd(t=now - 20, epoch=1, step=10, loss=0.1)]  # a 30 s tail
    events += [Step(t=now - 20 + s, step=10 + s, epoch=2, total_steps=20, loss=0.1, loss_ema=0.1,
                    it_s=1.0) for s in range(1, 11)]  # last step 10 s ago
    events += [Checkpoint(t=now - 9, path="a-000002.safetensors", epoch=2, step=20)]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("step") == 20)
        def eta() -> int:
            head = str(screen.query_one("#dash-head").render())
            return int(head.rsplit("ETA ", 1)[1].rstrip("s"))

        first = eta()
        assert 15 <= first <= 20  # a 30 s tail, 10 s of it gone: not the 0 s of steps left
        await wait_for(pilot, lambda: eta() < first, tries=50)  # no new event: it moves


def first_epoch_events(sample_images: int | None = 24, every: int = 1) -> list:
    """Epoch 1 of 2 (10 steps at 2 it/s, the last at t=5), its checkpoint at t=6."""
    from engine.events import Checkpoint, Started

    events = [Started(t=0.0, total_steps=20, epochs=2, steps_per_epoch=10,
                      sample_images=sample_images, sample_every=every)]
    events += [Step(t=0.5 * s, step=s, epoch=1, total_steps=20, loss=0.1, loss_ema=0.1,
                    it_s=2.0) for s in range(1, 11)]
    events += [Checkpoint(t=6.0, path="a-000001.safetensors", epoch=1, step=10)]
    return [e.to_dict() for e in events]


def test_first_epoch_eta_says_the_sampling_time_is_not_known_until_an_image_is_drawn(tmp_path):
    """Found in a walk: before any epoch had closed the ETA was the steps alone, minutes short
    of the samples still to draw, and did not say so.  Until the first batch of samples is
    drawn the tail is marked unknown; from then on it is the images left × the seconds per
    image measured in that batch (no constant), and it counts down while they are drawn."""
    from engine.events import Sampling

    from tui.screens.train import eta_text

    model = RunModel(tmp_path)
    model.fold_all(first_epoch_events())
    eta, known = model.eta(now=6.0)
    assert (eta, known) == (pytest.approx(10 / 2.0), False)  # steps of epoch 2 only
    assert eta_text(eta, known) == "5s + sampling?"
    model.fold_all([Sampling(t=6.0, epoch=1, done=0, total=24, width=128, height=128,
                             steps=8).to_dict()])
    assert model.eta(now=7.0)[1] is False  # drawing, but no image done yet
    model.fold_all([Sampling(t=18.0, epoch=1, done=12, total=24, width=128, height=128,
                             steps=8).to_dict()])  # 12 images in 12 s: 1 s an image
    eta, known = model.eta(now=18.0)
    assert known and eta == pytest.approx(5.0 + 12 * 1.0 + 24 * 1.0)  # rest of 1, all of 2
    assert eta_text(eta, known) == "41s"
    assert model.eta(now=22.0)[0] == pytest.approx(41.0 - 4.0)  # no event: it still moves
    model.fold_all([Sampling(t=30.0, epoch=1, done=24, total=24, width=128, height=128,
                             steps=8).to_dict()])
    assert model.eta(now=30.0) == (pytest.approx(5.0 + 24 * 1.0), True)  # epoch 2's samples


def test_first_epoch_eta_counts_only_the_epochs_that_sample(tmp_path):
    from engine.events import Sampling

    model = RunModel(tmp_path)
    model.fold_all(first_epoch_events(sample_images=0, every=0))  # sampling is off
    assert model.eta(now=6.0) == (pytest.approx(5.0), True)
    model = RunModel(tmp_path)
    model.fold_all(first_epoch_events(every=2))  # epoch 1 draws none; epoch 2 (last) does
    model.fold_all([Sampling(t=6.0, epoch=1, done=0, total=24).to_dict(),  # a sample-now pass
                    Sampling(t=12.0, epoch=1, done=12, total=24).to_dict()])
    eta, known = model.eta(now=12.0)
    assert known and eta == pytest.approx(5.0 + 12 * 0.5 + 24 * 0.5)


async def test_dashboard_head_says_the_sampling_tail_is_unknown_then_counts_it(project):
    import time

    from engine.events import Sampling, Started

    run_dir = fake_run(project)
    now = time.time()
    events = [Started(t=now - 20, total_steps=20, epochs=2, steps_per_epoch=10,
                      sample_images=24, sample_every=1)]
    events += [Step(t=now - 20 + s, step=s, epoch=1, total_steps=20, loss=0.1, loss_ema=0.1,
                    it_s=1.0) for s in range(1, 11)]  # last step 10 s ago
    events += [Sampling(t=now - 9, epoch=1, done=0, total=24, width=128, height=128, steps=8)]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("step") == 10)

        def head() -> str:
            return str(screen.query_one("#dash-head").render())

        assert "ETA 10s + sampling?" in head()  # epoch 2's steps; the samples not timed yet
        with EventWriter(run_dir) as w:  # 12 images in 9 s
            w.emit_event(Sampling(t=time.time(), epoch=1, done=12, total=24, width=128,
                                  height=128, steps=8))
        await wait_for(pilot, lambda: "sampling?" not in head())
        eta = head().rsplit("ETA ", 1)[1]
        assert eta.endswith("s") and 10 + 36 * 9 / 12 - 5 <= int(eta.rstrip("s")) <= 10 + 36 * 9 / 12
