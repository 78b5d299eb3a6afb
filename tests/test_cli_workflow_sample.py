"""CLI workflow, `sample` and argument mistakes (found by the CLI QA pass)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("weights", ["nan", "inf", "0.6,-inf"])
def test_sample_non_finite_lora_weight_is_refused(project, capsys, weights):
    # checked before any run is looked up or started
    assert main(["sample", str(project.root), "latest", "--weights", weights]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--weights" in err[0], err


def test_sample_bad_epochs_example_is_about_epochs(project, capsys):
    assert main(["sample", str(project.root), "latest", "--epochs", "two"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--epochs" in err and "0.6" not in err


def test_a_malformed_option_is_one_line_naming_the_help(tmp_path):
    r = subprocess.run([sys.executable, "-m", "engine.cli", "prep", str(tmp_path), "--upscale",
                        "1e9"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--upscale" in lines[0] and "onelora prep --help" in lines[0], lines
