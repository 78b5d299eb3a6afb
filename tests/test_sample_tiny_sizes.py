"""Samples and reg images on builtin:tiny are drawn at the tiny model's own size.

Found in a user walk: a project on the default model (builtin:tiny) drew each epoch's samples
at the seed's 512 px × 20 steps, so a loaded 2-core CPU took over 2.5 minutes for the first
image.  A run on builtin:tiny now freezes the tiny model's size into its config.toml and says
so there; the project's settings keep the seed's defaults for real models."""

from __future__ import annotations

import tomllib

import pytest

from engine import project as pj
from engine import runs
from engine.model_files import TINY_RESOLUTION
from engine.tiny_sizes import TINY_STEPS


def frozen(project: pj.Project, kind: str = "train", **run) -> dict:
    run_dir = runs.new_run_dir(project, kind)
    runs.freeze_config(project, run_dir, kind, **run)
    return tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))


def test_a_run_on_builtin_tiny_samples_at_the_tiny_size_and_says_so_in_its_config(project):
    assert project.train.model == "builtin:tiny"  # the default a new project gets
    config = frozen(project)
    samples, reg = config["samples"], config["reg"]
    assert (samples["width"], samples["height"], samples["steps"]) == (TINY_RESOLUTION,) * 2 + (TINY_STEPS,)
    assert (reg["width"], reg["height"], reg["steps"]) == (TINY_RESOLUTION,) * 2 + (TINY_STEPS,)
    note = config["run"]["sizes"]
    assert "builtin:tiny" in note and f"{TINY_RESOLUTION}×{TINY_RESOLUTION}" in note
    assert "512×512, 20 steps" in note  # names the seed's values it replaced
    # the project itself keeps the seed's defaults, for when a real model is set
    again = pj.load(project.root)
    assert (again.samples.width, again.samples.height, again.samples.steps) == (512, 512, 20)
    assert (again.reg.width, again.reg.height, again.reg.steps) == (512, 512, 25)


@pytest.mark.parametrize("model", ["/models/anything-v5.safetensors", "/models/sd15-diffusers"])
def test_a_run_on_a_real_model_keeps_the_seeds_512_and_20_steps(project, model):
    project.train.model = model
    config = frozen(project)
    assert (config["samples"]["width"], config["samples"]["steps"]) == (512, 20)
    assert (config["reg"]["height"], config["reg"]["steps"]) == (512, 25)
    assert "sizes" not in config["run"]


def test_a_sample_run_with_a_model_option_fits_the_model_it_uses(project):
    """`onelora sample --model builtin:tiny` on a project set to a real model."""
    project.train.model = "/models/anything-v5.safetensors"
    config = frozen(project, "sample", model="builtin:tiny")
    assert config["samples"]["width"] == TINY_RESOLUTION and "sizes" in config["run"]


def test_sizes_the_user_set_are_kept_on_builtin_tiny(project):
    project.samples.width, project.samples.height = 256, 192
    project.reg.steps = 3
    config = frozen(project)
    assert (config["samples"]["width"], config["samples"]["height"]) == (256, 192)
    assert config["samples"]["steps"] == TINY_STEPS  # still the seed's 20: fitted
    assert config["reg"]["steps"] == 3 and config["reg"]["width"] == TINY_RESOLUTION
    project.samples.steps = 12
    project.reg.width = project.reg.height = 64
    config = frozen(project)
    assert config["samples"]["steps"] == 12 and config["reg"]["width"] == 64
    assert "sizes" not in config["run"]  # nothing left at the seed's values


def test_one_side_changed_keeps_the_users_size(project):
    project.samples.width = 768  # height still 512: the pair is the user's choice
    config = frozen(project)
    assert (config["samples"]["width"], config["samples"]["height"]) == (768, 512)


@pytest.mark.slow
def test_a_train_run_on_builtin_tiny_draws_its_samples_at_the_tiny_size(project, tmp_path):
    """The frozen size reaches the images: sample_epoch with the run's project draws 128²."""
    import torch
    from PIL import Image

    from engine import epochs as ep
    from engine import models, sample
    from engine.lora import LoraNetwork

    project.samples.prompts = ["zq_tester, girl"]
    project.samples.seeds = [1]
    project.samples.weights = [1.0]
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    run_project, _ = runs.load_run_project(run_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        base = models.load_base("builtin:tiny")
        net = LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=4).apply()
        records = sample.sample_epoch(base, net, run_project, run_dir, 1, None)
        net.restore()
    finally:
        torch.set_num_threads(threads)
    assert [(r.width, r.height) for r in records] == [(TINY_RESOLUTION, TINY_RESOLUTION)]
    with Image.open(run_dir / records[0].file) as img:
        assert img.size == (TINY_RESOLUTION, TINY_RESOLUTION)
    assert ep.sampled_epochs(run_dir) == [1]
