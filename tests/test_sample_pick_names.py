"""The picked LoRA is named after the run it came from: a trigger or output_name changed after
training must not put an older run's LoRA under the new word's file name."""

from __future__ import annotations

from engine import epochs as ep
from engine import grow, init_lora
from engine import project as pj
from test_sample_pick import fake_training_run


def test_pick_after_a_trigger_rename_names_the_file_after_the_word_the_run_learned(project):
    old_run = fake_training_run(project)                      # trained as zq_tester
    project.trigger = "zq_renamed"
    pj.save(project)
    dest = ep.pick_epoch(project, old_run.name, 2)
    assert dest.name == "zq_tester.safetensors"
    assert not (project.root / "output" / "zq_renamed.safetensors").exists()
    # round two finds the picked file where pick put it
    project.train.init_lora = init_lora.PICKED
    assert init_lora.init_lora_path(project) == dest
    assert grow.resolve_lora(project) == dest


def test_pick_after_an_output_name_change_keeps_each_runs_own_name(project):
    first = fake_training_run(project)
    project.train.output_name = "second_try"
    pj.save(project)
    second = fake_training_run(project)
    a = ep.pick_epoch(project, first.name, 1)
    b = ep.pick_epoch(project, second.name, 3)
    assert (a.name, b.name) == ("zq_tester.safetensors", "second_try.safetensors")
    assert ep.read_metadata(a)["onelora_picked_epoch"] == "1"  # not overwritten by the 2nd pick
    assert ep.picked_path(pj.load(project.root)) == b


def test_picked_file_is_found_when_its_run_folder_was_deleted(project):
    import shutil

    run = fake_training_run(project)
    dest = ep.pick_epoch(project, run.name, 2)
    project = pj.load(project.root)
    project.trigger = "zq_renamed"
    shutil.rmtree(run)
    assert ep.picked_path(project) == dest


def test_a_new_pick_never_overwrites_the_only_copy_of_the_picked_lora(project, capsys):
    """Runs deleted to free disk, output/<name>.safetensors kept as the result; a new run's
    pick (enter on the Samples screen, or onelora pick) replaced it silently."""
    import shutil

    from engine.cli import main

    first = fake_training_run(project)
    second = fake_training_run(project)
    dest = ep.pick_epoch(project, first.name, 2)
    shutil.rmtree(first)                                   # the only copy is output/ now
    assert main(["pick", str(project.root), second.name, "3"]) == 0
    assert "kept as" in capsys.readouterr().out
    assert ep.read_metadata(dest)["onelora_run"] == second.name
    kept = [p for p in dest.parent.glob("*.safetensors") if p != dest]
    assert len(kept) == 1 and ep.read_metadata(kept[0])["onelora_run"] == first.name
    assert ep.read_metadata(kept[0])["onelora_picked_epoch"] == "2"
    # a pick whose epoch file is still in its run folder is simply replaced (no pile of copies)
    ep.pick_epoch(pj.load(project.root), second.name, 1)
    assert sorted(dest.parent.glob("*.safetensors")) == sorted([dest, kept[0]])
