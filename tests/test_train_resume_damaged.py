"""`onelora train --resume` with a damaged state/state.pt: one line naming the run, exit 2,
no traceback, no process started (issue 13)."""

from __future__ import annotations

import os

import pytest

from engine import events as ev
from engine.cli import main
from engine.errors import UserError
from engine.train import STATE_DIR, STATE_FILE, train
from train_helpers import new_run, tiny_project


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished one-epoch run; each test damages a copy of its state."""
    project = tiny_project(tmp_path_factory.mktemp("resume"), epochs=1, repeats=1)
    run_dir = new_run(project)
    train(run_dir)
    return project, run_dir, (run_dir / STATE_DIR / STATE_FILE).read_bytes()


def damage(good: bytes, how: str) -> bytes:
    return {"truncated": good[: len(good) // 2], "random": os.urandom(len(good)),
            "empty": b""}[how]


@pytest.mark.parametrize("how", ["truncated", "random", "empty"])
def test_resume_with_a_damaged_state_says_so_in_one_line(trained, how, capsys):
    project, run_dir, good = trained
    state = run_dir / STATE_DIR / STATE_FILE
    state.write_bytes(damage(good, how))
    n_events = len(ev.read_events(run_dir))
    try:
        capsys.readouterr()
        assert main(["train", str(project.root), "--resume", run_dir.name]) == 2
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out + err, err
        assert f"state of run {run_dir.name} is damaged" in lines[0]
        assert "start a new run" in lines[0]
        assert len(ev.read_events(run_dir)) == n_events  # nothing started, nothing written
    finally:
        state.write_bytes(good)


def test_a_worker_resuming_a_damaged_state_ends_failed_with_the_same_line(trained):
    project, run_dir, good = trained
    state = run_dir / STATE_DIR / STATE_FILE
    state.write_bytes(damage(good, "truncated"))
    try:
        with pytest.raises(UserError, match="is damaged"):
            train(run_dir, resume=True)
        end = ev.read_events(run_dir)[-1]
        assert end["kind"] == "failed" and "is damaged" in end["reason"]
    finally:
        state.write_bytes(good)
