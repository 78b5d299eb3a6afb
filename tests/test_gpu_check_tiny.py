"""bench/gpu_check.py --tiny: the device check's whole code path on the CPU with builtin:tiny, so
the script cannot rot between device sessions (the CUDA form is the same code with SD1.5 shapes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_tiny_runs_every_item_through_the_cli_and_writes_one_json(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), str(tmp_path / "out"), "--tiny"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    items = report["items"]
    assert set(items) == {"defaults", "bf16_adamw", "nan", "resume", "step_speed", "whole_job"}
    assert all(v["pass"] for v in items.values()) and report["pass"] and report["device"] == "cpu"
    assert report["project"]["crops"] == 8
    d = items["defaults"]
    assert d["steps"] == 80 and d["samples"] == 2 * 4 * 2 * 3  # epochs × prompts × seeds × weights
    assert d["inspect"]["ok"] and d["files"]["all_finite"] and d["started"]["latents"].startswith("cached")
    assert items["nan"]["nonfinite_events"] > 0 and items["nan"]["rollbacks"] > 0
    assert items["nan"]["status"] == "failed" and items["nan"]["hint"]
    r = items["resume"]
    assert r["killed"] and r["resumed_from"] and r["same_steps_epochs_and_lr"] and r["resumed_steps"] == 32
    job = items["whole_job"]
    for key in ("model_load_s", "latent_cache_s", "compile_warmup_s", "training_steps_s", "sampling_s",
                "saves_s", "other_s"):
        assert job[key] is not None and job[key] >= 0, key
    assert job["sampling_s"] > 0 and job["training_steps_s"] > 0
    assert {"train_step_it_s", "train_step_te_it_s"} <= set(items["step_speed"]["figures"])
    runs = list((tmp_path / "out" / "projects" / "drawing" / "runs").glob("*/events.jsonl"))
    assert len(runs) == 4  # bf16_adamw, nan, the killed-and-resumed run, defaults
