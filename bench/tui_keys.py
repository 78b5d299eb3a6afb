"""Crop moves through the real app: key → repaint time and project.toml writes, vs. a baseline.

Prints ONE JSON line.  A project is made from the demo drawing (prepared at 2048 px, the seven
preset crops); ``OneloraApp`` runs headless at 80×24 under Textual's Pilot; the face crop is
moved ``--moves`` times to the right in fine steps (it never hits the edge) with one key every
33 ms, like a held key repeating at 30 Hz.

- ``median_key_to_repaint_ms`` / ``p90_key_to_repaint_ms``: from sending a key to the first
  frame the app composes after it (headless: composed, not written to a terminal).
- ``writes``: how many times project.toml was replaced during the held key (counted at
  ``os.replace``, so any version of the app is measured the same way); ``writes_after`` the
  ones in the 0.5 s after the last key (a coalesced save landing); ``writes_per_s_held``.
- ``baseline``: the same measurement, in the same run, of the app at ``--baseline`` (a git
  commit, default the commit this work started from), checked out with ``git worktree`` in a
  temporary folder and run in a subprocess with only that tree on PYTHONPATH.

Goal (issue 10): median ≤ 16 ms, ≤ 4 writes per second of held key.

Usage: .venv/bin/python bench/tui_keys.py [--moves 30] [--baseline ba7d990 | --no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "ba7d990"
KEY_EVERY = 1 / 30


def make_project(folder: Path):
    from PIL import Image

    from engine import crops as ec
    from engine import project as pj
    from engine.demo_image import demo_image_path

    image = folder / "drawing.png"
    Image.open(demo_image_path()).convert("RGB").save(image)
    project = pj.create(image, folder / "proj", trigger="zq_bench")
    ec.auto_crops(project)
    return project


async def measure(moves: int) -> dict:
    from tui.app import OneloraApp

    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp))
        target = str(project.path)
        replaced: list[float] = []
        real_replace = os.replace

        def counting_replace(src, dst, *a, **k):
            result = real_replace(src, dst, *a, **k)
            if os.fspath(dst) == target:
                replaced.append(time.perf_counter())
            return result

        os.replace = counting_replace
        try:
            app = OneloraApp(project.root)
            frames: list[float] = []
            async with app.run_test(size=(80, 24)) as pilot:
                display = app._display

                def timed(screen, renderable):
                    result = display(screen, renderable)
                    if renderable is not None:
                        frames.append(time.perf_counter())
                    return result

                app._display = timed
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause(0.5)
                screen = app.screen
                names = [c.name for c in app.project.crops.items]
                screen.selected = names.index("face")
                screen.refresh_all()
                await pilot.press("f")  # fine steps: 30 moves right stay inside the image
                await pilot.pause(0.3)
                latencies = []
                held_from = time.perf_counter()
                writes_before = len(replaced)
                for i in range(moves):
                    sent = time.perf_counter()
                    await pilot.press("l")
                    spare = KEY_EVERY - (time.perf_counter() - sent)
                    await pilot.pause(max(0.001, spare))
                    after = [t for t in frames if t >= sent]
                    if after:
                        latencies.append((after[0] - sent) * 1000)
                held_s = time.perf_counter() - held_from
                writes = len(replaced) - writes_before
                await pilot.pause(0.5)
                writes_after = len(replaced) - writes_before - writes
        finally:
            os.replace = real_replace
    latencies.sort()
    return {"median_key_to_repaint_ms": round(statistics.median(latencies), 2),
            "p90_key_to_repaint_ms": round(latencies[int(len(latencies) * 0.9) - 1], 2),
            "repaints_seen": len(latencies), "writes": writes, "writes_after": writes_after,
            "held_s": round(held_s, 2), "writes_per_s_held": round(writes / held_s, 2)}


def baseline(ref: str, moves: int) -> dict:
    """The same measurement of the app at git ``ref``, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree),
                        ref], check=True, capture_output=True)
        try:
            env = dict(os.environ, PYTHONPATH=str(tree))
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure-only",
                                  "--moves", str(moves)], env=env, cwd=str(tree),
                                 capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                return {"error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moves", type=int, default=30)
    ap.add_argument("--baseline", default=BASELINE, help="git commit to compare with")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.measure_only:  # the baseline subprocess imports only its own tree
        sys.path.insert(0, str(ROOT))
    result = asyncio.run(measure(args.moves))
    if args.measure_only:
        print(json.dumps(result))
        return
    line = {"bench": "tui_keys", "moves": args.moves, "key_every_ms": round(KEY_EVERY * 1000, 1),
            **result, "goal": {"median_key_to_repaint_ms": 16, "writes_per_s_held": 4}}
    if not args.no_baseline:
        line["baseline_ref"] = args.baseline
        line["baseline"] = baseline(args.baseline, args.moves)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
