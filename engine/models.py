"""Base models: load an SD1.x model offline, or build the embedded ``builtin:tiny`` pipeline check.

``load_base(spec)`` accepts
  * ``builtin:tiny`` — a tiny SD1.x-*shaped* pipeline built from config, deterministically from a seed,
    cached on disk (``$ONELORA_CACHE`` or ``~/.cache/onelora``). It is a pipeline check, not a base model
    for real LoRAs: its weights are random.
  * a single ``.safetensors`` / ``.ckpt`` SD1.x checkpoint (LDM key layout), loaded with the SD1.5 component
    configs shipped in ``engine/assets/sd15`` so that diffusers never goes online;
  * a diffusers folder (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``...).

The CLIP tokenizer for real models comes from, in order: the diffusers folder's ``tokenizer/``, the
``tokenizer_dir`` argument (``--tokenizer DIR``), the local Hugging Face cache of
``openai/clip-vit-large-patch14`` (looked up offline), the files shipped in ``engine/assets/sd15/tokenizer``.
Nothing here downloads anything.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import offline_env

offline_env()  # before huggingface_hub is imported (docs/architecture.md, Models without a network)

import torch  # noqa: E402

from engine.errors import UserError  # noqa: E402
from engine.model_files import (  # noqa: E402,F401 (re-exported: engine.models.* is the public name)
    ASSETS_SD15, CLIP_BPE_FILE, CLIP_REPO, SD15_RESOLUTION, TINY_LABEL, TINY_RESOLUTION, TINY_SEED,
    TINY_SPEC, TINY_VERSION, TOKENIZER_FILES, TOKENIZER_HELP, _has_hf_tokenizer, _has_tokenizer,
    a1111_old_hash, cache_root, check_diffusers_config, checkpoint_keys, classify_checkpoint,
    file_sha256, find_tokenizer, hf_cache_clip_tokenizer)

# The SD1.x noise schedule, exactly as sd-scripts builds it (docs/lora-format.md §5).
NOISE_SCHEDULE = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                      num_train_timesteps=1000, clip_sample=False, steps_offset=1)


@dataclass
class BaseModel:
    """An SD1.x base model's components plus what LoRA metadata records about it."""

    unet: Any
    text_encoder: Any
    vae: Any
    tokenizer: Any
    noise_scheduler: Any
    name: str
    """Shown to users and written as ``ss_sd_model_name`` (file/folder basename, or ``builtin:tiny``)."""
    path: Path | None = None
    kind: str = "builtin"
    """``builtin``, ``single_file`` or ``diffusers``."""
    is_builtin: bool = False
    resolution: int = SD15_RESOLUTION
    """The model's native training/sampling resolution (a hint; buckets use the project's setting)."""
    model_hash: str | None = None
    """A1111 "old" hash: first 8 hex of sha256 over 64 KiB at offset 1 MiB (``ss_sd_model_hash``)."""
    _sha256: str | None = field(default=None, repr=False)
    tokenizer_source: str = ""

    @property
    def label(self) -> str:
        return TINY_LABEL if self.is_builtin else f"{self.name} ({self.kind})"

    @property
    def sha256(self) -> str | None:
        """Full-file sha256 (``ss_new_sd_model_hash``); computed on first use, ``None`` without a file."""
        if self._sha256 is None and self.path is not None and self.path.is_file():
            self._sha256 = file_sha256(self.path)
        return self._sha256

    def metadata(self) -> dict[str, str]:
        """The ``ss_sd_model_*`` keys sd-scripts writes (hashes only when the model is a local file)."""
        md = {"ss_sd_model_name": self.name}
        if self.path is not None and self.path.is_file():
            md["ss_sd_model_hash"] = self.model_hash or a1111_old_hash(self.path)
            md["ss_new_sd_model_hash"] = self.sha256 or ""
        return md

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> "BaseModel":
        for m in (self.unet, self.text_encoder, self.vae):
            m.to(device=device, dtype=dtype) if dtype is not None else m.to(device)
        return self

    def pipeline(self, scheduler: str = "euler"):
        """A ``StableDiffusionPipeline`` over these components (no safety checker) for sampling."""
        from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                               EulerDiscreteScheduler, StableDiffusionPipeline)

        classes = {"euler": EulerDiscreteScheduler, "euler_a": EulerAncestralDiscreteScheduler,
                   "ddim": DDIMScheduler, "dpm++": DPMSolverMultistepScheduler}
        if scheduler not in classes:
            raise UserError(f"unknown sampler {scheduler!r}; use one of {', '.join(classes)}")
        sched = classes[scheduler].from_config(self.noise_scheduler.config)
        pipe = StableDiffusionPipeline(vae=self.vae, text_encoder=self.text_encoder, tokenizer=self.tokenizer,
                                       unet=self.unet, scheduler=sched, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        return pipe


# ----------------------------------------------------------------------------------------------- hashes

# ----------------------------------------------------------------------------------------------- prompts

def encode_prompt(base: BaseModel, input_ids: torch.Tensor, clip_skip: int = 1) -> torch.Tensor:
    """Text-encoder hidden states for UNet cross-attention, as sd-scripts computes them.

    ``clip_skip`` 1 (or 0/None) is the last layer's normalised output; ``clip_skip=N`` takes
    ``hidden_states[-N]`` and passes it through the final layer norm (2 = penultimate layer).
    """
    te = base.text_encoder
    ids = input_ids.to(te.device)
    if not clip_skip or clip_skip <= 1:
        return te(ids)[0]
    out = te(ids, output_hidden_states=True)
    if clip_skip >= len(out.hidden_states):
        raise UserError(f"clip_skip={clip_skip} is more than the text encoder's "
                        f"{len(out.hidden_states) - 1} layers; use a smaller clip_skip")
    return final_layer_norm(te)(out.hidden_states[-clip_skip])


def final_layer_norm(text_encoder) -> torch.nn.Module:
    """The text encoder's final layer norm (transformers ≥5 has no ``text_model`` submodule)."""
    inner = getattr(text_encoder, "text_model", text_encoder)
    return inner.final_layer_norm


def tokenize(base: BaseModel, captions: list[str]) -> torch.Tensor:
    """Token ids padded/truncated to the tokenizer's max length (77 for SD1.x)."""
    tok = base.tokenizer
    return tok(captions, padding="max_length", truncation=True, max_length=tok.model_max_length,
               return_tensors="pt").input_ids


# ----------------------------------------------------------------------------------------------- loading

def load_base(spec: str, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
              tokenizer_dir: str | os.PathLike | None = None,
              config_dir: str | os.PathLike | None = None) -> BaseModel:
    """Load a base model from ``builtin:tiny``, a single-file SD1.x checkpoint or a diffusers folder.

    ``config_dir`` overrides the shipped SD1.5 component configs used for single files (tests use it
    for tiny-shaped checkpoints). Raises ``UserError`` for missing files and non-SD1.x checkpoints.
    """
    spec = str(spec).strip()
    if spec.lower() in (TINY_SPEC, "tiny", "builtin"):
        base = load_tiny()
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise UserError(f"base model {spec!r} not found: pass a .safetensors/.ckpt SD1.x checkpoint, "
                            f"a diffusers folder, or {TINY_SPEC} (a pipeline check only)")
        if path.is_dir():
            base = _load_diffusers_folder(path, tokenizer_dir)
        else:
            base = _load_single_file(path, tokenizer_dir, config_dir)
    for m in (base.unet, base.text_encoder, base.vae):
        m.requires_grad_(False)
        m.eval()
    return base.to(device, dtype)


def _load_diffusers_folder(path: Path, tokenizer_dir) -> BaseModel:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    missing = [d for d in ("unet", "vae", "text_encoder") if not (path / d / "config.json").is_file()]
    if not (path / "model_index.json").is_file() or missing:
        raise UserError(f"{path} is not a diffusers SD1.x folder (needs model_index.json and "
                        f"unet/, vae/, text_encoder/ with config.json; missing: {', '.join(missing) or 'model_index.json'})")
    check_diffusers_config(path)
    tokenizer, source = resolve_tokenizer(path / "tokenizer", tokenizer_dir)
    try:
        unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", local_files_only=True)
        vae = AutoencoderKL.from_pretrained(path, subfolder="vae", local_files_only=True)
        te = CLIPTextModel.from_pretrained(path, subfolder="text_encoder", local_files_only=True)
    except (OSError, ValueError) as e:
        raise UserError(f"could not load the diffusers folder {path}: {e}") from None
    return BaseModel(unet=unet, text_encoder=te, vae=vae, tokenizer=tokenizer,
                     noise_scheduler=DDPMScheduler(**NOISE_SCHEDULE), name=path.name, path=path,
                     kind="diffusers", resolution=_native_resolution(unet, vae), tokenizer_source=source)


def _native_resolution(unet, vae) -> int:
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    return int(unet.config.sample_size) * factor


# ------------------------------------------------------------------------------------- single files

def _load_single_file(path: Path, tokenizer_dir, config_dir) -> BaseModel:
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    try:
        classify_checkpoint(checkpoint_keys(path))
    except UserError as e:  # checkpoint_keys' messages already name the file
        raise UserError(str(e) if str(e).startswith(str(path)) else f"{path} {e}") from None
    config = Path(config_dir) if config_dir else ASSETS_SD15
    if not (config / "model_index.json").is_file():
        raise UserError(f"config folder {config} has no model_index.json (reinstall onelora)")
    tokenizer, source = resolve_tokenizer(None, tokenizer_dir, extra=config / "tokenizer")
    try:
        pipe = StableDiffusionPipeline.from_single_file(
            str(path), config=str(config), local_files_only=True, tokenizer=tokenizer,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise UserError(f"could not load {path} as an SD1.x checkpoint: {e}") from None
    return BaseModel(unet=pipe.unet, text_encoder=pipe.text_encoder, vae=pipe.vae, tokenizer=tokenizer,
                     noise_scheduler=DDPMScheduler(**NOISE_SCHEDULE), name=path.name, path=path,
                     kind="single_file", resolution=_native_resolution(pipe.unet, pipe.vae),
                     model_hash=a1111_old_hash(path), tokenizer_source=source)


# ---------------------------------------------------------------------------------------- tokenizer

def resolve_tokenizer(folder_tokenizer: Path | None, tokenizer_dir=None, extra: Path | None = None):
    """Load the CLIP tokenizer from the first source that has it; ``UserError`` with the fix if none."""
    from transformers import CLIPTokenizer

    path, source = find_tokenizer(folder_tokenizer, tokenizer_dir, extra)
    if path is None:
        raise UserError(f"no CLIP tokenizer found. {TOKENIZER_HELP}")
    if _has_hf_tokenizer(path):
        tok = CLIPTokenizer.from_pretrained(str(path), local_files_only=True)
    else:
        tok = clip_tokenizer_from_bpe(path / CLIP_BPE_FILE)
    tok.model_max_length = min(int(tok.model_max_length or 77), 77)
    return tok, source


def clip_tokenizer_from_bpe(gz_path: Path):
    """CLIP's tokenizer built from OpenAI's ``bpe_simple_vocab_16e6.txt.gz``, in the exact layout of
    openai/clip-vit-large-patch14's vocab.json/merges.txt: 256 byte symbols, the same with ``</w>``,
    48 894 merges, ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407)."""
    import gzip

    from transformers import CLIPTokenizer

    lines = gzip.open(gz_path, "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    byte_chars = list(_bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
    tok.model_max_length = 77
    return tok


# -------------------------------------------------------------------------------------- builtin:tiny

def load_tiny(seed: int = TINY_SEED) -> BaseModel:
    """``builtin:tiny``: built once from config, then loaded from the on-disk cache."""
    folder = cache_root() / f"tiny-v{TINY_VERSION}-seed{seed}"
    if not (folder / "model_index.json").is_file():
        base = build_tiny(seed)
        _save_diffusers_folder(base, folder)
        return base
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True)
        te = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", local_files_only=True)
        tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
    except (OSError, ValueError):  # a damaged cache: rebuild it
        shutil.rmtree(folder, ignore_errors=True)
        return load_tiny(seed)
    tok.model_max_length = 77
    return BaseModel(unet=unet, text_encoder=te, vae=vae, tokenizer=tok,
                     noise_scheduler=DDPMScheduler(**NOISE_SCHEDULE), name=TINY_SPEC, path=None,
                     kind="builtin", is_builtin=True, resolution=TINY_RESOLUTION,
                     tokenizer_source="built in (byte-level BPE made by onelora)")


def _save_diffusers_folder(base: BaseModel, folder: Path) -> None:
    """Write the model as a diffusers folder atomically (temp folder + rename)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        base.pipeline("euler").save_pretrained(str(tmp), safe_serialization=True)
        (tmp / "README.txt").write_text(TINY_LABEL + "\nRandom weights built from config; delete to rebuild.\n")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_tiny(seed: int = TINY_SEED) -> BaseModel:
    """Build the tiny SD1.x-shaped pipeline from config; the same seed gives identical weights."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = build_tiny_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=TINY_RESOLUTION // 8, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
            use_linear_projection=False)
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, sample_size=TINY_RESOLUTION,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 16, 32, 32), layers_per_block=1, norm_num_groups=8,
            scaling_factor=0.18215)
        torch.manual_seed(seed + 2)
        te = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=5,
            num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=32, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id))
    return BaseModel(unet=unet, text_encoder=te, vae=vae, tokenizer=tokenizer,
                     noise_scheduler=DDPMScheduler(**NOISE_SCHEDULE), name=TINY_SPEC, path=None,
                     kind="builtin", is_builtin=True, resolution=TINY_RESOLUTION,
                     tokenizer_source="built in (byte-level BPE made by onelora)")


# ------------------------------------------------------------------------- the tiny model's tokenizer

# Text the tiny tokenizer's merges are learned from: booru-style tags and words of the demo workflow.
_TINY_CORPUS = """
1girl 2girls solo looking at viewer smile open mouth closed mouth blush simple background white
background black background grey background transparent background standing full body cowboy shot upper
body lower body portrait close-up face eyes hair long hair short hair very long hair bangs blunt bangs
sidelocks ponytail twintails braid hat bow hair bow ribbon hair ribbon witch hat capelet striped stripes
corset skirt long skirt dress shirt boots black boots brown boots thighhighs gloves jacket coat cape
blonde hair brown hair black hair red hair blue hair pink hair purple hair green hair white hair silver
hair multicolored hair blue eyes red eyes green eyes brown eyes purple eyes yellow eyes holding hands
arms behind back from side from behind from above from below masterpiece best quality lowres worst
quality bad anatomy text watermark signature jpeg artifacts sketch monochrome greyscale character girl
boy woman man person illustration drawing anime painting photo of a an the with and on in at by
"""


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible byte → printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_vocab_and_merges(num_merges: int = 480) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style byte-level BPE vocabulary learned deterministically from ``_TINY_CORPUS``.

    Layout as CLIP's: 256 byte symbols, the same with ``</w>``, one entry per merge, then
    ``<|startoftext|>`` and ``<|endoftext|>``.
    """
    vocab, merges = _learn_tiny_bpe(num_merges)
    return dict(vocab), list(merges)


@functools.lru_cache(maxsize=2)
def _learn_tiny_bpe(num_merges: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    from collections import Counter

    byte_chars = list(_bytes_to_unicode().values())
    words = Counter(re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", _TINY_CORPUS.lower()))
    splits = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in words}
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: Counter = Counter()
        for w, sym in splits.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += words[w]
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]  # ties broken by the pair itself
        merges.append(best)
        for w, sym in splits.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            splits[w] = tuple(out)
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab: dict[str, int] = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def build_tiny_tokenizer():
    """The tiny model's CLIP tokenizer (same pre-tokenisation and specials as SD1.x, small vocabulary)."""
    from transformers import CLIPTokenizer

    vocab, merges = tiny_vocab_and_merges()
    tok = CLIPTokenizer(vocab=vocab, merges=merges)
    tok.model_max_length = 77
    return tok
