"""A user walk: `pick` an epoch (output/zq_tester.safetensors), then rename the trigger on the
Tags screen (`t` zq_newname), then Grow `g`: it said "output/zq_newname.safetensors not found:
pick an epoch first" although the picked file was there.  The picked LoRA is now found by the
path the pick recorded (samples.picked_file), never by a name recomputed from today's trigger."""

from __future__ import annotations

from engine import epochs as ep
from engine import init_lora, runs
from engine import project as pj
from engine.errors import UserError
from test_sample_pick import fake_training_run
from test_tui_grow_screen import FakeEngine, planted
from tui.app import OneloraApp
from tui_journey import SIZE


async def test_grow_after_pick_then_trigger_rename_draws_with_the_picked_lora(project):
    planted(project)
    run_dir = fake_training_run(project)
    dest = ep.pick_epoch(project, run_dir.name, 2)
    assert pj.load(project.root).samples.picked_file == "output/zq_tester.safetensors"
    engine = FakeEngine()
    app = OneloraApp(project.root, start_mode="tags", engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t", *"zq_newname", "enter")
        await pilot.pause()
        app.flush_project()
        assert pj.load(project.root).trigger == "zq_newname"
        await pilot.press("escape", "6")
        await pilot.pause()
        await pilot.press("ctrl+g")
        await pilot.pause()
        (grow_dir, _), = engine.started  # drawn with the picked LoRA, not refused
        assert runs.read_config(grow_dir)["run"]["kind"] == "grow"
    project = pj.load(project.root)
    assert dest.is_file() and not (project.root / "output" / "zq_newname.safetensors").exists()
    from engine import grow
    assert grow.resolve_lora(project) == dest
    project.train.init_lora = "picked"
    assert init_lora.init_lora_path(project) == dest


def test_a_picked_lora_deleted_by_hand_is_named_with_its_epoch_and_run(project):
    from engine import grow

    run_dir = fake_training_run(project)
    dest = ep.pick_epoch(project, run_dir.name, 3)
    project.trigger = "zq_other"
    dest.unlink()
    try:
        grow.resolve_lora(project)
    except UserError as e:
        msg = str(e)
    else:
        raise AssertionError("a missing picked LoRA was not refused")
    assert "output/zq_tester.safetensors" in msg and "epoch 3" in msg and run_dir.name in msg
    assert "zq_other" not in msg
