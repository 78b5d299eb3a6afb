"""`onelora inspect` and `onelora doctor` from the command line."""

from __future__ import annotations

import json

import pytest
import torch

from engine import lora, models
from engine.cli import main


@pytest.fixture(scope="module")
def saved_lora(tmp_path_factory):
    base = models.build_tiny()
    d, m, u = lora.resolve_block_weights("OUTALL")
    net = lora.LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=2, conv_dim=2, conv_alpha=1,
                           down_lr_weight=d, mid_lr_weight=m, up_lr_weight=u)
    md = lora.build_metadata(net, {"learning_rate": 1e-4, "resolution": 128, "output_name": "zq",
                                   "optimizer": "AdamW", "block_weight_preset": "OUTALL"},
                             base=base, dataset={"dataset_dirs": {"5_zq girl": {"n_repeats": 5, "img_count": 3}},
                                                 "tag_frequency": {"5_zq girl": {"hat": 3, "bow": 2}}})
    folder = tmp_path_factory.mktemp("loras")
    good = net.save(folder / "zq.safetensors", "fp16", md)
    sd = net.kohya_state_dict(torch.float16)
    first = next(iter(sd))
    sd[first] = sd[first].clone()
    sd[first][0] = float("nan")
    broken = lora.save_state_dict(folder / "broken.safetensors", sd, md)  # bypasses the guard on purpose
    return net, good, broken


def test_inspect_reports_modules_rank_blocks_and_metadata(saved_lora, capsys):
    net, good, _ = saved_lora
    assert main(["inspect", str(good), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["modules"] == len(net.loras) and info["text_encoder_modules"] == len(net.te_loras)
    assert info["unet_modules"] == len(net.unet_loras) and info["tensors"] == 3 * len(net.loras)
    assert info["rank"] == [4] and info["alpha"] == [2.0]
    assert info["conv"]["rank"] == [2] and info["conv"]["modules"] > 0
    assert info["blocks"] == net.blocks_present() and "IN01" not in info["blocks"] and "OUT03" in info["blocks"]
    assert info["finite"] is True and info["dtypes"] == ["float16"]
    assert info["metadata"]["ss_dataset_dirs"] == {"5_zq girl": {"n_repeats": 5, "img_count": 3}}
    assert info["metadata"]["ss_network_args"]["up_lr_weight"] == "0,0,0,1,1,1,1,1,1,1,1,1"
    assert main(["inspect", str(good)]) == 0
    text = capsys.readouterr().out
    assert "rank / alpha   4 / 2" in text and "5_zq girl: 5 × 3" in text and "hat (3)" in text
    assert "every tensor is finite" in text


def test_inspect_flags_a_broken_lora(saved_lora, capsys):
    _, _, broken = saved_lora
    assert main(["inspect", str(broken), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["finite"] is False and len(info["nonfinite_tensors"]) == 1
    main(["inspect", str(broken)])
    assert "NaN/inf" in capsys.readouterr().out


def test_inspect_refuses_missing_and_non_lora_files(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    assert main(["inspect", str(txt)]) == 2
    assert "not a .safetensors" in capsys.readouterr().err


def test_doctor_reports_machine_model_and_extras(tmp_path, capsys):
    assert main(["doctor", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["versions"]["torch"] == torch.__version__
    assert r["gpu"]["checked_with"] == "nvidia-smi" and r["gpu"]["cuda_available"] is None
    assert r["precision"] is None and r["model"]["checked"] is False
    assert set(r["optional"]) == {"bitsandbytes", "onnxruntime", "spandrel", "textual-image"}
    assert r["cache"] == str(models.cache_root())
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "precision not checked" in out and "doctor --gpu" in out and "optional bitsandbytes" in out
    assert main(["doctor", "--model", "builtin:tiny", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["model"]["ok"] and "pipeline check" in r["model"]["label"]
    assert main(["doctor", "--model", str(tmp_path / "missing.ckpt"), "--json"]) == 2
    r = json.loads(capsys.readouterr().out)
    assert r["model"]["ok"] is False and "not found" in r["model"]["problem"]


@pytest.mark.slow
def test_doctor_gpu_asks_torch_in_a_child_process(capsys):
    assert main(["doctor", "--gpu", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["gpu"]["checked_with"] == "torch" and "problem" not in r["gpu"]
    assert r["gpu"]["cuda_available"] == torch.cuda.is_available()
    assert r["precision"]["fp16"] == torch.cuda.is_available()


def test_doctor_gpu_names_a_hung_torch_instead_of_waiting(monkeypatch):
    from engine.cli import model_cmds

    monkeypatch.setattr(model_cmds, "_TORCH_PROBE", "import time; time.sleep(30)")
    g = model_cmds.torch_gpu(timeout=0.5)
    assert g["cuda_available"] is None and "did not answer within 0.5 s" in g["problem"]
    monkeypatch.setattr(model_cmds, "_TORCH_PROBE", "raise SystemExit('no torch here')")
    g = model_cmds.torch_gpu(timeout=30)
    assert "torch could not be asked: no torch here" in g["problem"]
    assert "not known" in model_cmds.format_doctor({**model_cmds.doctor_report(), "gpu": g})


def test_doctor_lists_gpus_from_nvidia_smi_without_torch(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 9.0, 550.54'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "GPU      NVIDIA H100 80GB HBM3 (79.6 GiB, compute 9.0, driver 550.54)" in out
    assert "the driver's view" in out
