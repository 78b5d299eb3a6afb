"""Benchmark: one epoch's samples on builtin:tiny, at the run's sizes against the seed's 512².

What a training run on builtin:tiny draws after an epoch: 4 prompts × 2 seeds × 3 LoRA
weights = 24 images (the seed's sample settings), through engine.sample.sample_epoch — the
function the loop calls — with a rank-4 LoRA applied.

- **baseline**: the seed's sample defaults (512×512, 20 steps), what builtin:tiny drew before
  engine/tiny_sizes.py.
- **value**: the sizes a run on builtin:tiny now freezes into its config.toml
  (engine.runs.freeze_config → engine.tiny_sizes.fit_to_model).

Both in the same process, one thread (as engine.sample.load_base_cached sets for the tiny
model on the CPU), baseline first.  Prints one JSON line: ``sample_epoch_tiny_s`` (value =
seconds now, baseline = seconds before, speedup = baseline / value).  ``--prompts`` (default
1: 6 images) up to 4 (the whole epoch, 24 images): the baseline took 646 s for 6 images on
the project's loaded 2-core machine, so the default keeps it to one prompt.

Run: ``.venv/bin/python bench/sample_epoch.py [--prompts 4]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine import offline_env  # noqa: E402

offline_env()

import torch  # noqa: E402

from engine import models, runs, sample  # noqa: E402
from engine import project as pj  # noqa: E402
from engine.lora import LoraNetwork  # noqa: E402

PROMPTS = ["zq_tester, girl", "zq_tester, girl, face, blue eyes, blunt bangs",
           "zq_tester, girl, upper body, white capelet", "zq_tester, girl, boots, long skirt"]


def frozen_project(root: Path, prompts: int) -> pj.Project:
    """A project on builtin:tiny with the seed's sample settings, as a run freezes it."""
    project = pj.Project(root=root, trigger="zq_tester")
    project.train.model = "builtin:tiny"
    project.samples.prompts = PROMPTS[:prompts]
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    return runs.load_run_project(run_dir)[0]


def time_epoch(base, network, project: pj.Project, run_dir: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    records = sample.sample_epoch(base, network, project, run_dir, 1, None)
    return time.perf_counter() - t0, len(records)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", type=int, default=1, choices=range(1, len(PROMPTS) + 1))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    base = models.build_tiny()
    network = LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=4).apply()
    with tempfile.TemporaryDirectory(prefix="onelora-bench-") as tmp:
        root = Path(tmp)
        before = pj.Project(root=root, trigger="zq_tester")
        before.samples.prompts = PROMPTS[:args.prompts]
        after = frozen_project(root, args.prompts)
        t_before, n = time_epoch(base, network, before, root / "before")
        t_after, n_after = time_epoch(base, network, after, root / "after")
    s = after.samples
    print(json.dumps({
        "name": "sample_epoch_tiny_s", "value": round(t_after, 3), "baseline": round(t_before, 3),
        "speedup": round(t_before / t_after, 1), "images": n, "images_now": n_after,
        "now": f"{s.width}x{s.height}, {s.steps} steps",
        "baseline_settings": f"{before.samples.width}x{before.samples.height}, "
                             f"{before.samples.steps} steps (the seed's defaults)",
        "device": "cpu (1 torch thread)", "torch": torch.__version__}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
