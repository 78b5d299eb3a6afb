"""Runs as separate processes: SIGKILL + exact resume, `onelora train --detach`, CLI errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import events as ev
from engine import runs
from engine.cli import main
from train_helpers import new_run, tiny_project

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = dict(epochs=4, repeats=2, lr_scheduler="cosine_with_restarts", lr_scheduler_num_cycles=2,
                lr_warmup_steps=3.0, shuffle_caption=True, keep_tokens=2, noise_offset=0.1,
                flip_aug=True)


def worker(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "run-worker", str(run_dir), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(run_dir: Path, predicate, timeout: float = 120.0) -> list[dict]:
    end = time.time() + timeout
    while time.time() < end:
        events = ev.read_events(run_dir)
        if predicate(events):
            return events
        time.sleep(0.05)
    raise AssertionError(f"timed out; events: {[e['kind'] for e in ev.read_events(run_dir)]}")


def by_step(events: list[dict]) -> dict[int, dict]:
    """The last step event for each step (a resumed run repeats the steps after the state)."""
    return {e["step"]: e for e in events if e["kind"] == "step"}


@pytest.mark.slow
def test_sigkill_after_epoch_1_then_resume_matches_an_uninterrupted_run(tmp_path):
    project = tiny_project(tmp_path / "a", **SCHEDULE)
    straight = new_run(project)
    killed = new_run(tiny_project(tmp_path / "b", **SCHEDULE))

    p = worker(straight)
    q = worker(killed)
    wait_for(killed, lambda es: any(e["kind"] == "epoch_end" for e in es))
    q.send_signal(signal.SIGKILL)
    q.wait(timeout=30)
    assert runs.run_info(killed).status == "crashed"
    assert p.wait(timeout=180) == 0, p.stderr.read().decode()[-2000:]

    r = worker(killed, "--resume")
    assert r.wait(timeout=180) == 0, r.stderr.read().decode()[-2000:]

    a, b = ev.read_events(straight), ev.read_events(killed)
    assert a[-1]["kind"] == b[-1]["kind"] == "finished"
    assert a[-1]["step"] == b[-1]["step"] == 16 and a[-1]["epoch"] == b[-1]["epoch"] == 4
    restarted = [e for e in b if e["kind"] == "started"]
    assert len(restarted) == 2 and restarted[1]["resumed_from"] == 4
    sa, sb = by_step(a), by_step(b)
    assert sorted(sa) == sorted(sb) == list(range(1, 17))
    for step in sa:
        assert sa[step]["lr"] == sb[step]["lr"], step
        assert sa[step]["epoch"] == sb[step]["epoch"]
        assert sa[step]["files"] == sb[step]["files"]
        assert sa[step]["loss"] == pytest.approx(sb[step]["loss"], rel=1e-4, abs=1e-6)
    assert len({round(sa[s]["lr"]["unet"], 12) for s in sa}) > 5  # the schedule really varies
    assert [e["epoch"] for e in b if e["kind"] == "epoch_end"][-3:] == [2, 3, 4]


@pytest.mark.slow
def test_train_detach_returns_at_once_and_sigterm_stops_and_resume_finishes(tmp_path, capsys):
    import json

    project = tiny_project(tmp_path, epochs=1, repeats=2)
    t0 = time.time()
    assert main(["train", str(project.root), "--detach", "--set", "epochs=8", "--json"]) == 0
    assert time.time() - t0 < 5.0
    out = json.loads(capsys.readouterr().out)
    run_dir = Path(out["path"])
    assert out["detached"] and run_dir.parent == project.root / "runs"
    assert runs.read_config(run_dir)["train"]["epochs"] == 8  # --set is frozen into the run

    wait_for(run_dir, lambda es: any(e["kind"] == "step" for e in es))
    os.kill(int((run_dir / "pid").read_text()), signal.SIGTERM)  # like `onelora stop`
    events = wait_for(run_dir, lambda es: es[-1]["kind"] in ev.END_KINDS, timeout=60)
    assert events[-1]["kind"] == "stopped", (run_dir / "worker.log").read_text()[-2000:]
    assert events[-1]["step"] < 32

    assert main(["train", str(project.root), "--detach", "--resume", run_dir.name]) == 0
    end = time.time() + 120
    while runs.run_info(run_dir).status in ("starting", "running", "stopped") and time.time() < end:
        time.sleep(0.2)
    info = runs.run_info(run_dir)
    assert info.status == "finished", (info, (run_dir / "worker.log").read_text()[-2000:])
    assert info.step == 32 and info.epoch == 8
    assert (run_dir / "zq_tester-000008.safetensors").exists()


def test_train_cli_rejects_bad_settings_with_exit_2(tmp_path, capsys):
    project = tiny_project(tmp_path)
    assert main(["train", str(project.root), "--set", "epochs=0"]) == 2
    assert "epochs" in capsys.readouterr().err
    assert main(["train", str(project.root), "--set", "no_such_thing=1"]) == 2
    assert main(["train", str(project.root), "--set", "optimizer=AdamW8bit", "--set", "max_steps=1"]) == 2
    assert "AdamW8bit needs bitsandbytes" in capsys.readouterr().err
    assert main(["train", str(project.root), "--model", str(tmp_path / "missing.safetensors"),
                 "--detach"]) == 2
    assert "train.model" in capsys.readouterr().err
    assert not (project.root / "runs").exists() or not any((project.root / "runs").iterdir())


def test_train_cli_set_takes_block_weight_lists_by_bare_name(tmp_path):
    import argparse

    from engine.cli.train_cmds import training_project

    project = tiny_project(tmp_path)
    args = argparse.Namespace(dir=str(project.root), model="builtin:tiny",
                              settings=["down_lr_weight=1,0,1,1,1,1,1,1,1,1,1,0.5", "mid_lr_weight=0",
                                        "samples.steps=3"])
    p = training_project(args)
    assert p.train.down_lr_weight[-1] == 0.5 and len(p.train.down_lr_weight) == 12
    assert p.train.mid_lr_weight == [0.0] and p.samples.steps == 3
    assert main(["train", str(project.root), "--set", "down_lr_weight=1,0,1"]) == 2


@pytest.mark.slow
def test_ctrl_c_on_a_foreground_train_stops_it_with_its_state_saved_and_resume_finishes(tmp_path):
    """`onelora train DIR` in a terminal, Ctrl-C: the banner promises a stop after the current
    step and --resume; the run used to end 'crashed' with no state and an abort at exit."""
    project = tiny_project(tmp_path, epochs=2, repeats=20)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    p = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", str(project.root)], cwd=ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    run_dir = None
    while run_dir is None and time.time() < deadline:
        found = sorted((project.root / "runs").glob("*-train")) if (project.root / "runs").is_dir() else []
        if found and any(e["kind"] == "step" for e in ev.read_events(found[0])):
            run_dir = found[0]
        time.sleep(0.05)
    assert run_dir is not None, "no step within 120 s"
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    kinds = [e["kind"] for e in ev.read_events(run_dir)]
    assert runs.run_info(run_dir).status == "stopped", out[-1500:]
    assert kinds[-1] == "stopped" and "terminate called" not in out
    stopped_at = ev.read_events(run_dir)[-1]["step"]
    assert stopped_at < 40 and (run_dir / "state" / "state.pt").is_file()
    assert main(["train", str(project.root), "--resume", run_dir.name]) == 0
    assert runs.run_info(run_dir).status == "finished"
