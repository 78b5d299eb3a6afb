"""The event contract (engine/events.py): one dataclass per kind, a tolerant parse, one
describe() for every UI, one RunStatus fold, and a writer that survives a torn last line."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest

from engine import events as ev

ROOT = Path(__file__).resolve().parent.parent


def one_of_each() -> list[ev.Event]:
    return [
        ev.Loading(phase="loading model", detail="builtin:tiny"),
        ev.Started(job="train", total_steps=20, epochs=2, steps_per_epoch=10, device="cpu",
                   precision="no", model="builtin:tiny"),
        ev.Step(step=3, epoch=1, total_steps=20, loss=0.25, loss_ema=0.3, lr={"unet": 1e-4},
                it_s=2.0, vram_mb=0.0, files=["crops/face.png"]),
        ev.Nonfinite(step=4, epoch=1, what="loss", files=["crops/face.png"], captions=["a"],
                     action="skipped"),
        ev.Rollback(step=6, lr_scale=0.5, rollbacks=1),
        ev.EpochEnd(epoch=1, step=10, loss=0.2),
        ev.Checkpoint(path="/p/runs/x/a-000001.safetensors", epoch=1, step=10),
        ev.Sampling(epoch=1, done=12, total=24, width=128, height=128, steps=8),
        ev.Sample(epoch=1, weight=0.8, prompt="zq, girl", seed=1, path="/p/s/0.png"),
        ev.Progress(step=2, total_steps=4, path="/p/reg/1_girl/0001.png"),
        ev.Log(message="hello"),
        ev.Paused(step=5),
        ev.Resumed(step=5),
        ev.Finished(path="/p/runs/x/a.safetensors", step=20, epoch=2),
        ev.Failed(reason="loss went NaN", hint="use bf16"),
        ev.Stopped(reason="stopped by the user", step=5, epoch=1),
    ]


def test_every_kind_has_a_dataclass_that_round_trips_through_the_log(tmp_path):
    built = one_of_each()
    assert sorted(e.kind for e in built) == sorted(ev.KINDS)
    with ev.EventWriter(tmp_path) as w:
        for e in built:
            w.emit_event(e)
    back = [ev.parse(d) for d in ev.read_events(tmp_path)]
    for a, b in zip(built, back):
        assert type(a) is type(b)
        same = lambda e: json.dumps(ev._clean({**e.to_dict(), "t": 0}))  # noqa: E731 (nan ≠ nan)
        assert same(b) == same(a)


def test_describe_gives_one_line_for_every_kind_and_names_what_matters():
    lines = {e.kind: ev.describe(e) for e in one_of_each()}
    assert all(line and "\n" not in line for line in lines.values())
    assert lines["loading"] == "loading model: builtin:tiny"
    assert lines["sampling"] == "sampling epoch 1: 12/24 images"
    assert "step 3/20" in lines["step"] and "0.2500" in lines["step"]
    assert "NON-FINITE loss at step 4" in lines["nonfinite"] and "face.png" in lines["nonfinite"]
    assert lines["failed"] == "FAILED loss went NaN (hint: use bf16)"
    assert "2/4 done" in lines["progress"] and "0001.png" in lines["progress"]
    # the same words from a decoded line (what `watch` and the TUI read)
    step = next(e for e in one_of_each() if e.kind == "step")
    assert ev.describe(json.loads(json.dumps(step.to_dict()))) == lines["step"]


def test_parse_keeps_unknown_kinds_and_fields_from_newer_versions():
    e = ev.parse({"t": 5, "kind": "grow", "size": 4096})
    assert isinstance(e, ev.Unknown) and e.kind == "grow" and e.extra == {"size": 4096}
    assert "grow" in ev.describe(e) and "4096" in ev.describe(e)
    s = ev.parse({"t": 5, "kind": "step", "step": 2, "loss": 0.5, "grad_norm": 3.0})
    assert s.step == 2 and s.extra == {"grad_norm": 3.0}
    cpu = ev.parse({"t": 5, "kind": "step", "step": 2, "vram_mb": None})  # null: not given
    assert math.isnan(cpu.vram_mb)
    status = ev.RunStatus.fold([{"t": 1, "kind": "started", "total_steps": 9},
                                {"t": 2, "kind": "upscale_tile", "n": 1}])
    assert status.state == "running" and status.total_steps == 9


@pytest.mark.parametrize("bad", [
    {"t": 1, "kind": "step", "step": "abc"},
    {"t": 1, "kind": "step", "step": 1, "loss": [1, 2]},
    {"t": 1, "kind": "step", "step": 1, "lr": "fast"},
    {"t": 1, "kind": "nonfinite", "files": "a.png"},
    {"t": 1, "kind": 3},
    {"t": 1},
])
def test_a_field_of_the_wrong_type_is_a_bad_event_never_a_crash(bad):
    with pytest.raises(ev.BadEvent):
        ev.parse(bad)
    status = ev.RunStatus.fold([{"t": 0, "kind": "started", "total_steps": 5}, bad,
                                {"t": 2, "kind": "step", "step": 2, "total_steps": 5}])
    assert status.step == 2 and status.bad_events == 1 and status.problem
    assert ev.describe(bad)  # shown as unreadable, not raised


def test_nonfinite_has_one_set_of_fields_whoever_writes_it(tmp_path):
    with ev.EventWriter(tmp_path) as w:  # the three call shapes engine/train.py uses
        w.emit("nonfinite", step=3, epoch=1, what="loss", loss=math.nan, files=["a"],
               captions=["c"], action="skipped")
        w.emit("nonfinite", step=4, epoch=1, what="weights", files=[], captions=[],
               action="rollback, LR × 0.5")
        w.emit("nonfinite", step=5, epoch=1, what="grad", files=["a"], captions=["c"],
               action="stop")
    keysets = {frozenset(e) for e in ev.read_events(tmp_path)}
    assert len(keysets) == 1
    assert set(next(iter(keysets))) == {"t", "kind", "step", "epoch", "what", "loss", "files",
                                        "captions", "action"}


def test_the_writer_ends_a_torn_last_line_before_appending(tmp_path):
    """A run that died mid-line (a full disk) and is resumed: its first new event must not be
    glued onto the torn line and lost."""
    with ev.EventWriter(tmp_path) as w:
        w.emit_event(ev.Started(total_steps=10))
    with open(tmp_path / ev.EVENTS_FILE, "a") as fh:
        fh.write('{"t":2,"kind":"step","st')
    with ev.EventWriter(tmp_path) as w:
        w.emit_event(ev.Loading(phase="starting"))
        w.emit_event(ev.Started(total_steps=10, resumed_from=4))
    reader = ev.EventReader.for_run(tmp_path)
    kinds = [e["kind"] for e in reader.read_new()]
    assert kinds == ["started", "loading", "started"] and reader.bad_lines == 1


def test_a_run_killed_while_paused_is_running_again_after_its_resume():
    log = [ev.Started(total_steps=10), ev.Step(step=1, total_steps=10), ev.Paused(step=1),
           # killed here; resumed:
           ev.Loading(phase="starting"), ev.Started(total_steps=10, resumed_from=0),
           ev.Step(step=1, total_steps=10)]
    assert ev.RunStatus.fold(log[:3]).state == "paused"
    assert ev.RunStatus.fold(log[:4]).state == "starting"
    status = ev.RunStatus.fold(log)
    assert status.state == "running" and status.step == 1
    # a stop, then a resume: the old end event no longer decides
    again = ev.RunStatus.fold([ev.Started(total_steps=10), ev.Stopped(reason="user"),
                               ev.Loading(phase="loading model")])
    assert (again.state, again.phase) == ("starting", "loading model")


def test_architecture_doc_lists_exactly_the_event_kinds():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc.split("## Event kinds", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert sorted(listed) == sorted(ev.KINDS)
    for kind, cls in ev.EVENT_TYPES.items():  # and each row names the class's fields
        row = next(line for line in section.splitlines() if line.startswith(f"| `{kind}` |"))
        for f in dataclasses.fields(cls):
            if f.name not in ("t", "extra"):
                assert f.name in row, (kind, f.name)


def test_watch_prints_a_step_of_a_small_run_on_one_80_column_line():
    """Found in a walk: `onelora watch` wrapped every step line at 80 columns
    (`text_encoder=5.00e-04 unet=1.00e-03` alone took 35)."""
    step = ev.Step(step=18, total_steps=56, epoch=1, loss=0.9837, loss_ema=1.0347, it_s=7.43,
                   lr={"text_encoder": 0.0005, "unet": 0.001})
    line = f"{ev.stamp(step)} {ev.describe(step)}"
    assert len(line) <= 80, line
    assert "te 5e-04" in line and "unet 1e-03" in line and "loss 0.9837" in line
