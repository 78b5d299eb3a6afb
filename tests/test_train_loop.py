"""The training loop on builtin:tiny (CPU): loss falls, LoRAs per epoch, NaN policy, LR groups."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from engine import events as ev
from engine import runs
from engine import training_utils as tu
from engine.train import train
from train_helpers import new_run, tiny_project


def kinds(run_dir) -> list[str]:
    return [e["kind"] for e in ev.read_events(run_dir)]


def all_tensors_finite(path) -> bool:
    with safe_open(str(path), "pt") as f:
        return all(bool(torch.isfinite(f.get_tensor(k).float()).all()) for k in f.keys())


def small_samples(project) -> None:
    from engine import project as pj

    s = project.samples
    s.prompts, s.weights, s.seeds, s.steps, s.width, s.height = ["zq_tester, girl"], [1.0], [1], 2, 64, 64
    pj.save(project)


def test_samples_are_drawn_after_each_epoch_with_the_live_lora(tmp_path):
    project = tiny_project(tmp_path, epochs=2, repeats=1, sample_every_n_epochs=1)
    small_samples(project)
    run_dir = new_run(project)
    train(run_dir)
    samples = [e for e in ev.read_events(run_dir) if e["kind"] == "sample"]
    assert [e["epoch"] for e in samples] == [1, 2]
    assert all(Path(e["path"]).is_file() for e in samples)
    assert ev.read_events(run_dir)[-1]["kind"] == "finished"
    # the run says what each sampled epoch draws (the dashboard's first-epoch ETA needs it)
    started = next(e for e in ev.read_events(run_dir) if e["kind"] == "started")
    assert (started["sample_images"], started["sample_every"]) == (1, 1)
    counts = [(e["epoch"], e["done"]) for e in ev.read_events(run_dir) if e["kind"] == "sampling"]
    assert counts == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_training_loss_falls_and_a_lora_is_written_per_epoch(tmp_path):
    project = tiny_project(tmp_path, epochs=2, repeats=8, batch_size=2, unet_lr=5e-3,
                           text_encoder_lr=1e-3, save_precision="fp16")
    run_dir = new_run(project)
    train(run_dir)
    events = ev.read_events(run_dir)
    started = next(e for e in events if e["kind"] != "loading")  # loading model, caching latents
    assert started["kind"] == "started" and started["total_steps"] == 16
    assert started["steps_per_epoch"] == 8 and started["latents"] == "cached"
    steps = [e for e in events if e["kind"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 17))
    assert all(math.isfinite(e["loss"]) and math.isfinite(e["loss_ema"]) for e in steps)
    assert set(steps[0]["lr"]) == {"text_encoder", "unet"}
    means = [e["loss"] for e in events if e["kind"] == "epoch_end"]
    assert len(means) == 2 and means[1] < means[0]  # it learns
    files = sorted(p.name for p in run_dir.glob("*.safetensors"))
    assert files == ["zq_tester-000001.safetensors", "zq_tester-000002.safetensors", "zq_tester.safetensors"]
    assert [e["epoch"] for e in events if e["kind"] == "checkpoint"] == [1, 2]
    assert events[-1]["kind"] == "finished" and events[-1]["path"].endswith("zq_tester.safetensors")
    with safe_open(str(run_dir / "zq_tester.safetensors"), "pt") as f:
        md = f.metadata()
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float16
    assert json.loads(md["ss_dataset_dirs"]) == {"8_zq_tester girl": {"n_repeats": 8, "img_count": 2}}
    assert json.loads(md["ss_tag_frequency"])["8_zq_tester girl"]["smile"] == 1
    assert md["ss_steps"] == "16" and md["ss_epoch"] == "2" and md["ss_num_train_images"] == "16"
    assert (run_dir / "state" / "state.pt").exists()
    assert runs.run_info(run_dir).status == "finished"


def test_huge_learning_rate_ends_in_a_diagnosis_and_no_broken_file(tmp_path):
    project = tiny_project(tmp_path, epochs=1, repeats=10, unet_lr=1e9, text_encoder_lr=1e9,
                           nonfinite_patience=2, nonfinite_max_rollbacks=1)
    run_dir = new_run(project)
    train(run_dir)
    events = ev.read_events(run_dir)
    bad = [e for e in events if e["kind"] == "nonfinite"]
    assert bad and all(e["files"] and e["captions"] for e in bad)
    assert bad[0]["captions"][0].startswith("zq_tester, girl")
    assert "rollback" in kinds(run_dir)
    end = events[-1]
    assert end["kind"] == "failed" and "non-finite" in end["reason"]
    assert "learning rate" in end["hint"]
    assert all(math.isfinite(ev.as_float(e["loss_ema"])) for e in events if e["kind"] == "step")
    for path in run_dir.glob("*.safetensors"):
        assert all_tensors_finite(path)
    assert runs.run_info(run_dir).status == "failed"


def test_a_single_nan_step_is_skipped_named_and_kept_out_of_the_average(tmp_path, monkeypatch):
    real = tu.diffusion_loss
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(tu, "diffusion_loss", flaky)
    project = tiny_project(tmp_path, epochs=1, repeats=3)
    run_dir = new_run(project)
    train(run_dir)
    events = ev.read_events(run_dir)
    bad = [e for e in events if e["kind"] == "nonfinite"]
    assert len(bad) == 1 and bad[0]["step"] == 3 and bad[0]["action"] == "skipped"
    assert bad[0]["what"] == "loss" and bad[0]["files"][0] in ("face", "full_body")
    steps = [e for e in events if e["kind"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 4, 5, 6]
    assert all(math.isfinite(e["loss_ema"]) for e in steps)
    assert math.isfinite(next(e for e in events if e["kind"] == "epoch_end")["loss"])
    assert events[-1]["kind"] == "finished" and events[-1]["nonfinite_steps"] == 1
    assert all_tensors_finite(run_dir / "zq_tester.safetensors")


def test_block_weights_make_per_block_lr_groups_and_zero_blocks_get_no_modules(tmp_path):
    down = [1.0, 0.5, 0.0, 1.0, 0.25, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    project = tiny_project(tmp_path, max_steps=1, down_lr_weight=down, unet_lr=1e-3,
                           train_text_encoder=False)
    run_dir = new_run(project)
    train(run_dir)
    step = next(e for e in ev.read_events(run_dir) if e["kind"] == "step")
    lrs = step["lr"]
    assert "text_encoder" not in lrs
    assert lrs["unet_block1"] == pytest.approx(5e-4) and lrs["unet_block4"] == pytest.approx(2.5e-4)
    assert "unet_block2" not in lrs
    with safe_open(str(run_dir / "zq_tester.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert not any(k.startswith("lora_unet_down_blocks_0_attentions_1_") for k in keys)  # IN02 = 0
    assert any(k.startswith("lora_unet_down_blocks_0_attentions_0_") for k in keys)
    assert not any(k.startswith("lora_te_") for k in keys)


def test_adamw8bit_on_the_cpu_fails_with_a_clear_message(tmp_path):
    from engine.errors import UserError

    project = tiny_project(tmp_path, optimizer="AdamW8bit", max_steps=1)
    run_dir = new_run(project)
    with pytest.raises(UserError, match="AdamW8bit needs bitsandbytes and a CUDA GPU"):
        train(run_dir)
    end = ev.read_events(run_dir)[-1]
    assert end["kind"] == "failed" and "use optimizer = AdamW" in end["reason"]


def test_pause_then_stop_saves_state_and_resume_finishes_the_same_steps(tmp_path):
    import threading
    import time

    from engine.cli import main

    project = tiny_project(tmp_path, epochs=4, repeats=4)
    small_samples(project)
    run_dir = new_run(project)
    worker = threading.Thread(target=train, args=(run_dir,))
    worker.start()

    def wait_for(predicate):
        end = time.time() + 60
        while time.time() < end:
            events = ev.read_events(run_dir)
            if predicate(events):
                return events
            time.sleep(0.02)
        raise AssertionError(kinds(run_dir))

    wait_for(lambda es: any(e["kind"] == "step" for e in es))
    runs.send_command(run_dir, "pause")
    wait_for(lambda es: es[-1]["kind"] == "paused")
    time.sleep(0.5)
    assert ev.read_events(run_dir)[-1]["kind"] == "paused"  # nothing happens while paused
    assert runs.run_info(run_dir).status == "paused"
    runs.send_command(run_dir, "sample-now")  # sampling works while paused
    wait_for(lambda es: es[-1]["kind"] == "sample")
    runs.send_command(run_dir, "stop")
    worker.join(30)
    stopped = ev.read_events(run_dir)[-1]
    assert stopped["kind"] == "stopped" and 1 <= stopped["step"] < 32
    assert (run_dir / "state" / "state.pt").exists()
    assert main(["train", str(project.root), "--resume", run_dir.name, "--json"]) == 0
    events = ev.read_events(run_dir)
    assert events[-1]["kind"] == "finished" and events[-1]["step"] == 32
    assert sorted({e["step"] for e in events if e["kind"] == "step"}) == list(range(1, 33))


def test_gradient_checkpointing_still_trains_text_encoder_and_unet_loras(tmp_path):
    from safetensors.torch import load_file

    project = tiny_project(tmp_path, max_steps=2, gradient_checkpointing=True, min_snr_gamma=5.0,
                           color_aug=True, color_aug_variants=0, caption_dropout_rate=0.5,
                           caption_tag_dropout_rate=0.3)
    run_dir = new_run(project)
    train(run_dir)
    events = ev.read_events(run_dir)
    started = next(e for e in events if e["kind"] == "started")
    assert started["latents"].startswith("encoded every step")
    assert events[-1]["kind"] == "finished"
    sd = load_file(str(run_dir / "zq_tester.safetensors"))
    te_up = [v for k, v in sd.items() if k.startswith("lora_te_") and k.endswith("lora_up.weight")]
    unet_up = [v for k, v in sd.items() if k.startswith("lora_unet_") and k.endswith("lora_up.weight")]
    assert te_up and unet_up
    assert any(float(v.abs().sum()) > 0 for v in te_up)  # lora_up starts at zero: it was trained
    assert any(float(v.abs().sum()) > 0 for v in unet_up)


def test_reg_images_join_the_epoch_with_prior_loss_weight(tmp_path):
    from engine import data as data_mod
    from engine import project as pj
    from train_helpers import draw

    project = tiny_project(tmp_path, epochs=1, repeats=3, max_steps=2)
    project.reg.prior_loss_weight = 0.25
    pj.save(project)
    reg = project.root / "reg" / "1_girl"
    reg.mkdir(parents=True)
    for i in range(2):
        draw(reg / f"{i:04d}.png", (64, 64), (10, 200, 10 * i))
        (reg / f"{i:04d}.txt").write_text("girl, solo, outdoors\n")
    items = data_mod.items_from_project(project)
    data = data_mod.TrainData.from_settings(items, project.train, project.reg.prior_loss_weight)
    assert data.repeats == [3, 3, 3, 3]  # reg balanced to the 6 train samples
    assert data.steps_per_epoch == 12
    batch = data.batch([2, 0], step=0)
    assert batch.weights.tolist() == [0.25, 1.0] and batch.files == ["0000.png", "face"]
    run_dir = new_run(project)
    train(run_dir)
    started = next(e for e in ev.read_events(run_dir) if e["kind"] == "started")
    assert started["reg_images"] == 2 and started["steps_per_epoch"] == 12
    from safetensors import safe_open
    with safe_open(str(run_dir / "zq_tester.safetensors"), "pt") as f:
        md = f.metadata()
    assert json.loads(md["ss_reg_dataset_dirs"]) == {"1_girl": {"n_repeats": 1, "img_count": 2}}
    # sd-scripts counts reg images × their folder's repeats (2 × 1), not the balanced 6 (issue 13)
    assert md["ss_num_reg_images"] == "2" and md["ss_prior_loss_weight"] == "0.25"
