"""Shared helpers for the training tests: a tiny project with two drawn crops, and a run
directory made from it (torch-free; the tests import the engine themselves)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from engine import project as pj
from engine import runs

FAST = dict(model="builtin:tiny", resolution=64, min_bucket_reso=64, max_bucket_reso=128,
            bucket_reso_steps=64, epochs=2, repeats=3, optimizer="AdamW", mixed_precision="no",
            save_precision="float", sample_every_n_epochs=0, color_aug=False, cache_latents=True,
            network_dim=4, network_alpha=4.0, lr_warmup_steps=0.0, lr_scheduler="constant",
            unet_lr=1e-3, text_encoder_lr=5e-4)


def draw(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    img = Image.new("RGB", size, (250, 250, 250))
    d = ImageDraw.Draw(img)
    w, h = size
    d.ellipse((w // 4, h // 8, 3 * w // 4, h // 2), fill=colour)
    d.rectangle((w // 3, h // 2, 2 * w // 3, h - 4), fill=(30, 30, 40))
    img.save(path)
    return path


def tiny_project(root: Path, **train) -> pj.Project:
    """A project whose two crops are their own images (Crop.image), captioned by their tags."""
    root.mkdir(parents=True, exist_ok=True)
    src = draw(root / "drawing.png", (64, 64), (240, 200, 180))
    project = pj.create(src, root / "proj", trigger="zq_tester", class_name="girl")
    (project.root / "crops").mkdir()
    for name, size, colour, tags in (("face", (64, 64), (240, 180, 160), ["smile", "bangs"]),
                                     ("full_body", (64, 96), (90, 140, 220), ["standing", "boots"])):
        draw(project.root / "crops" / f"{name}.png", size, colour)
        project.crops.items.append(pj.Crop(name=name, box=[0, 0, *size], image=f"crops/{name}.png",
                                           tags=[pj.Tag(tag=t) for t in tags]))
    for key, value in {**FAST, **train}.items():
        setattr(project.train, key, value)
    pj.save(project)
    return project


def new_run(project: pj.Project) -> Path:
    """A run directory with the frozen config, no process started (and no lock held: a
    worker started by the test, or train() in this process, takes it)."""
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    return run_dir
