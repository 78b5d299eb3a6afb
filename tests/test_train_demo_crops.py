"""Training on the demo drawing's crops: the loss falls over a few hundred steps (builtin:tiny)."""

from __future__ import annotations

import math

import pytest

from engine import crops, images, runs, tags
from engine import events as ev
from engine import project as pj
from engine.demo import DEMO_TAGS
from engine.demo_image import demo_image_path
from engine.train import train


@pytest.mark.slow
def test_loss_falls_over_a_few_hundred_steps_on_the_demo_crops(tmp_path):
    project = pj.create(demo_image_path(), tmp_path / "p", trigger="d3mochar")
    images.prepare(project, upscale_to=1024, fix_artifacts=True)
    crops.auto_crops(project)
    tags.tag_crops(project, image_tags=tags.split_tags(DEMO_TAGS))
    settings = {"epochs": 4, "repeats": 8, "resolution": 64, "min_bucket_reso": 64,
                "max_bucket_reso": 128, "optimizer": "AdamW", "mixed_precision": "no",
                "sample_every_n_epochs": 0, "color_aug": False}
    for key, value in settings.items():
        pj.set_setting(project, f"train.{key}", value)
    pj.save(project)
    run_dir = runs.start_run(project, "train", detach=False)
    train(run_dir)
    events = ev.read_events(run_dir)
    steps = [e for e in events if e["kind"] == "step"]
    started = next(e for e in events if e["kind"] == "started")
    assert len(steps) == 4 * 7 * 8 == started["total_steps"]
    assert all(math.isfinite(e["loss"]) for e in steps)
    means = [e["loss"] for e in events if e["kind"] == "epoch_end"]
    assert means[-1] < 0.8 * means[0], means
    assert len(list(run_dir.glob("d3mochar-*.safetensors"))) == 4
    assert events[-1]["kind"] == "finished"
