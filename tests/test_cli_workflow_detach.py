"""CLI workflow, `--detach` from a relative project path (found by the CLI QA pass): the worker
runs in the project folder, so a run path relative to the user's cwd pointed nowhere and every
detached run from `onelora train myproj --detach` showed up as crashed."""

from __future__ import annotations

import json
import time

import pytest

from engine import project as pj
from engine import runs
from engine.cli import main


@pytest.mark.slow
def test_detach_from_a_relative_project_dir_runs(tmp_path, small_image, monkeypatch, capsys):
    project = pj.create(small_image, tmp_path / "proj", trigger="zq_tester")
    project.reg.count = 0  # a reg run with nothing to generate: the cheapest real worker
    pj.save(project)
    monkeypatch.chdir(tmp_path)
    assert main(["reg", "proj", "--detach", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    run_dir = tmp_path / "proj" / "runs" / (payload.get("run") or payload["id"])
    end = time.time() + 60
    info = runs.run_info(run_dir)
    while time.time() < end and info.status in ("starting", "running"):
        time.sleep(0.2)
        info = runs.run_info(run_dir)
    log = (run_dir / "worker.log").read_text()
    assert info.status == "finished", (info.status, log)
