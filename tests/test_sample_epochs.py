"""Samples per epoch on builtin:tiny: epochs × weights × prompts images, a grid per epoch,
`sample` events, the overfit meter, weight 0 = the base model, and sampling a finished run
from its saved per-epoch LoRA files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from engine import epochs as ep
from engine import events, models, overfit, runs, sample
from engine.errors import UserError
from engine.lora import LoraNetwork


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model gains nothing from threads; a busy CPU loses a lot
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONELORA_CACHE", str(tmp_path_factory.getbasetemp() / "onelora-cache"))
        yield models.load_base("builtin:tiny")
    torch.set_num_threads(threads)


@pytest.fixture
def small_project(project):
    s = project.samples
    s.width = s.height = 64
    s.steps = 3
    s.seeds = [1, 2]
    s.weights = [0.6, 1.0]
    s.prompts = ["zq_tester, girl, smile", "zq_tester, girl, from side --d 7 --s 2 --n blurry"]
    return project


def trained_network(base, seed: int = 0, scale: float = 0.3) -> LoraNetwork:
    """A LoRA whose up-weights are non-zero, so it visibly changes the images."""
    net = LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=4)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.loras:
            w = m.lora_up.weight
            w.copy_(torch.randn(w.shape, generator=g) * scale)
    return net.apply()


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_sample_two_epochs_write_weights_x_prompts_images_grids_and_events(base, small_project,
                                                                            tmp_path):
    run_dir = tmp_path / "run"
    net = trained_network(base)
    try:
        with events.EventWriter(run_dir) as writer:
            for epoch in (1, 2):
                net.load_kohya_state_dict({k: v * epoch for k, v in
                                           net.kohya_state_dict().items() if "up" in k},
                                          strict=False)
                recs = sample.sample_epoch(base, net, small_project, run_dir, epoch, writer)
                # 2 weights × (prompt 0 with 2 seeds + prompt 1 with its own --d seed)
                assert len(recs) == 6
    finally:
        net.restore()
    for epoch in (1, 2):
        folder = ep.epoch_dir(run_dir, epoch)
        pngs = sorted(p.name for p in folder.glob("p*.png"))
        assert len(pngs) == 6
        assert "p01-s7-w1.00.png" in pngs
        grid = Image.open(folder / ep.GRID_FILE)
        assert grid.width > 2 * 64 and grid.height > 3 * 64
        assert Image.open(folder / pngs[0]).size == (64, 64)
    assert net.multiplier == 1.0  # restored after sampling
    evs = [e for e in events.read_events(run_dir) if e["kind"] == "sample"]
    assert len(evs) == 12
    assert {e["weight"] for e in evs} == {0.6, 1.0}
    assert {(e["epoch"], e["seed"]) for e in evs} >= {(1, 1), (1, 2), (1, 7), (2, 7)}
    grid = ep.SampleGrid.of_run(run_dir)
    assert grid.epochs == [1, 2] and grid.weights == [0.6, 1.0] and grid.seeds == [1, 2, 7]
    # LoRA weight changes the picture
    a = pixels(run_dir / grid.cell(2, 0.6, 0, 1).file)
    b = pixels(run_dir / grid.cell(2, 1.0, 0, 1).file)
    assert np.abs(a - b).max() > 0
    meter = json.loads((run_dir / overfit.OVERFIT_FILE).read_text())
    assert [c["epoch"] for c in meter["epochs"]] == [1, 2]
    for c in meter["epochs"]:
        assert math.isfinite(c["collapse"]) and math.isfinite(c["memorising"])
        assert 0.0 <= c["score"] <= 1.0
    assert meter["suggested_epoch"] in (1, 2)


def test_sample_weight_zero_reproduces_the_base_models_image(base, small_project, tmp_path):
    small_project.samples.prompts = ["zq_tester, girl, smile"]
    net = trained_network(base, seed=3)
    try:
        sample.sample_epoch(base, net, small_project, tmp_path / "run", 1, None,
                            weights=[0.0, 1.0])
    finally:
        net.restore()
    jobs = [sample.Job(p, s) for p in sample.resolve_prompts(small_project) for s in p.seeds]
    plain = sample.generate_images(base, jobs, clip_skip=small_project.train.clip_skip)
    for job, img in zip(jobs, plain):
        w0 = pixels(ep.epoch_dir(tmp_path / "run", 1) / ep.sample_file_name(0, job.seed, 0.0))
        w1 = pixels(ep.epoch_dir(tmp_path / "run", 1) / ep.sample_file_name(0, job.seed, 1.0))
        base_px = np.asarray(img, dtype=np.int16)
        assert np.array_equal(w0, base_px)
        assert np.abs(w1 - base_px).max() > 0


def test_sample_image_depends_on_seed_not_on_batch(base, small_project):
    p = sample.resolve_prompts(small_project)[0]
    jobs = [sample.Job(p, s) for s in (1, 2, 3)]
    batched = sample.generate_images(base, jobs, clip_skip=2, batch_size=3)
    single = sample.generate_images(base, [jobs[1]], clip_skip=2, batch_size=1)
    diff = np.abs(np.asarray(batched[1], np.int16) - np.asarray(single[0], np.int16)).max()
    assert diff <= 2  # same seed → same picture (tiny float noise across batch sizes)
    assert np.abs(np.asarray(batched[0], np.int16) - np.asarray(batched[1], np.int16)).max() > 0


@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m", "ddim"])
def test_sample_every_sampler_draws_finite_images(base, small_project, sampler):
    small_project.samples.sampler = sampler
    p = sample.resolve_prompts(small_project)[0]
    (img,) = sample.generate_images(base, [sample.Job(p, 5)], clip_skip=2)
    arr = np.asarray(img)
    assert arr.shape == (64, 64, 3) and arr.std() > 0


def test_sample_prompt_line_accepts_sd_scripts_options(small_project):
    s = small_project.samples
    p = sample.parse_prompt_line("a girl, smile --n bad hands --w 96 --h 128 --d 42 --l 5.5 "
                                 "--s 12 --ss dpm++", s, 3)
    assert (p.prompt, p.negative, p.width, p.height, p.seeds, p.cfg, p.steps, p.sampler, p.index) \
        == ("a girl, smile", "bad hands", 96, 128, [42], 5.5, 12, "dpmpp_2m", 3)
    q = sample.parse_prompt_line("plain prompt", s)
    assert q.seeds == [1, 2] and q.negative == s.negative and q.steps == 3
    with pytest.raises(UserError, match="--w"):
        sample.parse_prompt_line("x --w wide", s)
    with pytest.raises(UserError, match="sampler"):
        sample.parse_prompt_line("x --ss plms", s)


def test_sample_default_prompts_are_trigger_class_and_crop_captions(project):
    from engine.project import Crop, Tag

    project.crops.items = [Crop(name="face", box=[0, 0, 10, 10], preset="face",
                                tags=[Tag(tag="smile"), Tag(tag="red hair", kept=False)])]
    lines = sample.default_prompts(project)
    assert lines[0] == "zq_tester, girl"
    assert len(lines) == 2 and lines[1].startswith("zq_tester, girl") and "smile" in lines[1]
    assert "red hair" not in lines[1]


def test_sample_finished_run_from_saved_epoch_files(base, small_project, tmp_path):
    small_project.samples.prompts = ["zq_tester, girl"]
    small_project.samples.seeds = [4]
    train_dir = runs.new_run_dir(small_project, "train")
    runs.freeze_config(small_project, train_dir, "train")
    net = trained_network(base, seed=5)
    try:
        with events.EventWriter(train_dir) as w:
            for epoch in (1, 2):
                path = net.save(train_dir / f"zq_tester-{epoch:06d}.safetensors", dtype="float")
                w.emit("checkpoint", epoch=epoch, path=str(path))
            w.emit("finished")
        sample.sample_epoch(base, net, small_project, tmp_path / "direct", 2, None, weights=[1.0])
    finally:
        net.restore()
    assert sorted(ep.epoch_files(train_dir)) == [1, 2]
    run_dir = runs.start_run(small_project, "sample", detach=False, source_run=train_dir.name,
                             epochs=[2], weights=[1.0])
    assert sample.sample_run_worker(run_dir) == 0
    kinds = [e["kind"] for e in events.read_events(run_dir)]
    assert kinds[:2] == ["loading", "started"] and kinds[-1] == "finished" and kinds.count("sample") == 1
    name = ep.sample_file_name(0, 4, 1.0)
    from_file = pixels(ep.epoch_dir(train_dir, 2) / name)
    in_memory = pixels(ep.epoch_dir(tmp_path / "direct", 2) / name)
    assert np.abs(from_file - in_memory).max() <= 2
    assert not ep.epoch_dir(train_dir, 1).exists()  # only the epochs asked for


def test_sample_run_of_a_missing_epoch_fails_with_the_saved_ones(small_project):
    train_dir = runs.new_run_dir(small_project, "train")
    runs.freeze_config(small_project, train_dir, "train")
    run_dir = runs.start_run(small_project, "sample", detach=False, source_run=train_dir.name,
                             epochs=[9])
    assert sample.sample_run_worker(run_dir) == 2
    last = events.read_events(run_dir)[-1]
    assert last["kind"] == "failed" and "epoch(s) 9" in last["reason"]


def test_sample_later_weights_join_the_epochs_index_and_grid(base, small_project, tmp_path):
    small_project.samples.prompts = ["zq_tester, girl"]
    small_project.samples.seeds = [1]
    net = trained_network(base, seed=8)
    try:
        sample.sample_epoch(base, net, small_project, tmp_path, 1, None, weights=[0.6])
        sample.sample_epoch(base, net, small_project, tmp_path, 1, None, weights=[1.0])
    finally:
        net.restore()
    assert sorted(r.weight for r in ep.read_epoch(tmp_path, 1)) == [0.6, 1.0]
    one_column = sample.make_grid([[Image.new("RGB", (64, 64))]], ["w"], ["r"])
    grid = Image.open(ep.latest_pass_dir(tmp_path, 1) / ep.GRID_FILE)  # the second pass's
    assert ep.latest_pass_dir(tmp_path, 1).name == "epoch-001-2"
    assert grid.height == one_column.height and grid.width > one_column.width + 100


def test_sampling_an_epoch_says_what_it_draws_before_the_first_image(base, small_project,
                                                                    tmp_path):
    """Found in a walk: after the epoch's checkpoint, minutes of sampling (42 images at 512²)
    passed with no event, so the dashboard and `watch` sat silent.  The first event of the
    pass now names how many images, their size and steps; one after each batch counts them
    (the Samples screen's "k/M images" line and the dashboard's per-image time read them)."""
    run_dir = tmp_path / "run"
    net = trained_network(base)
    try:
        with events.EventWriter(run_dir) as writer:
            sample.sample_epoch(base, net, small_project, run_dir, 1, writer, batch_size=1)
    finally:
        net.restore()
    evs = list(events.read_events(run_dir))
    assert evs[0]["kind"] == "sampling"
    assert (evs[0]["epoch"], evs[0]["done"], evs[0]["total"]) == (1, 0, 6)
    first = events.describe(evs[0])
    assert first.startswith("sampling epoch 1: 6 images") and "64×64" in first
    assert "3 steps" in first
    counts = [e["done"] for e in evs if e["kind"] == "sampling"][1:]
    assert counts == [2, 4, 6]  # one job × both weights per batch
    first_sample = next(i for i, e in enumerate(evs) if e["kind"] == "sample")
    assert first_sample > 0 and all(e["kind"] == "sample" for e in evs[first_sample:])


def test_a_stop_sent_while_an_epoch_is_sampled_ends_the_pass_within_a_denoising_step(base, small_project,
                                                                           tmp_path):
    """Found in a walk: `onelora stop` during the epoch-end sampling (42 images at 512² on a
    CPU) was ignored until every image was drawn.  The pass now ends after the current denoising step
    and says so; the loop's next poll of the control file then stops the run."""
    from engine import train

    class StopAsked:  # the stop arrives during the second denoising step of the first batch
        peeks = 0

        def peek(self):
            self.peeks += 1
            return "stop" if self.peeks >= 2 else None

    control = StopAsked()

    run_dir = tmp_path / "run"
    net = trained_network(base)
    try:
        with events.EventWriter(run_dir) as writer:
            small_project.samples.weights = [1.0]
            train.run_sampling(base, net, small_project, run_dir, 1, writer, control)
    finally:
        net.restore()
    evs = list(events.read_events(run_dir))
    assert not [e for e in evs if e["kind"] == "sample"]  # no image saved after the stop
    assert control.peeks == 2  # not one more denoising step after the stop
    assert any("stopped after 0/" in e.get("message", "") for e in evs if e["kind"] == "log")
    assert not (ep.epoch_dir(run_dir, 1)).exists() or not list(ep.epoch_dir(run_dir, 1).glob("p*"))
