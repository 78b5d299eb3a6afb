"""Diverged epochs (issue 13, "offers a broken LoRA as the best one") on builtin:tiny (CPU):
a run whose last epoch diverged ends failed, a diverged epoch is never a rollback target,
never suggested, and `pick` refuses it without --force."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors import safe_open

from engine import epochs as ep
from engine import events as ev
from engine import overfit, runs
from engine.cli import main
from engine.errors import UserError
from engine.project import load, save
from engine.train import train
from train_helpers import new_run, tiny_project


def max_abs(path) -> float:
    with safe_open(str(path), "pt") as f:
        return max(float(f.get_tensor(k).float().abs().max()) for k in f.keys() if not k.endswith(".alpha"))


def one_small_sample(project) -> None:
    s = project.samples
    s.prompts, s.weights, s.seeds, s.steps, s.width, s.height = ["zq_tester, girl"], [1.0], [1], 1, 64, 64
    save(project)


def test_lr_100_run_ends_failed_and_its_diverged_epochs_are_not_suggested_or_picked(tmp_path, capsys):
    # Issue: at LR 100 most steps were non-finite, yet the run "finished", the overfit meter
    # suggested the last epoch and `pick` copied it without a word.
    project = tiny_project(tmp_path, epochs=2, repeats=3, unet_lr=100.0, text_encoder_lr=100.0,
                           sample_every_n_epochs=2)
    one_small_sample(project)
    run_dir = new_run(project)
    train(run_dir)

    events = ev.read_events(run_dir)
    end = events[-1]
    assert end["kind"] == "failed" and end["reason"].startswith("epoch 2 diverged")
    assert "learning rate" in end["hint"] and "float" not in end["hint"] and "bf16" not in end["hint"]
    assert runs.run_info(run_dir).status == "failed"
    assert not (run_dir / "zq_tester.safetensors").exists()  # no final "good" file
    ends = [e for e in events if e["kind"] == "epoch_end"]
    assert [bool(e["diverged"]) for e in ends] == [True, True]

    diverged = ep.diverged_epochs(run_dir)
    assert set(diverged) == {1, 2}
    record = json.loads((run_dir / ep.DIVERGED_FILE).read_text())  # readable without torch
    assert record["2"]["lora_norm"] > 100 * record["2"]["start_norm"]

    meter = overfit.read(run_dir)
    assert meter["epochs"] and all(c["diverged"] for c in meter["epochs"])
    assert meter["suggested_epoch"] is None

    with pytest.raises(UserError, match=r"epoch 2 of run .* diverged .*--force"):
        ep.pick_epoch(load(project.root), run_dir.name, 2)
    assert not ep.output_path(project).exists()
    capsys.readouterr()
    assert main(["pick", str(project.root), run_dir.name, "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "diverged" in err[0] and "--force" in err[0], err
    assert main(["pick", str(project.root), run_dir.name, "2", "--force"]) == 0
    assert "exploded" in ep.read_metadata(ep.output_path(project))["onelora_diverged"]


def test_lr_1e9_with_float_saves_marks_the_exploded_file_and_never_restores_it(tmp_path):
    # Issue: at LR 1e9 with float saves, epoch 1's file held |w| ≈ 5e8, passed as fine and
    # became the "last good" snapshot that epoch 2's rollbacks restored.
    project = tiny_project(tmp_path, epochs=2, repeats=3, unet_lr=1e9, text_encoder_lr=1e9,
                           save_precision="float")
    run_dir = new_run(project)
    train(run_dir)

    first, second = (run_dir / f"zq_tester-00000{e}.safetensors" for e in (1, 2))
    assert max_abs(first) > 1e6  # the exploded file of the issue, kept for inspection...
    assert ep.read_metadata(first)["onelora_diverged"]  # ...and saying so itself
    assert set(ep.diverged_epochs(run_dir)) == {1, 2}
    events = ev.read_events(run_dir)
    assert any(e["kind"] == "rollback" and e.get("epoch") == 1 for e in events)
    # Epoch 2's rollbacks went back to the start, not to epoch 1's weights: one step at the
    # lowered LR from the start moves the weights far less than epoch 1 had.
    assert max_abs(second) < max_abs(first) / 2
    end = events[-1]
    assert end["kind"] == "failed" and "diverged" in end["reason"]
    assert "lower" in end["hint"] and "'float'" not in end["hint"]
    with pytest.raises(UserError, match="diverged"):
        ep.pick_epoch(load(project.root), run_dir.name, 1)


def test_an_exploded_epoch_is_rolled_back_and_the_run_goes_on_from_the_last_good_state(tmp_path):
    # LR 1000 explodes epoch 1; with nonfinite_lr_factor 0.01 twice the LR is 0.1 afterwards.
    project = tiny_project(tmp_path, epochs=2, repeats=3, unet_lr=1000.0, text_encoder_lr=1000.0,
                           nonfinite_lr_factor=0.01)
    run_dir = new_run(project)
    train(run_dir)
    events = ev.read_events(run_dir)
    ends = {e["epoch"]: e for e in events if e["kind"] == "epoch_end"}
    assert "exploded" in ends[1]["diverged"] and ends[2]["diverged"] is None
    assert ends[2]["lora_norm"] < 100 * json.loads((run_dir / ep.DIVERGED_FILE).read_text())["1"]["start_norm"]
    assert events[-1]["kind"] == "finished"
    assert max_abs(run_dir / "zq_tester.safetensors") < max_abs(run_dir / "zq_tester-000001.safetensors")
    project = load(project.root)
    with pytest.raises(UserError, match="pick a good epoch \\(2\\)"):
        ep.pick_epoch(project, run_dir.name, 1)
    assert ep.pick_epoch(project, run_dir.name, 2).exists()


def test_blank_samples_fail_the_last_epoch_and_roll_back_an_earlier_one(tmp_path, monkeypatch):
    from engine import sample

    def black(base, jobs, **kwargs):
        return [Image.new("RGB", (64, 64), (0, 0, 0)) for _ in jobs]

    monkeypatch.setattr(sample, "generate_images", black)
    project = tiny_project(tmp_path, epochs=2, repeats=1, sample_every_n_epochs=1)
    one_small_sample(project)
    run_dir = new_run(project)
    train(run_dir)
    events = ev.read_events(run_dir)
    ends = [e for e in events if e["kind"] == "epoch_end"]
    assert all("blank" in e["diverged"] for e in ends)
    assert [e.get("epoch") for e in events if e["kind"] == "rollback"] == [1]
    end = events[-1]
    assert end["kind"] == "failed" and "blank" in end["reason"] and "mixed_precision" in end["hint"]
    assert overfit.read(run_dir)["suggested_epoch"] is None
    state = torch.load(run_dir / "state" / "state.pt", weights_only=True)
    assert state["counters"]["rollbacks"] == 1 and state["counters"]["epoch"] == 2


def test_lr_1e9_with_fp16_saves_is_not_told_to_save_wider(tmp_path):
    # Issue: the fp16-overflow hint ("use 'bf16' or 'float'") led straight to an exploded file.
    project = tiny_project(tmp_path, epochs=2, repeats=3, unet_lr=1e9, text_encoder_lr=1e9,
                           save_precision="fp16")
    run_dir = new_run(project)
    train(run_dir)
    end = ev.read_events(run_dir)[-1]
    assert end["kind"] == "failed" and "diverged" in end["reason"]
    assert "lower" in end["hint"] and "float" not in end["hint"] and "bf16" not in end["hint"]
    assert not list(run_dir.glob("*.safetensors"))  # the overflowing diverged epochs are not written
    assert set(ep.diverged_epochs(run_dir)) == {1, 2}


def test_a_run_resumed_after_a_diverged_epoch_repeats_the_uninterrupted_steps(tmp_path, monkeypatch):
    settings = dict(epochs=3, repeats=2, unet_lr=1000.0, text_encoder_lr=1000.0,
                    nonfinite_lr_factor=0.01)
    straight = new_run(tiny_project(tmp_path / "a", **settings))
    train(straight)

    crashed = new_run(tiny_project(tmp_path / "b", **settings))
    real_emit = ev.EventWriter.emit

    class Crash(Exception):
        pass

    def emit(self, kind, **fields):
        event = real_emit(self, kind, **fields)
        if kind == "epoch_end" and fields.get("epoch") == 1:
            raise Crash("killed after epoch 1")
        return event

    monkeypatch.setattr(ev.EventWriter, "emit", emit)
    with pytest.raises(Crash):
        train(crashed)
    monkeypatch.setattr(ev.EventWriter, "emit", real_emit)
    train(crashed, resume=True)

    def steps(run_dir):
        return {e["step"]: (e["loss"], e["lr"]) for e in ev.read_events(run_dir) if e["kind"] == "step"}

    a, b = ev.read_events(straight), ev.read_events(crashed)
    assert next(e for e in a if e["kind"] == "epoch_end")["diverged"]  # the case under test
    assert steps(crashed) == steps(straight)
    assert a[-1]["kind"] == b[-1]["kind"] == "finished"
    assert max_abs(straight / "zq_tester.safetensors") == max_abs(crashed / "zq_tester.safetensors")
