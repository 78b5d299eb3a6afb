"""The LoRA file is exactly what sd-scripts writes for SD1.x, loads in diffusers, and is never broken."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from engine import lora, models
from engine.errors import UserError


# ------------------------------------------------------------------------- the full SD1.5 key set

def _sd15_on_meta():
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    root = models.ASSETS_SD15
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(json.loads((root / "unet" / "config.json").read_text()))
        te = CLIPTextModel(CLIPTextConfig(**json.loads((root / "text_encoder" / "config.json").read_text())))
        net = lora.LoraNetwork(unet, te, dim=16, alpha=16)
    return unet, te, net


def expected_sd15_names() -> set[str]:
    """The 264 module names from sd-scripts' rules (docs/lora-format.md §1)."""
    per_transformer = ["proj_in", "proj_out"] + [
        f"transformer_blocks_0_{a}" for a in
        ["attn1_to_q", "attn1_to_k", "attn1_to_v", "attn1_to_out_0",
         "attn2_to_q", "attn2_to_k", "attn2_to_v", "attn2_to_out_0", "ff_net_0_proj", "ff_net_2"]]
    transformers = [f"down_blocks_{i}_attentions_{j}" for i in range(3) for j in range(2)]
    transformers += ["mid_block_attentions_0"]
    transformers += [f"up_blocks_{i}_attentions_{j}" for i in (1, 2, 3) for j in range(3)]
    unet = {f"lora_unet_{t}_{s}" for t in transformers for s in per_transformer}
    te = {f"lora_te_text_model_encoder_layers_{n}_{s}" for n in range(12) for s in
          ["self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj", "self_attn_out_proj", "mlp_fc1", "mlp_fc2"]}
    return unet | te


def test_sd15_shaped_model_gets_exactly_sd_scripts_264_modules():
    unet, te, net = _sd15_on_meta()
    names = {m.lora_name for m in net.loras}
    assert len(net.unet_loras) == 192 and len(net.te_loras) == 72
    assert names == expected_sd15_names()
    for literal in ("lora_unet_down_blocks_0_attentions_0_proj_in",
                    "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_out_0",
                    "lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj",
                    "lora_te_text_model_encoder_layers_0_self_attn_q_proj",
                    "lora_te_text_model_encoder_layers_11_mlp_fc2"):
        assert literal in names
    mods = net.lora_modules
    down = mods["lora_unet_down_blocks_0_attentions_0_proj_in"].lora_down.weight
    up = mods["lora_unet_down_blocks_0_attentions_0_proj_out"].lora_up.weight
    assert tuple(down.shape) == (16, 320, 1, 1) and tuple(up.shape) == (320, 16, 1, 1)
    q = mods["lora_te_text_model_encoder_layers_0_self_attn_q_proj"]
    assert tuple(q.lora_down.weight.shape) == (16, 768) and tuple(q.lora_up.weight.shape) == (768, 16)
    assert sum(3 for _ in net.loras) == 792
    assert sum(m.lora_down.weight.numel() + m.lora_up.weight.numel() for m in net.loras) == 589_824 * 16
    assert net.blocks_present() == ["BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "M00"] + \
        [f"OUT{i:02d}" for i in range(3, 12)]


def test_sd15_conv_dim_adds_locon_modules():
    from diffusers import UNet2DConditionModel

    cfg = json.loads((models.ASSETS_SD15 / "unet" / "config.json").read_text())
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(cfg)
        net = lora.LoraNetwork(unet, None, dim=8, alpha=4, conv_dim=4, conv_alpha=2)
    conv3 = [m for m in net.unet_loras if m.lora_down.weight.ndim == 4 and m.lora_down.weight.shape[-1] == 3]
    assert len(conv3) == 50  # docs/lora-format.md §1: LoCon adds 50 3×3 modules ...
    assert len(net.unet_loras) - 192 - 50 == 36  # ... plus 36 Linear/1×1 (time_emb_proj, conv_shortcut)
    assert all(m.dim == 4 and m.scale == 0.5 for m in conv3)  # conv_alpha / conv_dim
    names = {m.lora_name for m in net.unet_loras}
    assert {"lora_unet_down_blocks_0_resnets_0_conv1", "lora_unet_down_blocks_0_downsamplers_0_conv",
            "lora_unet_up_blocks_0_upsamplers_0_conv", "lora_unet_down_blocks_0_resnets_0_time_emb_proj"} <= names
    assert {"IN03", "IN10", "OUT00"} <= set(net.blocks_present())


# ------------------------------------------------------------------------------ block weights

def test_zero_block_gets_no_modules_and_groups_carry_block_lrs():
    from diffusers import UNet2DConditionModel

    cfg = json.loads((models.ASSETS_SD15 / "unet" / "config.json").read_text())
    down, mid, up = lora.resolve_block_weights("seed")
    up[3] = 0.5
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(cfg)
        net = lora.LoraNetwork(unet, None, 4, 4, down_lr_weight=down, mid_lr_weight=mid, up_lr_weight=up)
    present = set(net.blocks_present())
    assert not present & {"IN01", "IN02", "IN04", "IN05", "M00", "OUT06", "OUT07", "OUT08", "OUT09"}
    assert present == {"IN07", "IN08", "OUT03", "OUT04", "OUT05", "OUT10", "OUT11"}
    assert not any("mid_block" in m.lora_name for m in net.unet_loras)
    groups = {g["name"]: g for g in net.param_groups(unet_lr=1e-3, text_encoder_lr=5e-4)}
    assert "text_encoder" not in groups  # no text encoder given
    assert groups["unet_block16"]["lr"] == pytest.approx(5e-4)  # OUT03 = block 13 + 3, weight 0.5
    assert groups["unet_block17"]["lr"] == pytest.approx(1e-3) and groups["unet_block17"]["block"] == "OUT04"
    assert groups["unet_block8"]["lr"] == pytest.approx(1e-3)  # IN08
    assert sum(len(g["params"]) for g in groups.values()) == 2 * len(net.unet_loras)
    assert all(len(g["params"]) == 24 for g in groups.values())  # 12 modules × (down, up)


def test_lbw_and_sd_scripts_presets_resolve():
    d, m, u = lora.resolve_block_weights("OUTD")
    assert d == [0.0] * 12 and m == [0.0] and u == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    d, m, u = lora.resolve_block_weights("INALL")
    assert d == [0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0] and m == [0.0] and u == [0.0] * 12
    d, m, u = lora.resolve_block_weights("MIDD")
    assert d == [0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0] and m == [1.0] and u == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert lora.resolve_block_weights("none") == ([1.0] * 12, [1.0], [1.0] * 12)
    assert lora.resolve_block_weights("seed") == (
        [1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], [0], [0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1])
    d, m, u = lora.resolve_block_weights("sine+.5")
    assert d[0] == pytest.approx(0.5) and d[-1] == pytest.approx(1.5) and d == u and m == [1.0]
    d, _, _ = lora.resolve_block_weights("cosine")
    assert d[0] == pytest.approx(1.0) and d[-1] == 0.0
    # explicit vectors override the preset; short ones are padded with 1.0 as in sd-scripts
    d, m, u = lora.resolve_block_weights("OUTD", down=[0, 0.5], mid=[2])
    assert d == [0, 0.5] + [1.0] * 10 and m == [2.0] and u == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    with pytest.raises(UserError, match="OUTD"):
        lora.resolve_block_weights("ramp_up")
    with pytest.raises(UserError, match="down_lr_weight"):
        lora.resolve_block_weights("none", down=[1.0] * 13)


# ---------------------------------------------------------------- tiny model: diffusers round trip

@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    import os
    os.environ["ONELORA_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return models.load_base("builtin:tiny")


def _randomise(net, seed=1, scale=0.2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.loras:
            m.lora_up.weight.copy_(torch.randn(m.lora_up.weight.shape, generator=g) * scale)
            m.lora_down.weight.copy_(torch.randn(m.lora_down.weight.shape, generator=g) * scale)


def _outputs(base, ids, x, t):
    with torch.no_grad():
        h = models.encode_prompt(base, ids, clip_skip=2)
        return h, base.unet(x, t, h).sample


def test_saved_lora_loads_in_diffusers_and_reproduces_outputs(tiny_pair, tmp_path):
    base = tiny_pair
    net = lora.LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=2)
    _randomise(net)
    ids = models.tokenize(base, ["zq girl, long hair, hat"])
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(1, 4, 16, 16, generator=g), torch.tensor([400])
    h0, y0 = _outputs(base, ids, x, t)
    net.apply()
    h1, y1 = _outputs(base, ids, x, t)
    net.restore()
    assert (h1 - h0).abs().max() > 1e-2 and (y1 - y0).abs().max() > 1e-2  # the LoRA does something
    path = tmp_path / "zq.safetensors"
    net.save(path, torch.float32, {"ss_output_name": "zq"})

    fresh = models.build_tiny()
    pipe = fresh.pipeline()
    pipe.load_lora_weights(str(path))  # diffusers raises on any key it cannot place
    h2, y2 = _outputs(fresh, ids, x, t)
    assert torch.allclose(h2, h1, atol=1e-4) and torch.allclose(y2, y1, atol=1e-4)
    pipe.unload_lora_weights()
    h3, _ = _outputs(fresh, ids, x, t)
    assert torch.allclose(h3, h0, atol=1e-6)


def test_file_layout_dtypes_and_metadata_read_back(tiny_pair, tmp_path):
    base = tiny_pair
    net = lora.LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=2)
    settings = {"learning_rate": 1e-3, "unet_lr": 1e-3, "text_encoder_lr": 5e-4, "epochs": 3,
                "resolution": 128, "clip_skip": 2, "noise_offset": 0.1, "seed": 42, "optimizer": "AdamW",
                "lr_scheduler": "cosine", "output_name": "zq", "batch_size": 1}
    md = lora.build_metadata(net, settings, base=base,
                             dataset={"dataset_dirs": {"5_zq girl": {"n_repeats": 5, "img_count": 7}},
                                      "tag_frequency": {"5_zq girl": {"zq": 7, "hat": 3}}},
                             run={"epoch": 2, "steps": 70, "trigger": "zq"})
    path = net.save(tmp_path / "zq-000002.safetensors", "fp16", md)
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        keys = list(fh.keys())
        alpha = fh.get_tensor("lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha")
        down = fh.get_tensor("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight")
    assert len(keys) == 3 * len(net.loras)
    assert alpha.ndim == 0 and float(alpha) == 2.0 and down.dtype == torch.float16 and down.ndim == 4
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["ss_network_dim"] == "4" and meta["ss_network_alpha"] == "2.0"
    assert meta["ss_sd_model_name"] == "builtin:tiny" and meta["ss_base_model_version"] == "sd_v1"
    assert json.loads(meta["ss_dataset_dirs"]) == {"5_zq girl": {"n_repeats": 5, "img_count": 7}}
    assert json.loads(meta["ss_tag_frequency"])["5_zq girl"]["hat"] == 3
    assert meta["ss_epoch"] == "2" and meta["ss_steps"] == "70" and meta["ss_clip_skip"] == "2"
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/lora" and meta["modelspec.resolution"] == "128x128"
    assert "pipeline check" in meta["modelspec.description"]
    assert len(meta["sshs_model_hash"]) == 64 and len(meta["sshs_legacy_hash"]) == 8
    # the sshs hash ignores non-ss metadata, as sd-webui-additional-networks computes it
    sd, md2 = lora.read_lora(path)
    assert lora.sshs_hashes(sd, {**md2, "modelspec.title": "edited"})[0] == meta["sshs_model_hash"]
    # weights load back into a fresh network
    other = lora.LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=2)
    other.load_kohya_state_dict(sd)
    assert torch.equal(other.kohya_state_dict(torch.float16)[keys[0]], sd[keys[0]])


def test_non_finite_lora_is_never_saved(tiny_pair, tmp_path):
    net = lora.LoraNetwork(tiny_pair.unet, tiny_pair.text_encoder, dim=4, alpha=4)
    path = tmp_path / "bad.safetensors"
    net.save(path, "fp16", {})
    before = path.read_bytes()
    with torch.no_grad():
        net.unet_loras[3].lora_up.weight[0, 0] = float("nan")
    assert not net.all_finite()
    with pytest.raises(lora.NonFiniteLoraError, match=net.unet_loras[3].lora_name):
        net.save(path, "fp16", {})
    assert path.read_bytes() == before  # the good file is untouched
    with torch.no_grad():
        net.unet_loras[3].lora_up.weight[0, 0] = 1e6  # finite in fp32, inf in fp16
    assert net.all_finite()
    with pytest.raises(lora.NonFiniteLoraError):
        net.save(path, "fp16", {})
    net.save(tmp_path / "ok-fp32.safetensors", "float", {})
    assert not list(tmp_path.glob(".*.tmp"))


def test_multiplier_and_fresh_lora_change_nothing(tiny_pair):
    base = tiny_pair
    net = lora.LoraNetwork(base.unet, base.text_encoder, dim=4, alpha=4)
    ids = models.tokenize(base, ["zq girl"])
    x, t = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(3)), torch.tensor([10])
    h0, y0 = _outputs(base, ids, x, t)
    net.apply()
    try:
        h1, y1 = _outputs(base, ids, x, t)
        assert torch.equal(h1, h0) and torch.equal(y1, y0)  # lora_up starts at zero
        _randomise(net, seed=5)
        net.set_multiplier(0.0)
        h2, _ = _outputs(base, ids, x, t)
        assert torch.equal(h2, h0)
        net.set_multiplier(1.0)
        h3, _ = _outputs(base, ids, x, t)
        assert not torch.equal(h3, h0)
    finally:
        net.restore()
    groups = net.param_groups(unet_lr=1e-4, text_encoder_lr=0)
    assert [g["name"] for g in groups] == ["unet"]  # an lr of 0 means no group


def test_read_lora_rejects_non_lora_and_missing(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(UserError, match="not found"):
        lora.read_lora(tmp_path / "nope.safetensors")
    p = tmp_path / "model.safetensors"
    save_file({"model.diffusion_model.out.2.weight": torch.zeros(2)}, str(p))
    with pytest.raises(UserError, match="base model"):
        lora.read_lora(p)
