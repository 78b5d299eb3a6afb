"""Round two's retrain setting: a new run can start from the picked LoRA (train.init_lora)."""

from __future__ import annotations

import argparse

import pytest
import torch
from safetensors import safe_open

from engine import epochs
from engine import events as ev
from engine import project as pj
from engine.cli.train_cmds import training_project
from engine.errors import UserError
from engine.train import read_state, train
from train_helpers import new_run, tiny_project


def file_norm(path) -> float:
    with safe_open(str(path), "pt") as f:
        norms = [torch.linalg.vector_norm(f.get_tensor(k).float()) for k in f.keys()
                 if k.endswith(("lora_down.weight", "lora_up.weight"))]
    return float(torch.linalg.vector_norm(torch.stack(norms)))


@pytest.fixture
def picked(tmp_path):
    """A project whose first run's epoch 1 is picked to output/<trigger>.safetensors."""
    project = tiny_project(tmp_path, epochs=1, repeats=2)
    first = new_run(project)
    train(first)
    dest = epochs.pick_epoch(project, first.name, 1)
    return pj.load(project.root), dest


def test_set_init_lora_picked_on_the_command_line_reaches_the_train_settings(picked):
    project, _ = picked
    args = argparse.Namespace(dir=str(project.root), model=None, settings=["init_lora=picked"])
    assert training_project(args).train.init_lora == "picked"


def test_retraining_from_the_picked_lora_starts_at_its_weights(picked):
    project, dest = picked
    fresh = new_run(project)
    train(fresh)
    project.train.init_lora = "picked"
    second = new_run(project)
    train(second)
    start = read_state(second)["counters"]["start_norm"]
    assert start == pytest.approx(file_norm(dest), rel=1e-5)
    assert read_state(fresh)["counters"]["start_norm"] != pytest.approx(start, rel=1e-3)
    loaded = [e for e in ev.read_events(second) if e.get("phase") == "starting from a LoRA"]
    assert loaded and loaded[0]["detail"] == str(dest)
    assert ev.read_events(second)[-1]["kind"] == "finished"


def test_a_picked_lora_of_another_rank_is_refused_in_one_line(picked):
    project, dest = picked
    project.train.init_lora = "picked"
    project.train.network_dim = 8
    run = new_run(project)
    with pytest.raises(UserError) as err:
        train(run)
    line = str(err.value)
    assert "\n" not in line and "train.init_lora" in line and str(dest) in line
    assert "rank 4 where this run has 8" in line


def test_init_lora_naming_a_missing_file_says_so(picked):
    project, _ = picked
    project.train.init_lora = "output/nothing.safetensors"
    with pytest.raises(UserError, match=r"train.init_lora: .*nothing.safetensors not found"):
        train(new_run(project))


def test_a_run_started_from_the_picked_lora_resumes_exactly_without_the_file(picked):
    """Resume restores state.pt: the init file is not read again (here it is gone by then)."""
    import threading
    import time

    from engine import runs
    from safetensors.torch import load_file

    project, dest = picked
    project.train.init_lora = "picked"
    project.train.epochs, project.train.repeats = 2, 4  # 16 steps: the stop lands mid-run
    whole = new_run(project)
    train(whole)
    cut = new_run(project)
    worker = threading.Thread(target=train, args=(cut,))
    worker.start()
    end = time.time() + 60
    while not any(e["kind"] == "step" for e in ev.read_events(cut)) and time.time() < end:
        time.sleep(0.01)
    runs.send_command(cut, "stop")
    worker.join(60)
    assert ev.read_events(cut)[-1]["kind"] == "stopped"
    dest.unlink()
    train(cut, resume=True)
    assert ev.read_events(cut)[-1]["kind"] == "finished"
    a, b = load_file(str(epochs.epoch_files(whole)[2])), load_file(str(epochs.epoch_files(cut)[2]))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
