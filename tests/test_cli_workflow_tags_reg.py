"""CLI workflow, `tag` and `reg --preview` mistakes (found by the CLI QA pass): each gives exit
code 2 and one line saying what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine import project as pj
from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_tag_add_with_a_comma_is_refused(project, capsys):
    from engine import crops

    crops.set_crop(project, "face", [0, 0, 40, 40])
    assert main(["tag", str(project.root), "face", "--add", "hat, bow"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--add" in err[0] and "comma" in err[0]
    assert not any("," in t.tag for t in pj.load(project.root).crops.items[0].tags)


def test_reg_preview_unknown_wildcard_says_one_line(project):
    # a fresh process: the library's warning would go through logging's last-resort handler
    r = subprocess.run([sys.executable, "-m", "engine.cli", "reg", str(project.root), "--prompt",
                        "__nosuchcard__ girl", "--preview", "2"], capture_output=True, text=True,
                       cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                      "HF_HUB_OFFLINE": "1"}, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "__nosuchcard__" in lines[0] and "wildcards" in lines[0], lines


def test_reg_preview_zero_is_refused_and_starts_no_generation(project, capsys):
    project.reg.count = 0  # were it to start generating anyway, it has nothing to do
    pj.save(project)
    for n in ("0", "-2"):
        assert main(["reg", str(project.root), "--preview", n]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--preview" in err[0], err
    assert not (project.root / "runs").exists()
