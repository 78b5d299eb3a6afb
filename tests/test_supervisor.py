"""One supervisor for every run kind (engine/supervisor.py) and one job per kind per project:
the reproductions of issue 12 (a reg worker called crashed while it loads its model, a second
`train --detach`, `stop` refused for a slow reg worker, a reused pid keeping a dead run alive)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine import events as ev
from engine import project as pj
from engine import runs, supervisor
from engine.api import Engine
from engine.cli import main
from engine.errors import UserError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fast_heartbeat(monkeypatch):
    """A 45 s model load, scaled down: stale after 0.6 s, beats every 0.1 s."""
    monkeypatch.setattr(runs, "HEARTBEAT_STALE", 0.6)
    monkeypatch.setattr(runs, "HEARTBEAT_EVERY", 0.1)


def wait_until(cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    raise AssertionError("timed out")


def slow_reg_project(project, monkeypatch, load_s: float):
    """A reg run whose model load takes ``load_s`` seconds and whose images cost 0.1 s each."""
    from PIL import Image

    from engine import sample

    project.reg.count = 20
    pj.save(project)
    loading = threading.Event()

    def slow_load(spec, device, dtype):
        loading.set()
        time.sleep(load_s)
        return object()

    def slow_draw(base, jobs, **kw):
        time.sleep(0.1)
        return [Image.new("RGB", (8, 8)) for _ in jobs]

    monkeypatch.setattr(sample, "load_base_cached", slow_load)
    monkeypatch.setattr(sample, "generate_images", slow_draw)
    return loading


def test_a_reg_worker_loading_its_model_is_starting_not_crashed_and_stop_stops_it(
        project, monkeypatch, fast_heartbeat, capsys):
    loading = slow_reg_project(project, monkeypatch, load_s=1.5)
    run_dir = runs.start_run(project, "reg", detach=False, batch_size=1)
    codes = []
    worker = threading.Thread(target=lambda: codes.append(
        supervisor.run_here(run_dir, "reg", on_event=lambda e: None, say=lambda s: None)))
    worker.start()
    assert loading.wait(10)
    time.sleep(1.0)  # well past HEARTBEAT_STALE, still loading
    info = runs.run_info(run_dir)
    assert info.status == "starting" and info.phase.startswith("loading model"), info
    assert runs.heartbeat_age(run_dir) < runs.HEARTBEAT_STALE and not info.note
    (listed,) = runs.list_runs(project.root)
    assert listed.phase.startswith("loading model")
    # `onelora stop` is not refused ("is not running (it is crashed)") and the worker stops
    assert main(["stop", str(project.root), run_dir.name]) == 0
    worker.join(30)
    assert codes == [0]
    last = ev.read_events(run_dir)[-1]
    assert last["kind"] == "stopped"
    assert len(list((project.root / "reg").rglob("*.png"))) <= 1
    assert runs.run_info(run_dir).status == "stopped"


def test_the_heartbeat_beats_from_the_start_of_every_job(tmp_path, fast_heartbeat):
    ages = []

    def job(run_dir, writer, control, resume):
        for _ in range(8):  # a long silent stretch (loading, caching, compiling)
            time.sleep(0.1)
            ages.append(runs.heartbeat_age(run_dir))

    assert supervisor.supervise(tmp_path, job) == 0
    assert max(ages) < 0.35
    assert ev.read_events(tmp_path)[-1]["kind"] == "finished"


def test_a_stop_sent_while_the_worker_is_still_starting_is_not_lost(tmp_path):
    runs.send_command(tmp_path, "pause")  # older than the run: stale
    since = time.time()
    runs.send_command(tmp_path, "stop")   # `onelora stop` right after `--detach` returned
    seen = []

    def job(run_dir, writer, control, resume):
        seen.append(control.poll())
        writer.emit_event(ev.Stopped(reason="stopped by the user"))

    assert supervisor.supervise(tmp_path, job, since=since) == 0
    assert seen == ["stop"] and ev.read_events(tmp_path)[-1]["kind"] == "stopped"


def test_a_detached_worker_stopped_while_loading_ends_at_once(tmp_path, monkeypatch):
    """A stop during a long model load does not wait for the load (the detached worker
    exits; here the exit is recorded instead)."""
    exits = []
    monkeypatch.setattr(supervisor, "_hard_exit", exits.append)
    t_stop = []

    def job(run_dir, writer, control, resume):
        writer.emit_event(ev.Loading(phase="loading model", detail="a big checkpoint"))
        threading.Timer(0.3, lambda: (runs.send_command(run_dir, "stop"),
                                      t_stop.append(time.time()))).start()
        time.sleep(2.0)  # the load, deaf to commands

    assert supervisor.supervise(tmp_path, job, stop_while_starting=True) == 0
    events = ev.read_events(tmp_path)
    assert exits == [0] and [e["kind"] for e in events] == ["loading", "stopped"]
    assert events[-1]["t"] - t_stop[0] < 1.0  # not after the load


@pytest.mark.parametrize("error, code, words", [
    (UserError("train.epochs: must be at least 1"), 2, "train.epochs"),
    (RuntimeError("boom"), 1, "RuntimeError: boom"),
    (OSError(errno.ENOSPC, "No space left on device", "/p/runs/x/a.safetensors"), 2,
     "no space left on /p/runs/x/a.safetensors"),
    (RuntimeError("[enforce fail at inline_container.cc] : No space left on device"), 2,
     "no space left on the disk"),
])
def test_every_failure_ends_with_one_failed_event_and_its_exit_code(tmp_path, error, code, words):
    def job(run_dir, writer, control, resume):
        writer.emit_event(ev.Started(total_steps=3))
        raise error

    assert supervisor.supervise(tmp_path, job) == code
    events = ev.read_events(tmp_path)
    assert [e["kind"] for e in events] == ["started", "failed"]
    assert words in events[-1]["reason"] and events[-1]["hint"]


def test_a_full_disk_mid_line_still_ends_with_a_readable_failed_event(tmp_path):
    def job(run_dir, writer, control, resume):
        writer.emit_event(ev.Started(total_steps=3))
        with open(Path(run_dir) / ev.EVENTS_FILE, "a") as fh:  # what a short write leaves
            fh.write('{"t":1,"kind":"step","ste')
        writer._torn = True
        raise OSError(errno.ENOSPC, "No space left on device")

    assert supervisor.supervise(tmp_path, job) == 2
    events = ev.read_events(tmp_path)
    assert events[-1]["kind"] == "failed" and "no space left" in events[-1]["reason"]


def test_a_second_train_detach_is_refused_with_one_line_naming_the_running_job(project, capsys):
    first = runs.start_run(project, "train", detach=False)  # this process holds its lock
    with ev.EventWriter(first) as w:
        w.emit_event(ev.Started(total_steps=100, epochs=10))
        w.emit_event(ev.Step(step=7, epoch=1, total_steps=100, loss=0.3))
    assert main(["train", str(project.root), "--detach"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and first.name in err[0] and f"onelora stop {project.root}" in err[0]
    assert "--force" in err[0] and "7/100" in err[0]
    assert [p.name for p in runs.runs_root(project.root).iterdir() if p.is_dir()] == [first.name]
    # in code: JobRunning, passed through the TUI's Engine; force is never frozen
    with pytest.raises(runs.JobRunning) as caught:
        Engine().start_run(project, "train")
    assert (caught.value.run_id, caught.value.kind) == (first.name, "train")
    second = runs.start_run(project, "train", detach=False, force=True)
    assert "force" not in runs.read_config(second)["run"]
    # another kind is not blocked
    runs.release(second)
    reg = runs.start_run(project, "reg", detach=False)
    assert runs.run_kind(reg) == "reg"
    runs.release(reg)
    runs.release(first)
    assert runs.running_jobs(project.root) == []


def test_a_reused_pid_does_not_keep_a_dead_run_running(project):
    """The run's process died; another live process got its pid.  The lock, released by the
    OS when the worker died, says crashed, and --resume is allowed."""
    run_dir = runs.start_run(project, "train", detach=False)
    with ev.EventWriter(run_dir) as w:
        w.emit_event(ev.Started(total_steps=10, epochs=1))
        w.emit_event(ev.Step(step=3, epoch=1, total_steps=10, loss=0.5))
    (run_dir / "state").mkdir()  # it got past an epoch end (a run without state is not resumable)
    (run_dir / "state" / "state.pt").write_bytes(b"state")
    runs.release(run_dir)  # the worker is gone
    (run_dir / "pid").write_text(str(os.getpid()))  # ...and its pid is someone else's now
    (run_dir / "heartbeat").write_text(str(time.time()))
    info = runs.run_info(run_dir)
    assert info.status == "crashed" and "resume" in info.hint
    again = runs.start_run(project, "train", detach=False, resume=run_dir.name)
    assert again == run_dir and runs.run_info(run_dir).status != "crashed"
    runs.release(run_dir)


@pytest.mark.slow
def test_no_stale_lock_after_kill_9(project):
    run_dir = runs.start_run(project, "train", detach=False)
    runs.release(run_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from engine import runs; "
         "runs.take_lock(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(run_dir)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    assert runs.lock_held(run_dir) is True
    with pytest.raises(runs.JobRunning):
        runs.start_run(project, "train", detach=False)
    holder.kill()
    holder.wait(10)
    wait_until(lambda: runs.lock_held(run_dir) is False)  # released when the worker exits
    assert runs.run_info(run_dir).status == "crashed"
    runs.release(runs.start_run(project, "train", detach=False))


@pytest.mark.slow
def test_detach_returns_once_the_worker_has_said_what_it_does(project, capsys):
    project.reg.count, project.reg.width, project.reg.height, project.reg.steps = 1, 64, 64, 2
    pj.save(project)
    assert main(["reg", str(project.root), "--detach", "--json"]) == 0
    run_dir = project.root / "runs" / json.loads(capsys.readouterr().out)["run"]
    first = ev.read_events(run_dir)[0]  # already there when the command returned
    assert first["kind"] == "loading" and first["phase"] == "starting"
    assert runs.lock_held(run_dir) is True or runs.run_info(run_dir).status == "finished"
    wait_until(lambda: runs.run_info(run_dir).status not in runs.ACTIVE, timeout=120)
    assert runs.run_info(run_dir).status == "finished", (run_dir / "worker.log").read_text()
    wait_until(lambda: runs.lock_held(run_dir) is False)  # released when the worker exits


def test_onelora_reg_prints_progress_through_the_one_runner(project, monkeypatch, capsys):
    slow_reg_project(project, monkeypatch, load_s=0.0)
    project.reg.count = 3
    pj.save(project)
    assert main(["reg", str(project.root)]) == 0
    out = capsys.readouterr().out
    assert "loading model: builtin:tiny" in out and "started reg" in out
    assert "3/3 done" in out and "FINISHED" in out


def test_the_demo_reg_step_is_no_longer_silent(project, monkeypatch):
    from engine import demo

    slow_reg_project(project, monkeypatch, load_s=0.0)
    project.reg.count = 2
    pj.save(project)
    lines: list[str] = []
    run_dir = demo._foreground(project, "reg", lines.append)
    assert runs.run_info(run_dir).status == "finished"
    text = "\n".join(lines)
    assert "loading model: builtin:tiny" in text and "started reg" in text
    assert "2/2 done" in text and "FINISHED" in text


@pytest.mark.slow
def test_two_real_train_detach_then_stop(tmp_path, capsys):
    """The reproduction as a user types it: `train --detach` twice on one project."""
    from train_helpers import tiny_project

    project = tiny_project(tmp_path, epochs=200)
    assert main(["train", str(project.root), "--detach", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["run"]
    assert main(["train", str(project.root), "--detach"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and first in err[0] and "onelora stop" in err[0], err
    run_dir = project.root / "runs" / first
    wait_until(lambda: runs.run_info(run_dir).status == "running", timeout=120)
    assert main(["stop", str(project.root), first]) == 0
    wait_until(lambda: runs.lock_held(run_dir) is False, timeout=120)
    assert runs.run_info(run_dir).status == "stopped"
    assert len([p for p in (project.root / "runs").iterdir() if p.is_dir()]) == 1
