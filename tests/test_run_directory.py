"""The run directory contract (docs/architecture.md, "The run folder"): events, control, pid/heartbeat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from engine import events as ev
from engine import runs
from engine.cli import main


def test_events_reader_ignores_a_torn_last_line_until_it_is_complete(tmp_path):
    with ev.EventWriter(tmp_path) as w:
        w.emit("started", total_steps=10)
        w.emit("step", step=1, loss=0.5)
    path = tmp_path / ev.EVENTS_FILE
    with open(path, "a") as fh:
        fh.write('{"t": 1, "kind": "step", "st')  # the writer died mid-line
    reader = ev.EventReader(path)
    got = reader.read_new()
    assert [e["kind"] for e in got] == ["started", "step"]
    with open(path, "a") as fh:
        fh.write('ep": 2, "loss": 0.4}\n')
    more = reader.read_new()
    assert more == [{"t": 1, "kind": "step", "step": 2, "loss": 0.4}]
    assert reader.read_new() == []


def test_events_reader_skips_garbage_lines_and_counts_them(tmp_path):
    path = tmp_path / ev.EVENTS_FILE
    path.write_text('{"t":1,"kind":"started"}\nnot json\n[1,2]\n{"t":2,"kind":"finished"}\n')
    reader = ev.EventReader(path)
    assert [e["kind"] for e in reader.read_new()] == ["started", "finished"]
    assert reader.bad_lines == 2


def test_non_finite_numbers_are_written_as_strings_and_read_back_as_floats(tmp_path):
    with ev.EventWriter(tmp_path) as w:
        w.emit("nonfinite", step=3, loss=float("nan"), grad=float("inf"))
    line = (tmp_path / ev.EVENTS_FILE).read_text()
    json.loads(line)  # strict JSON
    (e,) = ev.read_events(tmp_path)
    assert ev.as_float(e["loss"]) != ev.as_float(e["loss"])  # nan
    assert ev.as_float(e["grad"]) == float("inf")


def test_follow_mode_sees_lines_appended_by_another_process(tmp_path):
    script = (
        "import sys, time; from engine.events import EventWriter\n"
        "w = EventWriter(sys.argv[1])\n"
        "for i in range(5):\n"
        "    w.emit('step', step=i, loss=1.0/(i+1)); time.sleep(0.05)\n"
        "w.emit('finished', path='x.safetensors')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                            cwd=os.getcwd())
    got = list(ev.EventReader.for_run(tmp_path).follow(poll=0.02, stop=lambda: False))
    proc.wait(timeout=10)
    assert [e.get("step") for e in got if e["kind"] == "step"] == [0, 1, 2, 3, 4]
    assert got[-1]["kind"] == "finished"


def _fake_run(project, kind="train"):
    run_dir = runs.new_run_dir(project, kind)
    runs.freeze_config(project, run_dir, kind)
    return run_dir


def test_a_run_whose_process_died_without_an_end_event_is_crashed(project):
    run_dir = _fake_run(project)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (run_dir / "pid").write_text(str(proc.pid))
    with ev.EventWriter(run_dir) as w:
        w.emit("started", total_steps=100, epochs=10)
        w.emit("step", step=5, epoch=1, total_steps=100, loss=0.2)
    info = runs.run_info(run_dir)
    assert info.status == "crashed" and info.step == 5 and "resume" in info.hint


def test_a_live_run_is_running_and_its_end_event_decides_its_status(project):
    run_dir = _fake_run(project)
    (run_dir / "pid").write_text(str(os.getpid()))
    (run_dir / "heartbeat").write_text(str(time.time()))
    with ev.EventWriter(run_dir) as w:
        w.emit("started", total_steps=10, epochs=1)
    assert runs.run_info(run_dir).status == "running"
    with ev.EventWriter(run_dir) as w:
        w.emit("failed", reason="loss went NaN 3 times", hint="try bf16")
    info = runs.run_info(run_dir)
    assert (info.status, info.hint) == ("failed", "try bf16")


def test_control_commands_are_seen_once_by_the_run(project):
    run_dir = _fake_run(project)
    runs.send_command(run_dir, "pause")  # written before the run started: stale
    control = runs.RunControl(run_dir)
    assert control.poll() is None
    runs.send_command(run_dir, "sample-now")
    assert control.poll() == "sample-now"
    assert control.poll() is None
    runs.send_command(run_dir, "stop")
    assert control.poll() == "stop"
    assert (run_dir / "pid").read_text() == str(os.getpid())


def test_runs_and_stop_commands_report_the_project_runs(project, capsys):
    run_dir = _fake_run(project)
    (run_dir / "pid").write_text(str(os.getpid()))
    (run_dir / "heartbeat").write_text(str(time.time()))
    with ev.EventWriter(run_dir) as w:
        w.emit("started", total_steps=10, epochs=2)
        w.emit("step", step=3, epoch=1, total_steps=10, loss=0.25)
    assert main(["runs", str(project.root), "--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)["runs"]
    assert (r["id"], r["status"], r["step"], r["loss"]) == (run_dir.name, "running", 3, 0.25)
    assert main(["stop", str(project.root), run_dir.name[:8] + "x"]) == 2
    capsys.readouterr()
    assert main(["stop", str(project.root), run_dir.name]) == 0
    assert json.loads((run_dir / "control").read_text())["command"] == "stop"
    assert main(["watch", str(project.root), "--no-follow"]) == 0
    assert "step 3/10" in capsys.readouterr().out


def test_watch_json_prints_the_raw_events_and_errors_stay_json(project, capsys):
    run_dir = _fake_run(project)
    with ev.EventWriter(run_dir) as w:
        w.emit("started", total_steps=2, epochs=1)
        w.emit("finished", path="x.safetensors")
    assert main(["watch", str(project.root), "--no-follow", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["kind"] for e in lines] == ["started", "finished"]
    assert main(["stop", str(project.root), "nosuchrun", "--json"]) == 2
    out = capsys.readouterr()
    assert "nosuchrun" in json.loads(out.out)["error"] and "nosuchrun" in out.err


def test_runs_shows_what_a_starting_worker_does_on_its_own_80_column_line(project, capsys):
    """Found in a walk: `runs` printed `starting 0/0 0/0 -  caching latents: 10 images`,
    86 columns, so the phase wrapped onto a line of its own."""
    run_dir = _fake_run(project)
    (run_dir / "pid").write_text(str(os.getpid()))
    (run_dir / "heartbeat").write_text(str(time.time()))
    with ev.EventWriter(run_dir) as w:
        w.emit("loading", phase="caching latents", detail="10 images")
    assert main(["runs", str(project.root)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if run_dir.name in x)
    assert "starting" in line and "caching latents: 10 images" in line and len(line) <= 80


def test_train_detach_says_the_run_and_how_to_follow_it_on_two_short_lines(project, capsys,
                                                                           monkeypatch):
    """Found in a walk: `train --detach` printed one 97-column line (run id, then the watch
    command with the id again) that wrapped mid-id; now two lines, like `sample --detach`."""
    project.train.optimizer = "AdamW"
    from engine import project as pj

    pj.save(project)
    started = []

    def fake_start(proj, kind, detach, **kw):
        started.append(kind)
        return _fake_run(proj, kind)

    monkeypatch.setattr(runs, "start_run", fake_start)
    assert main(["train", str(project.root), "--detach"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out.splitlines()
    assert started == ["train"]
    assert out[0].startswith("started run ") and out[1].startswith("follow it with: onelora watch")
    assert all(len(line) <= 80 for line in out if str(project.root) not in line)
