"""Picking an epoch (torch-free copy with metadata) and the overfit meter on known images."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import save_file

from engine import epochs as ep
from engine import events, overfit, runs
from engine.cli import main
from engine.errors import UserError
from engine.project import load


def fake_training_run(project, epochs=(1, 2, 3)):
    """A training run directory with per-epoch kohya files (numpy-written, real format)."""
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    with events.EventWriter(run_dir) as w:
        for e in epochs:
            path = run_dir / f"{project.trigger}-{e:06d}.safetensors"
            save_file({"lora_unet_x.lora_down.weight": np.full((4, 8), e, np.float16),
                       "lora_unet_x.lora_up.weight": np.ones((8, 4), np.float16),
                       "lora_unet_x.alpha": np.array(4.0, np.float16)}, str(path),
                      metadata={"ss_network_dim": "4", "ss_epoch": str(e)})
            w.emit("checkpoint", epoch=e, path=str(path))
        w.emit("finished")
    return run_dir


def test_pick_copies_the_epoch_lora_to_output_with_choice_metadata(project):
    run_dir = fake_training_run(project)
    dest = ep.pick_epoch(project, run_dir.name, 2)
    assert dest == project.root / "output" / "zq_tester.safetensors"
    with safe_open(str(dest), framework="numpy") as fh:
        md = fh.metadata()
        assert md["ss_epoch"] == "2" and md["ss_network_dim"] == "4"  # original kept
        assert md["onelora_picked_epoch"] == "2" and md["onelora_run"] == run_dir.name
        assert float(fh.get_tensor("lora_unet_x.lora_down.weight")[0, 0]) == 2.0
        assert set(fh.keys()) == {"lora_unet_x.lora_down.weight", "lora_unet_x.lora_up.weight",
                                  "lora_unet_x.alpha"}
    again = load(project.root)
    assert (again.samples.picked_run, again.samples.picked_epoch) == (run_dir.name, 2)
    # re-picking another epoch replaces the file
    ep.pick_epoch(again, "latest", 3)
    assert ep.read_metadata(dest)["onelora_picked_epoch"] == "3"


def test_pick_an_unsaved_epoch_names_the_saved_ones(project):
    fake_training_run(project, epochs=(1, 2))
    with pytest.raises(UserError, match="epoch 7.*1, 2"):
        ep.pick_epoch(project, "latest", 7)


def test_pick_cli_json(project, capsys):
    run_dir = fake_training_run(project)
    assert main(["pick", str(project.root), run_dir.name, "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epoch"] == 1 and out["path"].endswith("output/zq_tester.safetensors")
    assert main(["pick", str(project.root), run_dir.name, "9"]) == 2


def test_pick_module_imports_no_torch():
    code = "import engine.epochs, engine.overfit, engine.reg, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _noise(seed, size=64):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), np.uint8))


def _write_epoch(run_dir, epoch, images):
    recs = []
    for i, img in enumerate(images):
        path = ep.epoch_dir(run_dir, epoch) / ep.sample_file_name(0, i + 1, 1.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        recs.append(ep.SampleRecord(epoch=epoch, weight=1.0, prompt_index=0, prompt="p", seed=i + 1,
                                    file=str(path.relative_to(run_dir))))
    ep.write_index(run_dir, epoch, recs)


def test_overfit_meter_sees_collapse_and_memorising(tmp_path):
    crop = _noise(100)
    crop_path = tmp_path / "crop.png"
    crop.save(crop_path)
    run_dir = tmp_path / "run"
    _write_epoch(run_dir, 1, [_noise(1), _noise(2), _noise(3)])       # varied, unlike the crop
    _write_epoch(run_dir, 2, [_noise(4), _noise(5), _noise(6)])
    _write_epoch(run_dir, 3, [crop, crop, crop])                       # every seed = the crop
    result = overfit.write(run_dir, [crop_path])
    curve = {c["epoch"]: c for c in result["epochs"]}
    for c in curve.values():
        for k in ("collapse", "memorising", "score"):
            assert math.isfinite(c[k]) and 0.0 <= c[k] <= 1.0
    assert curve[1]["collapse"] < 0.2 and curve[1]["memorising"] < 0.2
    assert curve[3]["collapse"] > 0.99 and curve[3]["memorising"] > 0.99
    assert result["suggested_epoch"] == 2  # the last epoch before the jump
    assert overfit.read(run_dir) == json.loads((run_dir / overfit.OVERFIT_FILE).read_text())


def test_overfit_flat_curve_suggests_the_last_epoch():
    curve = [{"epoch": e, "score": 0.3 + 0.01 * e} for e in (1, 2, 3, 4)]
    assert overfit.suggest_epoch(curve) == 4
    assert overfit.suggest_epoch([{"epoch": 1, "score": None}]) is None
    assert overfit.read("/nonexistent") == {"epochs": [], "suggested_epoch": None}


def test_overfit_compares_with_the_crops_cut_from_the_image(project):
    from engine.project import Crop

    assert len(overfit.crop_images(project)) == 1  # no crops yet: the source image
    project.crops.items = [Crop(name="face", box=[30, 10, 36, 36]),
                           Crop(name="body", box=[28, 46, 40, 94])]
    crops = overfit.crop_images(project)
    assert [c.size for c in crops] == [(36, 36), (40, 94)]
    feats = [overfit.features(c) for c in crops]
    assert all(abs(float(np.linalg.norm(f)) - 1.0) < 1e-4 for f in feats)


def test_pick_latest_means_the_newest_training_run(project):
    train_dir = fake_training_run(project, epochs=(1,))
    later = runs.new_run_dir(project, "reg")  # a newer reg run is not a training run
    runs.freeze_config(project, later, "reg")
    assert ep.find_training_run(project, "latest") == train_dir
    ep.pick_epoch(project, "latest", 1)
    assert load(project.root).samples.picked_run == train_dir.name
