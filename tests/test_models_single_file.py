"""Loading SD1.x single-file checkpoints offline, and refusing what is not SD1.x.

A tiny SD1.x checkpoint in the original (LDM) key layout is built here from builtin:tiny by the inverse of
diffusers' conversion, then loaded back through ``load_base`` with networking disabled.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from engine import models
from engine.errors import UserError


# ------------------------------------------------------------------ diffusers → LDM (original) key layout

def _unet_to_ldm(sd: dict, layers: int, n_blocks: int, attn_up: list[bool]) -> dict:
    rename = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
              "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2."}
    res = {"norm1.": "in_layers.0.", "conv1.": "in_layers.2.", "norm2.": "out_layers.0.",
           "conv2.": "out_layers.3.", "time_emb_proj.": "emb_layers.1.", "conv_shortcut.": "skip_connection."}
    prefixes = {}
    for i in range(n_blocks):
        for j in range(layers):
            n = (layers + 1) * i + j + 1
            prefixes[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{n}.0."
            prefixes[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{n}.1."
        if i < n_blocks - 1:
            prefixes[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{(layers + 1) * (i + 1)}.0.op."
        for j in range(layers + 1):
            n = (layers + 1) * i + j
            prefixes[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{n}.0."
            prefixes[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{n}.1."
        if i < n_blocks - 1:
            prefixes[f"up_blocks.{i}.upsamplers.0."] = \
                f"output_blocks.{(layers + 1) * i + layers}.{2 if attn_up[i] else 1}."
    prefixes["mid_block.attentions.0."] = "middle_block.1."
    for j in range(2):
        prefixes[f"mid_block.resnets.{j}."] = f"middle_block.{2 * j}."
    out = {}
    for k, v in sd.items():
        new = k
        for a, b in rename.items():
            if new.startswith(a):
                new = b + new[len(a):]
        for a, b in prefixes.items():
            if new.startswith(a):
                rest = new[len(a):]
                if "resnets" in a:
                    for ra, rb in res.items():
                        if rest.startswith(ra):
                            rest = rb + rest[len(ra):]
                new = b + rest
                break
        out["model.diffusion_model." + new] = v
    return out


def _vae_to_ldm(sd: dict, n_blocks: int) -> dict:
    attn = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}
    out = {}
    for k, v in sd.items():
        new = k.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        for part in ("encoder", "decoder"):
            for j in range(2):
                new = new.replace(f"{part}.mid_block.resnets.{j}.", f"{part}.mid.block_{j + 1}.")
            if new.startswith(f"{part}.mid_block.attentions.0."):
                rest = new[len(f"{part}.mid_block.attentions.0."):]
                for a, b in attn.items():
                    if rest.startswith(a):
                        rest = b + rest[len(a):]
                new = f"{part}.mid.attn_1." + rest
                if v.ndim == 2:
                    v = v[:, :, None, None]
        for i in range(n_blocks):
            new = new.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            new = new.replace(f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.")
            new = new.replace(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{n_blocks - 1 - i}.block.")
            new = new.replace(f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{n_blocks - 1 - i}.upsample.")
        out["first_stage_model." + new] = v
    return out


def write_tiny_single_file(base: models.BaseModel, path) -> None:
    """A tiny checkpoint with SD1.x's original layout: model.diffusion_model / first_stage_model /
    cond_stage_model.transformer.text_model."""
    ucfg = base.unet.config
    attn_up = ["CrossAttn" in t for t in ucfg.up_block_types]
    sd = _unet_to_ldm(base.unet.state_dict(), ucfg.layers_per_block, len(ucfg.block_out_channels), attn_up)
    sd.update(_vae_to_ldm(base.vae.state_dict(), len(base.vae.config.block_out_channels)))
    for k, v in base.text_encoder.state_dict().items():
        key = k if k.startswith("text_model.") else "text_model." + k
        sd["cond_stage_model.transformer." + key] = v
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))


def tiny_config_dir(base: models.BaseModel, folder):
    """A local config folder (JSON only, like engine/assets/sd15) with the tiny model's shapes."""
    tmp = folder / "_full"
    base.pipeline().save_pretrained(str(tmp))
    cfg = folder / "config"
    for f in tmp.rglob("*.json"):
        dest = cfg / f.relative_to(tmp)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    shutil.copy(tmp / "tokenizer" / "tokenizer.json", cfg / "tokenizer" / "tokenizer.json")
    shutil.rmtree(tmp)
    return cfg


@pytest.fixture(scope="module")
def tiny():
    return models.build_tiny()


def test_tiny_single_file_checkpoint_loads_offline(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.file_download as fd

    def no_network(*a, **k):  # any hub call would be a bug: fail loudly
        raise AssertionError("tried to reach the Hugging Face hub")
    monkeypatch.setattr(fd, "hf_hub_download", no_network)
    monkeypatch.setattr("huggingface_hub.snapshot_download", no_network)

    ckpt = tmp_path / "tiny-sd1.safetensors"
    write_tiny_single_file(tiny, ckpt)
    cfg = tiny_config_dir(tiny, tmp_path)
    base = models.load_base(str(ckpt), config_dir=cfg)
    assert base.kind == "single_file" and not base.is_builtin and base.name == "tiny-sd1.safetensors"
    for a, b in ((tiny.unet, base.unet), (tiny.vae, base.vae), (tiny.text_encoder, base.text_encoder)):
        sa, sb = a.state_dict(), b.state_dict()
        assert set(sa) == set(sb)
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    md = base.metadata()
    assert md["ss_sd_model_name"] == "tiny-sd1.safetensors"
    assert len(md["ss_sd_model_hash"]) == 8 and len(md["ss_new_sd_model_hash"]) == 64
    assert md["ss_new_sd_model_hash"] == models.file_sha256(ckpt)


def test_tiny_ckpt_with_lightning_wrapper_loads_offline(tiny, tmp_path):
    from safetensors.torch import load_file

    st = tmp_path / "tiny.safetensors"
    write_tiny_single_file(tiny, st)
    ckpt = tmp_path / "tiny-sd1.ckpt"
    torch.save({"state_dict": load_file(str(st)), "global_step": 1234}, ckpt)
    base = models.load_base(str(ckpt), config_dir=tiny_config_dir(tiny, tmp_path))
    assert base.kind == "single_file" and base.name == "tiny-sd1.ckpt"
    sa, sb = tiny.text_encoder.state_dict(), base.text_encoder.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_missing_model_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        models.load_base(str(tmp_path / "nope.safetensors"))


def _fake(path, tensors):
    save_file({k: torch.zeros(shape, dtype=torch.float16) for k, shape in tensors.items()}, str(path))
    return path


SD1_MIN = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
           "first_stage_model.encoder.conv_in.weight": (128, 3, 3, 3),
           "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,)}


@pytest.mark.parametrize("tensors, what", [
    ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 320, 1, 1)}, "is a LoRA"),
    ({"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (768,),
      "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (640, 2048)}, "SDXL"),
    ({"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
      "cond_stage_model.model.ln_final.weight": (1024,)}, "SD2"),
    ({"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.up.0.block.0.conv1.weight": (128, 128, 3, 3)},
     "VAE on its own"),
    ({"something.else": (3,)}, "no Stable Diffusion UNet"),
])
def test_non_sd1_checkpoints_are_named(tmp_path, tensors, what):
    path = _fake(tmp_path / "model.safetensors", tensors)
    with pytest.raises(UserError, match=what):
        models.load_base(str(path))


def test_sd1_checkpoint_shape_is_recognised(tmp_path):
    keys = models.checkpoint_keys(_fake(tmp_path / "m.safetensors", SD1_MIN))
    assert models.classify_checkpoint(keys) == "sd1"


def test_garbage_file_is_a_user_error(tmp_path):
    p = tmp_path / "broken.safetensors"
    p.write_bytes(b"not a safetensors file at all")
    with pytest.raises(UserError, match="not a readable"):
        models.load_base(str(p))


def test_shipped_sd15_configs_describe_sd15():
    root = models.ASSETS_SD15
    unet = json.loads((root / "unet" / "config.json").read_text())
    assert unet["block_out_channels"] == [320, 640, 1280, 1280] and unet["cross_attention_dim"] == 768
    assert unet["use_linear_projection"] is False
    te = json.loads((root / "text_encoder" / "config.json").read_text())
    assert (te["hidden_size"], te["num_hidden_layers"], te["vocab_size"]) == (768, 12, 49408)
    sched = json.loads((root / "scheduler" / "scheduler_config.json").read_text())
    assert (sched["beta_start"], sched["beta_end"], sched["beta_schedule"]) == (0.00085, 0.012, "scaled_linear")
    assert json.loads((root / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DConditionModel"]
