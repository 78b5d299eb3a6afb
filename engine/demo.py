"""``onelora demo``: the whole workflow on the bundled drawing and the builtin:tiny model.

Every step is the same engine function the CLI and the TUI call; the demo only chooses small
settings so that it finishes in a few minutes on a CPU.  builtin:tiny is a pipeline check,
not a base model: the LoRA it makes proves the pipeline, not a character.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine import project as pj
from engine.errors import UserError

# Tags a user would type for the demo drawing (or a WD14 tagger would find).
# Kept short enough that every caption stays inside CLIP's 75-token window.
DEMO_TAGS = (
    "1girl, solo, standing, looking at viewer, closed mouth, brown hair, long hair, "
    "blunt bangs, blue eyes, white headwear, hat bow, green bow, white capelet, striped, "
    "black corset, long skirt, white skirt, long sleeves, wrist cuffs, boots, "
    "simple background, white background"
)
# A custom close-up, in pixels of the 768×1280 drawing (scaled to the prepared image).
DEMO_CUSTOM_CROP = ("wrist_cuffs", (470, 590, 130, 140))

# Small settings so the demo trains in minutes on two CPU cores (seed defaults otherwise).
DEMO_TRAIN = {
    "model": "builtin:tiny",
    "epochs": 3,
    "repeats": 5,
    "resolution": 128,
    "min_bucket_reso": 64,
    "max_bucket_reso": 256,
    "optimizer": "AdamW",
    "mixed_precision": "no",
    "save_precision": "fp16",
}
DEMO_SAMPLES = {"steps": 8, "width": 64, "height": 64, "seeds": [1, 2]}
DEMO_REG = {"count": 4, "steps": 8, "width": 64, "height": 64}


@dataclass
class DemoResult:
    root: Path
    outputs: dict[str, str] = field(default_factory=dict)
    run_dir: Path | None = None


def _refuse_to_replace(root: Path, demo_image: Path, force: bool) -> None:
    """``--force`` rebuilds a demo project; a project made from another image (the user's own
    work: crops, tags, settings) is never replaced by the demo's."""
    try:
        existing = pj.load(root)
        ours = existing.source.sha256 == hashlib.sha256(demo_image.read_bytes()).hexdigest()
        what = f"trigger {existing.trigger!r}"
    except UserError:
        ours, what = False, "one onelora cannot read"
    if not ours:
        raise UserError(f"{root} holds a project that is not the demo ({what}); the demo never "
                        "replaces it, even with --force: choose another folder (onelora demo DIR)")
    if not force:
        raise UserError(f"{root} already holds a project; pass --force to rebuild the demo there "
                        f"or choose another folder (onelora demo DIR)")


def run_demo(root: str | os.PathLike, *, say: Callable[[str], None] = print,
             force: bool = False) -> DemoResult:
    """Build the demo project in ``root`` and run every workflow step on it."""
    from engine import crops, images, kohya, runs, tags
    from engine.demo_image import demo_image_path

    root = Path(root)
    result = DemoResult(root=root)
    out = result.outputs
    t0 = time.time()

    def step(name: str, path: object) -> None:
        out[name] = str(path)
        say(f"[{time.time() - t0:6.1f}s] {name:10} {path}")

    say("onelora demo — builtin:tiny is a pipeline check, not a base model for real LoRAs")
    if (root / pj.PROJECT_FILE).exists():
        _refuse_to_replace(root, demo_image_path(), force)
    project = pj.create(demo_image_path(), root, trigger="d3mochar", class_name="girl",
                        force=True)
    step("project", project.path)

    prep = images.prepare(project, upscale_to=2048, fix_artifacts=True)
    step("prepared", f"{prep.prepared} ({prep.size[0]}x{prep.size[1]}, "
                     f"{len(prep.artifacts)} stray-colour islands, {prep.fixed} fixed)")

    crops.auto_crops(project)
    name, (x, y, w, h) = DEMO_CUSTOM_CROP
    scale = prep.size[0] / images.load_image(demo_image_path()).image.size[0]
    crops.set_crop(project, name, [round(v * scale) for v in (x, y, w, h)])
    pj.save(project)
    step("crops", ", ".join(c.name for c in project.crops.items))

    tags.tag_crops(project, image_tags=tags.split_tags(DEMO_TAGS))
    pj.save(project)
    first = project.crops.items[0]
    step("captions", f"{len(project.crops.items)} crops, e.g. {first.name}: "
                     f"{tags.caption(project, first)}")

    for key, value in DEMO_TRAIN.items():
        pj.set_setting(project, f"train.{key}", value)
    for key, value in DEMO_SAMPLES.items():
        pj.set_setting(project, f"samples.{key}", value)
    for key, value in DEMO_REG.items():
        pj.set_setting(project, f"reg.{key}", value)
    pj.save(project)

    reg_dir = _foreground(project, "reg", say)
    info = runs.run_info(reg_dir)
    if info.status != "finished":
        raise UserError(f"regularization generation {info.status}: {info.reason} {info.hint}")
    from engine import reg as rg

    step("reg", rg.reg_folder(project))

    exported = kohya.export(project, root / "kohya")
    step("export", exported.dest if hasattr(exported, "dest") else root / "kohya")

    run_dir = _foreground(project, "train", say)
    result.run_dir = run_dir
    info = runs.run_info(run_dir)
    if info.status != "finished":
        raise UserError(f"demo training {info.status}: {info.reason} {info.hint}")
    step("run", run_dir)
    loras = sorted(run_dir.glob("*.safetensors"))
    step("loras", ", ".join(p.name for p in loras))
    samples = sorted((run_dir / "samples").rglob("*.png")) if (run_dir / "samples").is_dir() else []
    step("samples", f"{len(samples)} images in {run_dir / 'samples'}")

    from engine import epochs, overfit

    meter = overfit.read(run_dir)
    if not meter["epochs"]:
        meter = overfit.write(run_dir, overfit.crop_images(project))
    epoch = meter.get("suggested_epoch") or max(epochs.epoch_files(run_dir))
    step("overfit", ", ".join(f"e{c['epoch']}={c['score']:.3f}" for c in meter["epochs"]
                              if c.get("score") is not None) + f" -> suggests epoch {epoch}")
    picked = epochs.pick_epoch(project, run_dir, epoch)
    step("picked", f"{picked} (epoch {epoch})")
    return result


def _foreground(project: pj.Project, kind: str, say: Callable[[str], None]) -> Path:
    """Run a train/reg run in this process, through its run folder and the one supervisor
    (engine/supervisor.py), printing a progress line every few seconds."""
    from engine import runs, supervisor

    run_dir = runs.start_run(project, kind, detach=False)
    printer = supervisor.Printer(lambda line: say(f"           {line}"), every=5.0, stamps=False)
    supervisor.run_here(run_dir, kind, on_event=printer, say=lambda line: say(f"           {line}"))
    return run_dir
