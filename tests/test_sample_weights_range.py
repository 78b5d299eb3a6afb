"""`onelora sample --weights` keeps LoRA weights in a sane range (issue 13: -5 and 1e30 were
accepted); the sampling worker and samples.weights are held to the same range."""

from __future__ import annotations

import re

import pytest

from engine import epochs as ep
from engine import runs
from engine.cli import main
from engine.errors import UserError
from engine.project import save


@pytest.mark.parametrize("weights", ["-5", "1e30", "0.6,3.5", "-2.5"])
def test_sample_weight_out_of_range_is_refused_in_one_line(project, capsys, weights):
    assert main(["sample", str(project.root), "latest", "--weights", weights]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--weights" in err[0] and "between -2 and 3" in err[0], err
    assert not runs.runs_root(project.root).exists() or not any(runs.runs_root(project.root).iterdir())


def test_sample_weights_at_the_ends_of_the_range_pass_the_check():
    assert ep.check_lora_weights([-2, 0, 1, 3.0], "--weights") == [-2.0, 0.0, 1.0, 3.0]
    with pytest.raises(UserError, match="nan"):
        ep.check_lora_weights([float("nan")], "--weights")


def test_samples_weights_in_project_toml_out_of_range_is_refused(project, capsys):
    # a hand edit: save() itself refuses the value now, so write the file as a user would
    text = project.path.read_text(encoding="utf-8")
    assert "weights = [" in text
    project.path.write_text(re.sub(r"(?ms)^weights = \[.*?\]$", "weights = [0.8, 40.0]", text),
                            encoding="utf-8")
    assert main(["sample", str(project.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "samples.weights" in err[0] and "40.0" in err[0], err
