"""builtin:tiny (the embedded pipeline check), the tokenizer lookup and prompt encoding."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from engine import model_files, models
from engine.errors import UserError


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def tiny():
    return models.build_tiny(0)


def test_tiny_model_built_twice_gives_identical_weights(tiny):
    again = models.build_tiny(0)
    for part in ("unet", "vae", "text_encoder"):
        assert _same_weights(getattr(tiny, part), getattr(again, part)), part
    other = models.build_tiny(1)
    assert not _same_weights(tiny.unet, other.unet)
    assert tiny.is_builtin and "pipeline check" in tiny.label and tiny.name == "builtin:tiny"
    # SD1.x shape: cross attention, 1×1-conv proj_in, 4 latent channels, VAE factor 8
    assert tiny.unet.config.cross_attention_dim == tiny.text_encoder.config.hidden_size
    assert isinstance(tiny.unet.down_blocks[0].attentions[0].proj_in, torch.nn.Conv2d)
    assert tiny.vae.config.latent_channels == 4 and len(tiny.vae.config.block_out_channels) == 4
    cfg = tiny.noise_scheduler.config
    assert (cfg.beta_start, cfg.beta_end, cfg.beta_schedule, cfg.num_train_timesteps, cfg.clip_sample) == \
        (0.00085, 0.012, "scaled_linear", 1000, False)


def test_tiny_model_is_cached_under_onelora_cache(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("ONELORA_CACHE", str(tmp_path / "cache"))
    first = models.load_base("builtin:tiny")
    folder = tmp_path / "cache" / f"tiny-v{models.TINY_VERSION}-seed0"
    assert (folder / "model_index.json").is_file() and "pipeline check" in (folder / "README.txt").read_text()
    second = models.load_base("builtin:tiny")  # from the cache this time
    for part in ("unet", "vae", "text_encoder"):
        assert _same_weights(getattr(first, part), getattr(second, part))
        assert _same_weights(getattr(tiny, part), getattr(second, part))
    assert not any(p.requires_grad for p in second.unet.parameters())
    ids = "zq girl, long hair, hat with bow"
    assert second.tokenizer(ids).input_ids == tiny.tokenizer(ids).input_ids
    assert not list((tmp_path / "cache").glob(".tiny-*"))  # no temp folders left behind


def test_tiny_tokenizer_is_clip_style(tiny):
    tok = tiny.tokenizer
    ids = models.tokenize(tiny, ["ZQ Girl, long hair"])[0].tolist()
    assert len(ids) == 77 and ids[0] == tok.bos_token_id
    end = ids.index(tok.eos_token_id)
    assert all(i == tok.eos_token_id for i in ids[end:])  # SD1.x pads with <|endoftext|>
    assert tok.tokenize("long hair") == ["long</w>", "hair</w>"]
    assert tok.tokenize("ZQ") == tok.tokenize("zq")  # lower-cased like CLIP
    assert len(tok) == tiny.text_encoder.config.vocab_size
    assert tok.decode(models.tokenize(tiny, ["a hat"])[0], skip_special_tokens=True).strip() == "a hat"


def test_encode_prompt_clip_skip_is_sd_scripts_penultimate_layer(tiny):
    ids = models.tokenize(tiny, ["zq girl, hat"])
    with torch.no_grad():
        out = tiny.text_encoder(ids, output_hidden_states=True)
        h1 = models.encode_prompt(tiny, ids, clip_skip=1)
        h2 = models.encode_prompt(tiny, ids, clip_skip=2)
        want = tiny.text_encoder.final_layer_norm(out.hidden_states[-2])
    assert torch.allclose(h1, out.last_hidden_state) and torch.allclose(h2, want)
    assert not torch.allclose(h1, h2)
    with pytest.raises(UserError, match="clip_skip"):
        models.encode_prompt(tiny, ids, clip_skip=9)


def test_diffusers_folder_loads_and_other_models_are_refused(tiny, tmp_path):
    folder = tmp_path / "my-sd1"
    tiny.pipeline().save_pretrained(str(folder))
    base = models.load_base(str(folder))
    assert base.kind == "diffusers" and base.name == "my-sd1" and _same_weights(base.unet, tiny.unet)
    assert base.tokenizer_source.startswith("model folder")
    assert base.resolution == models.TINY_RESOLUTION
    xl = tmp_path / "xl"
    shutil.copytree(folder, xl)
    cfg = json.loads((xl / "unet" / "config.json").read_text())
    cfg["cross_attention_dim"] = 2048
    (xl / "unet" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="SDXL"):
        models.load_base(str(xl))
    with pytest.raises(UserError, match="not a diffusers SD1.x folder"):
        models.load_base(str(tmp_path))


def test_tokenizer_lookup_order_and_the_help_when_missing(tiny, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(model_files, "ASSETS_SD15", tmp_path / "no-assets")  # where find_tokenizer looks
    mine = tmp_path / "clip-tokenizer"
    tiny.tokenizer.save_pretrained(str(mine))
    folder_tok = tmp_path / "model" / "tokenizer"
    shutil.copytree(mine, folder_tok)
    # 1. the model folder's tokenizer/ wins
    path, source = models.find_tokenizer(folder_tok, mine)
    assert path == folder_tok and source.startswith("model folder")
    # 2. then --tokenizer DIR
    path, source = models.find_tokenizer(None, mine)
    assert path == mine and source.startswith("--tokenizer")
    with pytest.raises(UserError, match="huggingface-cli download openai/clip-vit-large-patch14"):
        models.find_tokenizer(None, tmp_path / "empty")
    # 3. then the local HF cache of openai/clip-vit-large-patch14
    assert models.find_tokenizer(None, None) == (None, "not found")
    snap = tmp_path / "hub" / "models--openai--clip-vit-large-patch14" / "snapshots" / "abc123"
    shutil.copytree(mine, snap)
    path, source = models.find_tokenizer(None, None)
    assert path == snap and source.startswith("Hugging Face cache")
    tok, _ = models.resolve_tokenizer(None, None)
    assert tok("zq girl").input_ids == tiny.tokenizer("zq girl").input_ids
    shutil.rmtree(snap)
    with pytest.raises(UserError, match="no CLIP tokenizer found.*--tokenizer"):
        models.resolve_tokenizer(None, None)


def test_shipped_clip_tokenizer_matches_openai_ids(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # no cache: use the shipped table
    tok, source = models.resolve_tokenizer(None, None)
    assert source.startswith("shipped with onelora") and len(tok) == 49408
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tok.tokenize("1girl, long hair") == ["1</w>", "girl</w>", ",</w>", "long</w>", "hair</w>"]
