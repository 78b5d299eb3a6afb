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
