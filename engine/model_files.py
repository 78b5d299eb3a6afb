"""What a base-model file or folder is, without torch and without loading its weights.

Used by ``onelora doctor --model`` and by the checks ``onelora train`` makes before it starts a
worker (a process that must answer in well under a second); :mod:`engine.models` loads the
weights and re-exports everything here.  A ``.safetensors`` checkpoint is classified from its
header bytes; only a pickled ``.ckpt`` needs torch (imported then).  Where the CLIP tokenizer
comes from is decided here too (nothing is downloaded).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from engine import offline_env
from engine.errors import UserError

offline_env()  # before huggingface_hub is imported (docs/architecture.md, Models without a network)

TINY_SPEC = "builtin:tiny"
TINY_LABEL = "builtin:tiny — a pipeline check, not a base model for real LoRAs"
TINY_VERSION = 1
TINY_SEED = 0
TINY_RESOLUTION = 128
SD15_RESOLUTION = 512
ASSETS_SD15 = Path(__file__).parent / "assets" / "sd15"
CLIP_REPO = "openai/clip-vit-large-patch14"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
CLIP_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"  # OpenAI CLIP's BPE table (MIT), shipped in assets/sd15/tokenizer
TOKENIZER_HELP = (
    "SD1.x needs the CLIP tokenizer files vocab.json and merges.txt (openai/clip-vit-large-patch14). "
    "Get them on a machine with internet: `huggingface-cli download openai/clip-vit-large-patch14 "
    "vocab.json merges.txt tokenizer_config.json special_tokens_map.json --local-dir clip-tokenizer`, "
    "copy the folder here and pass `--tokenizer clip-tokenizer` (or use a diffusers model folder, "
    "which has them in tokenizer/).")


def a1111_old_hash(path: Path) -> str:
    """A1111's legacy model hash: sha256 of 64 KiB at offset 1 MiB, first 8 hex digits."""
    with open(path, "rb") as fh:
        fh.seek(0x100000)
        return hashlib.sha256(fh.read(0x10000)).hexdigest()[:8]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def cache_root() -> Path:
    """Where onelora caches built artefacts: ``$ONELORA_CACHE`` or ``~/.cache/onelora``."""
    env = os.environ.get("ONELORA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "onelora"


def check_diffusers_config(path: Path) -> None:
    unet_cfg = json.loads((path / "unet" / "config.json").read_text())
    ctx = unet_cfg.get("cross_attention_dim")
    if ctx == 2048 or unet_cfg.get("addition_embed_type") == "text_time":
        raise UserError(f"{path} is an SDXL model; onelora trains SD1.x LoRAs only")
    if ctx == 1024:
        raise UserError(f"{path} is an SD2.x model (1024-wide text context); onelora trains SD1.x LoRAs only")
    sched = path / "scheduler" / "scheduler_config.json"
    if sched.is_file() and json.loads(sched.read_text()).get("prediction_type") == "v_prediction":
        raise UserError(f"{path} is a v-prediction model; onelora trains SD1.x epsilon models only")


def checkpoint_keys(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names → shapes of a checkpoint, without loading the weights (safetensors) or via mmap."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from engine.epochs import read_header  # the header bytes only: no torch, no weights

        try:
            header, _ = read_header(path)
        except UserError as e:
            raise UserError(f"{path} is not a readable .safetensors file ({e})") from None
        except OSError as e:
            raise UserError(f"{path} could not be read ({e.strerror or e})") from None
        return {k: tuple(v.get("shape", ())) for k, v in header.items()
                if k != "__metadata__" and isinstance(v, dict)}
    if suffix in (".ckpt", ".pt", ".pth", ".bin"):
        import torch  # a pickle needs torch to read even its shapes

        try:
            sd = torch.load(str(path), map_location="meta", weights_only=True, mmap=True)
        except Exception as e:
            raise UserError(f"{path} is not a readable PyTorch checkpoint ({e}); onelora only reads "
                            "weights-only checkpoints — convert it to .safetensors") from None
        sd = sd.get("state_dict", sd) if isinstance(sd, dict) else {}
        return {k: tuple(v.shape) for k, v in sd.items() if isinstance(v, torch.Tensor)}
    raise UserError(f"{path}: unknown model file type {suffix!r}; use a .safetensors or .ckpt SD1.x "
                    "checkpoint or a diffusers folder")


def classify_checkpoint(keys: dict[str, tuple[int, ...]]) -> str:
    """What a checkpoint is, from its tensor names and shapes.

    Returns ``sd1``, or raises ``UserError`` naming what it is instead: a LoRA, an SDXL or SD2.x model,
    a VAE on its own, a text encoder, or something unknown.
    """
    names = list(keys)
    if not names:
        return _bad("contains no tensors")
    if any(k.startswith(("lora_unet_", "lora_te", "lora_")) or ".lora_down." in k or ".lora_A." in k
           or ".hada_w1" in k or ".lokr_w1" in k for k in names):
        _bad("is a LoRA (or LyCORIS) file, not a base model; use it with `onelora inspect`, "
             "and pass an SD1.x checkpoint as --model")
    if any(k.startswith("conditioner.embedders") for k in names):
        _bad("is an SDXL checkpoint (conditioner.embedders); onelora trains SD1.x LoRAs only")
    unet = [k for k in names if k.startswith("model.diffusion_model.")]
    if not unet:
        if any(k.startswith(("encoder.down.", "decoder.up.", "first_stage_model.", "encoder.conv_in"))
               for k in names):
            _bad("is a VAE on its own, not a full SD1.x checkpoint")
        if any("text_model" in k or k.startswith("cond_stage_model") for k in names):
            _bad("holds only a text encoder, not a full SD1.x checkpoint")
        if any(k.startswith(("down_blocks.", "conv_in.", "time_embedding.")) for k in names):
            _bad("is a diffusers-format UNet file; pass the whole diffusers folder instead")
        _bad("has no Stable Diffusion UNet (model.diffusion_model.*)")
    ctx = [shape[-1] for k, shape in keys.items()
           if k.startswith("model.diffusion_model.") and k.endswith("attn2.to_k.weight") and len(shape) == 2]
    if 2048 in ctx or any(k.startswith("model.diffusion_model.label_emb") for k in names):
        _bad("is an SDXL checkpoint (2048-wide text context); onelora trains SD1.x LoRAs only")
    if 1024 in ctx or any(k.startswith("cond_stage_model.model.") for k in names):
        _bad("is an SD2.x checkpoint (OpenCLIP, 1024-wide context, usually v-prediction); "
             "onelora trains SD1.x LoRAs only")
    if not any(k.startswith("first_stage_model.") for k in names):
        _bad("has no VAE (first_stage_model.*); use a full SD1.x checkpoint")
    if not any(k.startswith("cond_stage_model.transformer.") for k in names):
        _bad("has no CLIP text encoder (cond_stage_model.transformer.*); use a full SD1.x checkpoint")
    return "sd1"


def _bad(what: str):
    raise UserError(what)


def hf_cache_clip_tokenizer() -> Path | None:
    """The local HF cache snapshot of openai/clip-vit-large-patch14 that has the tokenizer, if any."""
    try:
        from huggingface_hub import constants
        hub = Path(constants.HF_HUB_CACHE)
    except Exception:
        hub = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    for snaps in [hub / "models--openai--clip-vit-large-patch14" / "snapshots"]:
        if snaps.is_dir():
            for snap in sorted(snaps.iterdir()):
                if _has_tokenizer(snap):
                    return snap
                if _has_tokenizer(snap / "tokenizer"):
                    return snap / "tokenizer"
    return None


def _has_hf_tokenizer(d: Path | None) -> bool:
    """A CLIP tokenizer folder: vocab.json + merges.txt (classic) or tokenizer.json (fast format)."""
    return d is not None and d.is_dir() and (all((d / f).is_file() for f in TOKENIZER_FILES)
                                             or (d / "tokenizer.json").is_file())


def _has_tokenizer(d: Path | None) -> bool:
    """Either a Hugging Face tokenizer folder or one holding CLIP's original BPE table."""
    return _has_hf_tokenizer(d) or (d is not None and (d / CLIP_BPE_FILE).is_file())


def find_tokenizer(folder_tokenizer: Path | None = None, tokenizer_dir=None,
                   extra: Path | None = None) -> tuple[Path | None, str]:
    """Where the CLIP tokenizer would come from (path, description); ``(None, reason)`` when nowhere."""
    if _has_tokenizer(folder_tokenizer):
        return folder_tokenizer, f"model folder ({folder_tokenizer})"
    if tokenizer_dir is not None:
        d = Path(tokenizer_dir).expanduser()
        if _has_tokenizer(d):
            return d, f"--tokenizer {d}"
        if _has_tokenizer(d / "tokenizer"):
            return d / "tokenizer", f"--tokenizer {d / 'tokenizer'}"
        raise UserError(f"--tokenizer {d}: no vocab.json + merges.txt there. {TOKENIZER_HELP}")
    cached = hf_cache_clip_tokenizer()
    if cached is not None:
        return cached, f"Hugging Face cache ({cached})"
    for d in (extra, ASSETS_SD15 / "tokenizer"):
        if _has_tokenizer(d):
            return d, f"shipped with onelora ({d})"
    return None, "not found"
