"""A stop while samples are drawn ends the work within one denoising step, on builtin:tiny:
`onelora sample DIR RUN` (a user walk: the stop was only read between epochs, so a whole
epoch's images were drawn after it and the run said `finished`), regularization generation
(read between batches) and training's last epoch (the run said `finished`).  Images written
before the stop stay valid; the run ends `stopped` and says how many images it wrote."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine import epochs as ep
from engine import events, runs, sample
from test_sample_epochs import base, small_project, trained_network  # noqa: F401 (fixtures)


class StopAfterPeeks:
    """A control file: ``stop`` is sent just before the ``n``th denoising-step check."""

    def __init__(self, n: int) -> None:
        self.n, self.peeks, self.polled_stop = n, 0, False

    def peek(self):
        self.peeks += 1
        return "stop" if self.peeks >= self.n else None

    def poll(self):
        if self.peeks >= self.n and not self.polled_stop:
            self.polled_stop = True
            return "stop"
        return None

    def beat(self) -> None:
        pass


def _saved_epochs(base, project, n=2):
    train_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, train_dir, "train")
    net = trained_network(base, seed=5)
    try:
        with events.EventWriter(train_dir) as w:
            for epoch in range(1, n + 1):
                path = net.save(train_dir / f"zq_tester-{epoch:06d}.safetensors", dtype="float")
                w.emit("checkpoint", epoch=epoch, path=str(path))
            w.emit("finished")
    finally:
        net.restore()
    return train_dir


def test_stop_while_onelora_sample_draws_ends_it_within_a_denoising_step(base, small_project):
    small_project.samples.prompts = ["zq_tester, girl"]
    small_project.samples.seeds = [4, 5]
    small_project.samples.steps = 4
    train_dir = _saved_epochs(base, small_project)
    run_dir = runs.start_run(small_project, "sample", detach=False, source_run=train_dir.name,
                             epochs=[1, 2], weights=[1.0])
    # epoch 1: 4 step checks, all go on; the stop comes during epoch 2's second step
    control = StopAfterPeeks(4 + 2)
    try:
        with events.EventWriter(run_dir) as writer:
            sample.sample_job(run_dir, writer, control)
    finally:
        runs.release(run_dir)
    assert control.peeks == 6  # not one more step after the stop
    evs = events.read_events(run_dir)
    last = evs[-1]
    assert last["kind"] == "stopped" and last["epoch"] == 2 and last["images"] == 2
    assert "0/2 images" in last["reason"]
    assert [e["epoch"] for e in evs if e["kind"] == "sample"] == [1, 1]
    # epoch 1's images are whole and indexed; epoch 2 has none
    recs = ep.read_epoch(train_dir, 1)
    assert len(recs) == 2
    for r in recs:
        assert Image.open(train_dir / r.file).size == (64, 64)
    assert not ep.read_epoch(train_dir, 2)


def test_stop_while_reg_images_are_drawn_ends_within_a_denoising_step(base, project):
    project.train.model = "builtin:tiny"
    project.reg.count, project.reg.steps = 3, 4
    project.reg.width = project.reg.height = 64
    run_dir = runs.start_run(project, "reg", detach=False, batch_size=1)
    control = StopAfterPeeks(4 + 2)  # image 0 drawn, the stop during image 1's second step
    try:
        with events.EventWriter(run_dir) as writer:
            sample.reg_job(run_dir, writer, control)
    finally:
        runs.release(run_dir)
    assert control.peeks == 6
    last = events.read_events(run_dir)[-1]
    assert last["kind"] == "stopped" and last["images"] == 1 and "after 1 of 3" in last["reason"]
    from engine import reg as rg

    folder = rg.reg_folder(project)
    assert sorted(p.name for p in folder.glob("*.png")) == ["0000.png"]
    assert (folder / "0000.txt").read_text().strip()
    assert np.asarray(Image.open(folder / "0000.png")).shape == (64, 64, 3)


def test_stop_while_the_last_epoch_is_sampled_ends_the_training_run_stopped(tmp_path):
    from engine import project as pj
    from engine import train
    from train_helpers import new_run, tiny_project

    project = tiny_project(tmp_path, epochs=1, repeats=1, sample_every_n_epochs=1)
    project.samples.width = project.samples.height = 64
    project.samples.steps, project.samples.weights = 4, [1.0]
    pj.save(project)
    run_dir = new_run(project)
    control = StopAfterPeeks(2)  # peeks are the sampling pass's step checks only
    with events.EventWriter(run_dir) as writer:
        train.train_job(run_dir, writer, control)
    assert control.peeks == 2
    last = events.read_events(run_dir)[-1]
    assert last["kind"] == "stopped" and last["images"] == 0
    assert "stopped after 0/" in last["reason"] and "training was complete" in last["reason"]
    assert (run_dir / "zq_tester.safetensors").is_file()  # the trained LoRA is kept


def _wait(run_dir, until, limit=300.0):
    import time

    end = time.time() + limit
    while time.time() < end:
        evs = events.read_events(run_dir)
        if until(evs):
            return evs
        time.sleep(0.2)
    raise AssertionError(f"timed out: {[e['kind'] for e in events.read_events(run_dir)][-5:]}")


@pytest.mark.slow
def test_onelora_stop_during_a_detached_onelora_sample_ends_it_stopped(tmp_path):
    """The walk's reproduction end to end: a detached `onelora sample` of a trained run, and
    `onelora stop DIR` once it draws; the worker ends `stopped` before the epoch's images are
    written (it used to draw them all and end `finished`)."""
    from engine import project as pj
    from engine.cli import main
    from train_helpers import tiny_project

    project = tiny_project(tmp_path, epochs=1, repeats=1, sample_every_n_epochs=0)
    s = project.samples
    s.width = s.height = 512  # slow enough on builtin:tiny that the stop lands mid-epoch
    s.steps, s.seeds, s.weights = 30, [1, 2, 3], [0.6, 0.8, 1.0]
    pj.save(project)
    train_dir = runs.start_run(project, "train")
    _wait(train_dir, lambda evs: evs and evs[-1]["kind"] in events.END_KINDS)
    assert events.read_events(train_dir)[-1]["kind"] == "finished"
    run_dir = runs.start_run(project, "sample", source_run=train_dir.name)
    _wait(run_dir, lambda evs: any(e["kind"] == "sampling" for e in evs))
    assert main(["stop", str(project.root), run_dir.name]) == 0
    evs = _wait(run_dir, lambda evs: evs and evs[-1]["kind"] in events.END_KINDS)
    assert evs[-1]["kind"] == "stopped", evs[-1]
    assert evs[-1]["images"] == 0 and not [e for e in evs if e["kind"] == "sample"]
    assert not ep.sample_passes(train_dir, 1)  # no pass with half its images indexed
