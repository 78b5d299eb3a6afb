"""Run folders the program did not expect (issue 13): damaged files show as one unreadable
run and hide none of the others; a long run is listed without reading its whole log; two runs
started in the same second get two folders; a moved project still finds its runs."""

from __future__ import annotations

import json
import shutil
import threading

from engine import events as ev
from engine import project as pj
from engine import runs
from engine.cli import main


def made_run(project, name: str, kind: str = "train") -> object:
    run_dir = runs.runs_root(project.root) / name
    run_dir.mkdir(parents=True)
    runs.freeze_config(project, run_dir, kind)
    with ev.EventWriter(run_dir) as w:
        w.emit_event(ev.Started(total_steps=10, epochs=2))
        w.emit_event(ev.Step(step=4, epoch=1, total_steps=10, loss=0.5))
        w.emit_event(ev.Finished(path=str(run_dir / "x.safetensors")))
    return run_dir


def test_damaged_run_folders_show_as_unreadable_and_hide_no_other_run(project, capsys):
    good = made_run(project, "20250101-000000-train")
    garbage_mid = made_run(project, "20250101-000001-train")
    text = (garbage_mid / ev.EVENTS_FILE).read_text().splitlines()
    (garbage_mid / ev.EVENTS_FILE).write_text("\n".join(text[:1] + ["\x00\x01 garbage {"] + text[1:]) + "\n")
    wrong_types = made_run(project, "20250101-000002-train")
    with open(wrong_types / ev.EVENTS_FILE, "a") as fh:
        fh.write(json.dumps({"t": 9, "kind": "step", "step": "four", "loss": [1],
                             "lr": "high", "epoch": {"a": 1}}) + "\n")
    huge_pid = made_run(project, "20250101-000003-train")
    (huge_pid / ev.EVENTS_FILE).write_text('{"t":1,"kind":"started","total_steps":5}\n')
    (huge_pid / "pid").write_text("99999999999999999999999999")
    pid_dir = made_run(project, "20250101-000004-train")
    (pid_dir / "pid").mkdir()
    bad_beat = made_run(project, "20250101-000005-train")
    (bad_beat / "heartbeat").write_text("yesterday")
    (bad_beat / "pid").write_text("-7")
    bad_config = made_run(project, "20250101-000006-train")
    (bad_config / "config.toml").write_text("[run\nkind = ")
    events_dir = made_run(project, "20250101-000007-train")
    (events_dir / ev.EVENTS_FILE).unlink()
    (events_dir / ev.EVENTS_FILE).mkdir()

    assert main(["runs", str(project.root), "--json"]) == 0
    listed = {r["id"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert len(listed) == 8
    assert listed[good.name]["status"] == "finished" and listed[good.name]["step"] == 4
    assert listed[garbage_mid.name]["status"] == "finished"
    assert "unreadable event line" in listed[garbage_mid.name]["note"]
    assert "step" in listed[wrong_types.name]["note"] and listed[wrong_types.name]["step"] == 4
    assert listed[huge_pid.name]["status"] == "crashed"
    assert listed[pid_dir.name]["status"] == "finished"
    assert listed[bad_beat.name]["status"] == "finished"
    assert listed[bad_config.name]["status"] == "unreadable"
    assert "config.toml" in listed[bad_config.name]["reason"]
    assert listed[events_dir.name]["status"] == "unreadable"
    assert main(["runs", str(project.root)]) == 0
    table = capsys.readouterr().out
    assert f"{bad_config.name}" in table and "unreadable: " in table and good.name in table
    for run in (good, garbage_mid, wrong_types, huge_pid, pid_dir, bad_beat):
        assert main(["watch", str(project.root), run.name, "--no-follow"]) == 0, run.name
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "unreadable event" in out.out
    for run in (bad_config, events_dir):  # one line naming the run and why, exit 2
        assert main(["watch", str(project.root), run.name, "--no-follow"]) == 2, run.name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"run {run.name} is unreadable" in err[0], err


def test_runs_lists_a_100k_event_run_from_the_ends_of_its_log(project, monkeypatch):
    run_dir = runs.runs_root(project.root) / "20250101-000000-train"
    run_dir.mkdir(parents=True)
    runs.freeze_config(project, run_dir, "train")
    n = 100_000
    lines = [ev.Started(t=1.0, total_steps=n, epochs=100, steps_per_epoch=1000).to_dict()]
    lines += [ev.Step(t=2.0, step=s, epoch=1 + (s - 1) // 1000, total_steps=n, loss=1.0 / s,
                      loss_ema=1.0 / s, lr={"unet": 1e-4}, it_s=5.0, vram_mb=0.0,
                      files=["crops/face.png"]).to_dict() for s in range(1, n + 1)]
    lines.append(ev.EpochEnd(t=3.0, epoch=100, step=n, loss=0.01).to_dict())
    (run_dir / ev.EVENTS_FILE).write_text("".join(json.dumps(ev._clean(e)) + "\n" for e in lines))
    size = (run_dir / ev.EVENTS_FILE).stat().st_size
    read = []
    real = ev.read_excerpt

    def counting(path, *a, **kw):
        excerpt = real(path, *a, **kw)
        read.append(excerpt.bytes_read)
        return excerpt

    monkeypatch.setattr(ev, "read_excerpt", counting)
    monkeypatch.setattr(ev.EventReader, "read_new", lambda self: 1 / 0)  # no full parse
    (info,) = runs.list_runs(project.root)
    assert (info.step, info.total_steps, info.epoch, info.epochs) == (n, n, 100, 100)
    assert info.loss == 1.0 / n and info.status == "crashed"  # no process, no end event
    assert size > 10_000_000 and sum(read) <= 100_000


def test_two_runs_started_in_the_same_second_get_two_folders(project):
    got, errors = [], []
    gate = threading.Barrier(8)

    def make() -> None:
        gate.wait()
        try:
            got.append(runs.new_run_dir(project, "train"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(got)) == 8


def test_a_moved_project_still_finds_its_runs(project, tmp_path):
    run_dir = runs.start_run(project, "train", detach=False)
    runs.release(run_dir)
    moved = tmp_path / "elsewhere" / "proj"
    moved.parent.mkdir()
    shutil.move(str(project.root), str(moved))
    shutil.rmtree(tmp_path / "proj", ignore_errors=True)
    frozen, run = runs.load_run_project(moved / "runs" / run_dir.name)
    assert frozen.root.resolve() == moved.resolve() and run["kind"] == "train"
    assert (frozen.root / frozen.source.image).is_file()
    assert pj.load(moved).trigger == frozen.trigger
