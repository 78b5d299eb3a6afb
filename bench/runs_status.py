"""Benchmark: `onelora runs` on a project whose training run has 100,000 events, and how long a
detached start takes to return.

Prints ONE JSON line:

- ``list_runs_s``: engine.runs.list_runs (config.toml + the head and tail of events.jsonl);
  ``full_fold_s``: the old way, parsing and folding every event of the run (measured in the
  same run); ``events_mb`` the size of the log.
- ``detach_s``: engine.runs.start_run(..., detach=True) for a reg job until it returns (the
  worker has written its first event); ``first_event_phase`` is what it said.  The worker is
  then stopped.

Run: ``.venv/bin/python bench/runs_status.py`` (no torch in this process, ~10 s).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from engine import events as ev  # noqa: E402
from engine import project as pj  # noqa: E402
from engine import runs  # noqa: E402

N = 100_000


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "drawing.png"
        Image.new("RGB", (96, 160), (200, 180, 170)).save(image)
        project = pj.create(image, Path(tmp) / "proj", trigger="zq_bench")
        run_dir = runs.new_run_dir(project, "train")
        runs.freeze_config(project, run_dir, "train")
        lines = [ev.Started(t=1.0, total_steps=N, epochs=100, steps_per_epoch=1000).to_dict()]
        lines += [ev.Step(t=2.0, step=s, epoch=1 + (s - 1) // 1000, total_steps=N, loss=1.0 / s,
                          loss_ema=1.0 / s, lr={"unet": 1e-4}, it_s=5.0, vram_mb=0.0,
                          files=["crops/face.png"]).to_dict() for s in range(1, N + 1)]
        path = run_dir / ev.EVENTS_FILE
        path.write_text("".join(json.dumps(ev._clean(e)) + "\n" for e in lines))
        size_mb = round(path.stat().st_size / 1e6, 1)

        list_s = best_of(lambda: runs.list_runs(project.root))
        full_s = best_of(lambda: ev.RunStatus.fold(ev.read_events(run_dir)), n=1)

        project.reg.count = 1
        pj.save(project)
        t0 = time.perf_counter()
        reg_dir = runs.start_run(project, "reg", detach=True)
        detach_s = time.perf_counter() - t0
        first = ev.read_events(reg_dir)[:1]
        runs.send_command(reg_dir, "stop")
        end = time.time() + 60
        while runs.lock_held(reg_dir) and time.time() < end:
            time.sleep(0.1)
    print(json.dumps({
        "bench": "runs_status", "events": N + 1, "events_mb": size_mb,
        "list_runs_s": round(list_s, 4), "full_fold_s": round(full_s, 3),
        "detach_s": round(detach_s, 3),
        "first_event_phase": first[0].get("phase") if first else None,
    }))


if __name__ == "__main__":
    main()
