"""Samples screen, enter = pick the epoch: found in a walk, enter said "nothing to pick" while the
run folder held epoch LoRAs (not sampled).  An epoch with a saved LoRA can be picked whether or
not it has samples; with truly nothing to pick, the notice says why and what to do (Pilot)."""

from __future__ import annotations

import numpy as np
from safetensors.numpy import save_file
from textual.widgets import DataTable

from engine import epochs as ep
from engine import events, runs
from engine import project as pj
from test_tui_samples_grid import Host, sampled_run

SIZE = (80, 24)


def save_epoch_lora(run_dir, epoch: int) -> None:
    """What training writes at the end of an epoch: the LoRA file and its checkpoint event."""
    path = run_dir / f"zq_tester-{epoch:06d}.safetensors"
    save_file({"lora_unet_x.lora_down.weight": np.full((2, 2), epoch, np.float32)}, str(path),
              metadata={"ss_epoch": str(epoch)})
    with events.EventWriter(run_dir) as w:
        w.emit("checkpoint", epoch=epoch, path=str(path))


def training_run(project) -> object:
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    with events.EventWriter(run_dir) as w:
        w.emit("started", total_steps=30, epochs=3, steps_per_epoch=10, device="cpu",
               precision="no")
    return run_dir


def said(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_enter_picks_an_epoch_whose_lora_is_saved_but_not_sampled(project):
    run_dir = training_run(project)
    for epoch in (1, 2, 3):
        save_epoch_lora(run_dir, epoch)
    app = Host(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one(DataTable).row_count == 3
        await pilot.press("down", "enter")
        await pilot.pause()
        assert not any("nothing to pick" in s for s in said(app)), said(app)
    out = project.root / "output" / "zq_tester.safetensors"
    assert ep.read_metadata(out)["onelora_picked_epoch"] == "2"
    saved = pj.load(project.root).samples
    assert (saved.picked_run, saved.picked_epoch) == (run_dir.name, 2)


async def test_an_epoch_saved_after_the_sampled_ones_is_listed_and_picked(project):
    run_dir = sampled_run(project, epochs=(1, 2))
    save_epoch_lora(run_dir, 3)  # saved; its samples not drawn (yet)
    app = Host(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count == 3
        await pilot.press("down", "down")
        await pilot.pause()
        assert app.screen.cursor_cell()[0] == 3
        await pilot.press("enter")
        await pilot.pause()
    assert pj.load(project.root).samples.picked_epoch == 3


async def test_enter_without_a_training_run_says_to_start_one(project):
    app = Host(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        lines = said(app)
    assert any("no training run yet" in s and "ctrl+g" in s for s in lines), lines
    assert not (project.root / "output").exists()


async def test_enter_before_the_first_epoch_is_saved_names_the_run(project):
    run_dir = training_run(project)
    app = Host(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        lines = said(app)
    assert any(run_dir.name in s and "no epoch LoRA yet" in s for s in lines), lines
    assert not (project.root / "output").exists()
