"""Samples screen (Pilot, 80×24, no torch): walk the epoch × weight grid with the arrows, see
each sample, switch the seed, and pick an epoch with enter."""

from __future__ import annotations

import numpy as np
from PIL import Image
from safetensors.numpy import save_file
from textual.widgets import DataTable, Static

from engine import epochs as ep
from engine import events, overfit, runs
from engine import project as pj
from engine.api import Engine
from tui.screens.samples import SamplesScreen
from tui.widgets.image_view import ImageView
from tui_host import ScreenHost

EPOCHS, WEIGHTS, SEEDS = (1, 2, 3), (0.6, 1.0), (1, 2)


def Host(project: pj.Project, engine: Engine | None = None) -> ScreenHost:
    return ScreenHost(project, SamplesScreen, engine)


def sampled_run(project, epochs=EPOCHS, colour=lambda e, wt, s: (e * 60, int(wt * 200), s * 100)):
    """A training run with a LoRA and samples per epoch; ``colour(epoch, weight, seed)`` paints
    each sample so a test can tell what is shown."""
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    with events.EventWriter(run_dir) as w:
        for e in epochs:
            path = run_dir / f"zq_tester-{e:06d}.safetensors"
            save_file({"lora_unet_x.lora_down.weight": np.full((2, 2), e, np.float32)}, str(path),
                      metadata={"ss_epoch": str(e)})
            w.emit("checkpoint", epoch=e, path=str(path))
            recs = []
            for wt in WEIGHTS:
                for s in SEEDS:
                    f = ep.epoch_dir(run_dir, e) / ep.sample_file_name(0, s, wt)
                    f.parent.mkdir(parents=True, exist_ok=True)
                    Image.new("RGB", (32, 32), colour(e, wt, s)).save(f)
                    recs.append(ep.SampleRecord(epoch=e, weight=wt, prompt_index=0,
                                                prompt="zq_tester, girl", seed=s,
                                                file=str(f.relative_to(run_dir))))
            ep.write_index(run_dir, e, recs)
    overfit.write(run_dir, [])
    return run_dir


def shown_colour(app) -> tuple[int, int, int]:
    img = app.screen.query_one(ImageView).image
    return img.getpixel((16, 16))


async def test_tui_samples_walk_grid_and_pick_epoch_by_keys(project):
    run_dir = sampled_run(project)
    app = Host(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        table = screen.query_one(DataTable)
        assert table.row_count == 3 and len(table.columns) == 2 + len(WEIGHTS)
        assert run_dir.name in str(screen.query_one("#samples-head", Static).render())
        assert shown_colour(app) == (60, 120, 100)        # epoch 1, w 0.6, seed 1
        await pilot.press("down", "down", "right")
        await pilot.pause()
        assert shown_colour(app) == (180, 200, 100)       # epoch 3, w 1.0
        await pilot.press("s")
        await pilot.pause()
        assert shown_colour(app) == (180, 200, 200)       # seed 2
        await pilot.press("up")
        await pilot.pause()
        assert screen.cursor_cell() == (2, 1.0)
        await pilot.press("enter")
        await pilot.pause()
        out = project.root / "output" / "zq_tester.safetensors"
        assert out.exists()
        md = ep.read_metadata(out)
        assert md["onelora_picked_epoch"] == "2" and md["ss_epoch"] == "2"
        assert pj.load(project.root).samples.picked_epoch == 2
        assert "✔" in str(table.get_row_at(1)[0])
        told = [n.message for n in app._notifications]  # the path inside the project, short
        assert any("output/zq_tester.safetensors" in m and str(project.root) not in m
                   for m in told), told
        await pilot.press("z")
        await pilot.pause()
        assert screen.query_one("#samples-left").has_class("-hidden")


async def test_tui_samples_without_runs_says_how_to_get_samples(project):
    app = Host(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        head = str(app.screen.query_one("#samples-head", Static).render())
        assert "No samples yet" in head
        await pilot.press("enter")  # nothing to pick: a notice, no crash
        await pilot.pause()
        assert not (project.root / "output").exists()


async def test_tui_samples_n_samples_a_finished_run_in_the_background(project):
    run_dir = sampled_run(project)
    started = []

    class Recording(Engine):
        def start_run(self, project, kind="train", **run):
            started.append((kind, run))
            return run_dir.parent / "x-sample"

        def send(self, run_dir, command):  # pragma: no cover - not live here
            started.append(("send", command))

    app = Host(project)
    app.engine = Recording()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert started == []  # a single key that starts a run asks first
        await pilot.press("y")
        await pilot.pause()
    assert started == [("sample", {"source_run": run_dir.name})]
