"""The quick commands never import torch (issue 12): `--help`, `runs`, `pick`, `inspect` (also of a
missing file) and `doctor` without a model answer without paying for torch, diffusers,
transformers or peft. Checked in a fresh interpreter, after each command, through sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_sample_pick import fake_training_run

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers", "peft", "spandrel")

_RUNNER = """
import contextlib, io, json, sys
from engine.cli import main
heavy = {heavy!r}
report = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    report.append({{"argv": argv, "rc": rc, "out": out.getvalue(), "err": err.getvalue(),
                    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy)}})
print(json.dumps(report))
"""


def run_commands(commands: list[list[str]]) -> list[dict]:
    code = _RUNNER.format(heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(commands)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_runs_pick_inspect_and_doctor_never_import_torch(project, tmp_path):
    run_dir = fake_training_run(project)
    lora = run_dir / f"{project.trigger}-000002.safetensors"
    commands = [["--help"], ["inspect", "--help"], ["runs", str(project.root)],
                ["runs", str(project.root), "--json"], ["inspect", str(lora)],
                ["inspect", str(lora), "--json"],
                ["inspect", str(tmp_path / "missing.safetensors")],
                ["pick", str(project.root), run_dir.name, "2"], ["doctor"], ["doctor", "--json"]]
    report = run_commands(commands)
    for r in report:
        assert r["heavy"] == [], f"onelora {' '.join(r['argv'])} imported {r['heavy']}"
    rc = {" ".join(r["argv"][:1] + r["argv"][2:3]): r["rc"] for r in report}
    assert [r["rc"] for r in report] == [0, 0, 0, 0, 0, 0, 2, 0, 0, 0], rc
    assert "rank / alpha   4 / 4" in report[4]["out"] and "not found" in report[6]["err"]
    assert (project.root / "output" / f"{project.trigger}.safetensors").is_file()  # pick did its work


def fake_checkpoint(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    save_file({k: np.zeros(s, dtype=np.float16) for k, s in shapes.items()}, str(path))
    return path


SD1_KEYS = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (32, 768),
            "first_stage_model.encoder.conv_in.weight": (8, 3, 3, 3),
            "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,)}
SDXL_KEYS = {"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (768,),
             "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (64, 2048)}


def test_doctor_and_the_train_check_read_a_checkpoint_without_torch(project, tmp_path):
    """`doctor --model FILE` and the check `train` makes before starting a worker classify a
    .safetensors checkpoint from its header: no torch in the caller (issue 12)."""
    sd1 = fake_checkpoint(tmp_path / "sd1.safetensors", SD1_KEYS)
    sdxl = fake_checkpoint(tmp_path / "sdxl.safetensors", SDXL_KEYS)
    report = run_commands([["doctor", "--model", str(sd1), "--json"],
                           ["doctor", "--model", str(sdxl)],
                           ["train", str(project.root), "--set", f"model={sdxl}"]])
    for r in report:
        assert r["heavy"] == [], f"onelora {' '.join(r['argv'])} imported {r['heavy']}"
    ok = json.loads(report[0]["out"])["model"]
    assert report[0]["rc"] == 0 and ok["ok"] and ok["kind"] == "single file", ok
    assert report[1]["rc"] == 2 and "SDXL" in report[1]["out"] + report[1]["err"]
    assert report[2]["rc"] == 2 and "SDXL" in report[2]["err"] and "train.model" in report[2]["err"]
    assert not (project.root / "runs").exists() or not any((project.root / "runs").iterdir())
