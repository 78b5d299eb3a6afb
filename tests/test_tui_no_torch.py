"""The TUI process never imports torch, even when it does heavy work (issue 12): a user opens a
project whose prep uses a model upscaler, visits every screen with 1..5, goes back to the crops and
upscales; torch (and diffusers/transformers/peft/spandrel) must never be imported by the TUI
process — the upscale runs in its own worker process. Run in a fresh interpreter so no other
test's imports leak in; an audit hook sees every import, not just what is left in sys.modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine import images
from engine import project as pj
from upscale_helpers import fake_spandrel

ROOT = Path(__file__).resolve().parents[1]

JOURNEY = r"""
import asyncio, json, sys
from pathlib import Path

HEAVY = {"torch", "diffusers", "transformers", "peft", "spandrel"}
seen = []
sys.addaudithook(lambda event, args: event == "import" and str(args[0]).split(".")[0] in HEAVY
                 and seen.append(str(args[0])))

from engine import images
from engine import project as pj
from tui.app import MODE_TABLE, OneloraApp

root = Path(sys.argv[1])


def heavy_loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)


async def wait_for(pilot, cond, seconds=120.0):
    for _ in range(int(seconds / 0.1)):
        if cond():
            return True
        await pilot.pause(0.1)
    return False


def prepared_at(long_side):
    p = pj.load(root)
    return p.prep.upscale_to == long_side and images.is_prepared(p)


async def journey():
    report = {"modes": [], "heavy_after": {}}
    app = OneloraApp(root)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        report["first_load"] = await wait_for(pilot, lambda: prepared_at(2048))
        for mode, *_, digit, _ in MODE_TABLE:
            await pilot.press(digit)
            await pilot.pause(0.3)
            report["modes"].append(app.current_mode)
            report["heavy_after"][mode] = heavy_loaded()
        await pilot.press("1")
        await pilot.pause(0.3)
        await pilot.press("e")  # upscale: 2048 -> 3072 px on the long side, with the model
        report["upscaled"] = await wait_for(pilot, lambda: prepared_at(3072))
        await wait_for(pilot, lambda: not app.screen.busy, 30)
        report["heavy_after"]["upscale"] = heavy_loaded()
    report["seen"] = seen
    print(json.dumps(report))


asyncio.run(journey())
"""


@pytest.mark.slow
def test_tui_journey_with_a_model_upscale_never_imports_torch(project, tmp_path):
    site, weights = fake_spandrel(tmp_path)
    project.prep.upscaler_model = str(weights)
    pj.save(project)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(site)]),
               ONELORA_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", JOURNEY, str(project.root)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["modes"] == ["crops", "tags", "reg", "train", "samples", "grow"]
    assert report["first_load"] and report["upscaled"], report
    assert report["seen"] == [] and all(v == [] for v in report["heavy_after"].values()), report
    # the work was done — by upscale jobs in their own processes
    saved = pj.load(project.root)
    assert saved.prep.upscale_to == 3072 and images.is_prepared(saved)
    assert Image.open(images.prepared_path(saved)).size == (1843, 3072)
    assert len(list((project.root / "runs").glob("*-upscale*"))) == 2
