"""LoRA for SD1.x, written exactly as kohya-ss/sd-scripts writes it (docs/lora-format.md §1–§3).

Targets: every ``Linear`` and 1×1 ``Conv2d`` inside the UNet's ``Transformer2DModel`` blocks (12 per
transformer: attn1/attn2 q, k, v, out, ff.net.0.proj, ff.net.2, proj_in, proj_out) and inside the text
encoder's ``CLIPAttention``/``CLIPMLP`` (6 per layer); with ``conv_dim`` also the 3×3 convs (and their
Linear/1×1 neighbours) of ``ResnetBlock2D``/``Downsample2D``/``Upsample2D``. A full SD1.5 model gives
192 UNet + 72 text-encoder modules = 264 modules, 792 tensors.

Names: ``lora_unet_<module path with _>`` and ``lora_te_text_model_encoder_layers_N_…`` — the
``text_model.`` part is kept in the keys even though transformers ≥ 5 drops it from module paths.

Each module computes ``y = org(x) + up(down(x)) * multiplier * alpha / dim``; ``down`` starts
kaiming-uniform (a=√5), ``up`` at zero, so a fresh LoRA changes nothing.

Block LR weights: 12 down (IN00–IN11), 1 mid (M00), 12 up (OUT00–OUT11) as sd-scripts' ``down_lr_weight``
/ ``mid_lr_weight`` / ``up_lr_weight``; a block whose weight is 0 gets no module at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from engine.block_presets import (  # noqa: F401 (re-exported)
    MID_INDEX, NUM_BLOCKS, block_index, block_name,
    LBW17_BLOCKS, LBW_PRESETS, SD_SCRIPTS_PRESETS, SEED_PRESET, preset_names)
from engine.errors import UserError

UNET_TARGETS = ("Transformer2DModel",)
UNET_CONV_TARGETS = ("ResnetBlock2D", "Downsample2D", "Upsample2D")
TE_TARGETS = ("CLIPAttention", "CLIPSdpaAttention", "CLIPFlashAttention2", "CLIPMLP")
PREFIX_UNET = "lora_unet"
PREFIX_TE = "lora_te"
SAVE_DTYPES = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16,
               "bfloat16": torch.bfloat16, "float": torch.float32, "fp32": torch.float32,
               "float32": torch.float32}


class NonFiniteLoraError(RuntimeError):
    """Raised instead of saving a LoRA that holds NaN/inf; ``names`` lists the bad tensors."""

    def __init__(self, names: list[str]):
        self.names = names
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        super().__init__(f"refusing to save a LoRA with non-finite tensors: {shown}")


# --------------------------------------------------------------------------------------- block names

# ------------------------------------------------------------------------------------ block presets

# (the preset tables live in engine.block_presets, torch-free, so a project is checked at the door)


def lbw17_to_blocks(vec: list[float]) -> tuple[list[float], list[float], list[float]]:
    """Scatter a 17-entry LBW vector into (down12, mid1, up12); BASE (the text encoder) is dropped."""
    down, mid, up = [0.0] * NUM_BLOCKS, [0.0], [0.0] * NUM_BLOCKS
    for name, w in zip(LBW17_BLOCKS[1:], vec[1:]):
        if name.startswith("IN"):
            down[int(name[2:])] = float(w)
        elif name == "M00":
            mid[0] = float(w)
        else:
            up[int(name[3:])] = float(w)
    return down, mid, up


def sd_scripts_preset(name: str, n: int = NUM_BLOCKS) -> list[float]:
    """sd-scripts' named lr-weight lists: sine, cosine, linear, reverse_linear, zeros, with ``+base``."""
    base_name, _, plus = name.partition("+")
    try:
        base = float(plus) if plus else 0.0
    except ValueError:
        raise UserError(f"block weight preset {name!r}: the part after '+' must be a number") from None
    i = list(range(n))
    if base_name == "sine":
        vals = [math.sin(math.pi * (k / (n - 1)) / 2) for k in i]
    elif base_name == "cosine":
        vals = [math.sin(math.pi * (k / (n - 1)) / 2) for k in reversed(i)]
    elif base_name == "linear":
        vals = [k / (n - 1) for k in i]
    elif base_name == "reverse_linear":
        vals = [k / (n - 1) for k in reversed(i)]
    elif base_name == "zeros":
        vals = [0.0] * n
    else:
        raise UserError(f"unknown block weight preset {name!r}; known: {', '.join(preset_names())}")
    return [v + base for v in vals]


def _fit(vec: Iterable[float] | None, n: int, what: str) -> list[float] | None:
    if vec is None:
        return None
    vals = [float(v) for v in vec]
    if not vals:
        return None
    if any(not math.isfinite(v) or v < 0 for v in vals):
        raise UserError(f"{what} must hold finite numbers ≥ 0, got {vals}")
    if len(vals) > n:
        raise UserError(f"{what} takes {n} values, got {len(vals)}")
    return vals + [1.0] * (n - len(vals))  # sd-scripts pads short lists with 1.0


def resolve_block_weights(preset: str | None = "none", down: Iterable[float] | None = None,
                          mid: Iterable[float] | None = None, up: Iterable[float] | None = None
                          ) -> tuple[list[float], list[float], list[float]]:
    """(down12, mid1, up12) from a preset name and optional explicit vectors (which override it).

    ``none`` (default) = all 1.0; ``seed`` = the seed workflow's vectors; LBW names (OUTD, INALL, MIDD, INS,
    IND, OUTS, OUTALL, ALL, ALL0.5; ``NONE(lbw)`` = all 0) mapped through LBW's 17-slot layout; sd-scripts'
    ``sine``/``cosine``/``linear``/``reverse_linear``/``zeros`` with optional ``+base`` for down and up.
    """
    name = (preset or "none").strip()
    key = name.upper()
    if key in ("", "NONE", "OFF"):
        d, m, u = [1.0] * NUM_BLOCKS, [1.0], [1.0] * NUM_BLOCKS
    elif key == "SEED":
        d, m, u = (list(map(float, v)) for v in SEED_PRESET)
    elif key in ("NONE(LBW)", "NONE_LBW"):
        d, m, u = lbw17_to_blocks(LBW_PRESETS["NONE_LBW"])
    elif key in LBW_PRESETS:
        d, m, u = lbw17_to_blocks(LBW_PRESETS[key])
    elif name.lower().partition("+")[0] in SD_SCRIPTS_PRESETS:
        d = u = sd_scripts_preset(name.lower())
        d, m, u = list(d), [1.0], list(u)
    else:
        raise UserError(f"unknown block_weight_preset {name!r}; known: {', '.join(preset_names())}")
    d = _fit(down, NUM_BLOCKS, "down_lr_weight") or d
    m = _fit(mid, 1, "mid_lr_weight") or m
    u = _fit(up, NUM_BLOCKS, "up_lr_weight") or u
    clean = lambda v: [0.0 if x <= 0 else float(x) for x in v]  # noqa: E731 (threshold 0, as sd-scripts)
    return clean(d), clean(m), clean(u)


# -------------------------------------------------------------------------------------------- modules

class LoraModule(nn.Module):
    """One LoRA pair around an original Linear/Conv2d; hooks the original's ``forward``."""

    def __init__(self, lora_name: str, org: nn.Module, dim: int, alpha: float, multiplier: float = 1.0):
        super().__init__()
        self.lora_name = lora_name
        self.dim = int(dim)
        alpha = float(alpha) if alpha else float(dim)
        if isinstance(org, nn.Conv2d):
            self.lora_down = nn.Conv2d(org.in_channels, dim, org.kernel_size, org.stride, org.padding,
                                       bias=False)
            self.lora_up = nn.Conv2d(dim, org.out_channels, (1, 1), (1, 1), bias=False)
        else:
            self.lora_down = nn.Linear(org.in_features, dim, bias=False)
            self.lora_up = nn.Linear(dim, org.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_up.weight)
        self.register_buffer("alpha", torch.tensor(alpha))
        self.scale = alpha / self.dim
        self.multiplier = multiplier
        self.block = block_index(lora_name)
        self._org = [org]  # a list, so the original is not a submodule (keeps it out of state_dict)
        self._org_forward = None

    @property
    def org_module(self) -> nn.Module:
        return self._org[0]

    def apply_to(self) -> None:
        if self._org_forward is None:
            self._org_forward = self.org_module.forward
            self.org_module.forward = self.forward

    def restore(self) -> None:
        if self._org_forward is not None:
            self.org_module.forward = self._org_forward
            self._org_forward = None

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """``multiplier`` is a number, or a 1-D tensor with one weight per sample (batched
        sampling); a batch that is a multiple of it (CFG's [uncond; cond]) repeats it."""
        out = self._org_forward(x, *args, **kwargs)
        m = self.multiplier
        if not isinstance(m, torch.Tensor) and m == 0:
            return out
        lx = self.lora_up(self.lora_down(x.to(self.lora_down.weight.dtype)))
        if isinstance(m, torch.Tensor):
            if lx.shape[0] % m.shape[0]:
                raise ValueError(f"{self.lora_name}: batch of {lx.shape[0]} does not fit "
                                 f"{m.shape[0]} per-sample LoRA weights")
            m = m.to(lx.device, lx.dtype).repeat(lx.shape[0] // m.shape[0]).view(-1, *[1] * (lx.ndim - 1))
        return out + (lx * (m * self.scale)).to(out.dtype)


def _te_key_path(name: str) -> str:
    """Module path under CLIPTextModel, always spelled with ``text_model.`` as sd-scripts saw it."""
    return name if name.startswith("text_model.") else "text_model." + name


class LoraNetwork(nn.Module):
    """The LoRA modules for a UNet (+ text encoder), with kohya names, block weights and safe saving."""

    def __init__(self, unet: nn.Module | None, text_encoder: nn.Module | None, dim: int = 16,
                 alpha: float = 16.0, conv_dim: int = 0, conv_alpha: float = 0.0,
                 down_lr_weight: Iterable[float] | None = None, mid_lr_weight: Iterable[float] | None = None,
                 up_lr_weight: Iterable[float] | None = None, train_text_encoder: bool = True,
                 train_unet: bool = True, multiplier: float = 1.0):
        super().__init__()
        if dim < 1:
            raise UserError(f"network_dim must be ≥ 1, got {dim}")
        self.dim, self.alpha = int(dim), float(alpha or dim)
        self.conv_dim, self.conv_alpha = int(conv_dim or 0), float(conv_alpha or conv_dim or 0)
        self.multiplier = multiplier
        given = any(v is not None and len(list(v)) for v in (down_lr_weight, mid_lr_weight, up_lr_weight))
        if given:
            d, m, u = resolve_block_weights("none", down_lr_weight, mid_lr_weight, up_lr_weight)
            self.block_weights: list[float] | None = d + m + u
            if all(w == 1.0 for w in self.block_weights):
                self.block_weights = None
        else:
            self.block_weights = None
        self.unet_loras: list[LoraModule] = []
        self.te_loras: list[LoraModule] = []
        if unet is not None and train_unet:
            targets = UNET_TARGETS + (UNET_CONV_TARGETS if self.conv_dim else ())
            self.unet_loras = self._create(unet, PREFIX_UNET, targets, te=False)
        if text_encoder is not None and train_text_encoder:
            self.te_loras = self._create(text_encoder, PREFIX_TE, TE_TARGETS, te=True)
        names = [m.lora_name for m in self.loras]
        assert len(names) == len(set(names)), "duplicate LoRA names"
        self.lora_modules = nn.ModuleDict({m.lora_name: m for m in self.loras})

    @property
    def loras(self) -> list[LoraModule]:
        return self.te_loras + self.unet_loras

    def block_weight(self, index: int) -> float:
        return 1.0 if self.block_weights is None or index < 0 else self.block_weights[index]

    def _create(self, root: nn.Module, prefix: str, targets: tuple[str, ...], te: bool) -> list[LoraModule]:
        made: list[LoraModule] = []
        seen: set[int] = set()
        for name, module in root.named_modules():
            if type(module).__name__ not in targets:
                continue
            path = _te_key_path(name) if te else name
            for child_name, child in module.named_modules():
                is_linear = isinstance(child, nn.Linear)
                is_conv = isinstance(child, nn.Conv2d)
                if not (is_linear or is_conv) or id(child) in seen:
                    continue
                is_1x1 = is_conv and tuple(child.kernel_size) == (1, 1)
                if is_linear or is_1x1:
                    dim, alpha = self.dim, self.alpha
                elif self.conv_dim:
                    dim, alpha = self.conv_dim, self.conv_alpha
                else:
                    continue
                lora_name = f"{prefix}.{path}.{child_name}".replace(".", "_")
                if self.block_weight(block_index(lora_name)) == 0:
                    continue  # a zero block gets no module, as sd-scripts does
                seen.add(id(child))
                made.append(LoraModule(lora_name, child, dim, alpha, self.multiplier))
        return made

    # -------------------------------------------------------------------------------------- use
    def apply(self, fn=None) -> "LoraNetwork":
        """Hook every original module's forward; the LoRA now acts on the wrapped models.

        (With ``fn`` this is ``nn.Module.apply``, so torch utilities that call it keep working.)"""
        if fn is not None:
            return super().apply(fn)
        for m in self.loras:
            m.apply_to()
        return self

    def restore(self) -> None:
        """Undo ``apply`` (the original modules' forwards come back)."""
        for m in self.loras:
            m.restore()

    def set_multiplier(self, w: float | torch.Tensor | Iterable[float]) -> None:
        """One LoRA weight for everything, or a list/1-D tensor of one weight per sample."""
        value: float | torch.Tensor = float(w) if isinstance(w, (int, float)) or \
            (isinstance(w, torch.Tensor) and w.ndim == 0) else \
            torch.as_tensor(list(w), dtype=torch.float32).to(next(iter(self.parameters())).device)
        self.multiplier = value
        for m in self.loras:
            m.multiplier = value

    def param_groups(self, unet_lr: float, text_encoder_lr: float) -> list[dict[str, Any]]:
        """Optimizer groups: ``text_encoder``, then ``unet`` or one ``unet_block{i}`` per block with
        ``lr = unet_lr * weight`` when block weights are set. Groups whose lr is 0 are left out."""
        groups: list[dict[str, Any]] = []
        te_params = [p for m in self.te_loras for p in m.parameters()]
        if te_params and text_encoder_lr and text_encoder_lr > 0:
            groups.append({"params": te_params, "lr": float(text_encoder_lr), "name": "text_encoder"})
        if not self.unet_loras or not unet_lr or unet_lr <= 0:
            return groups
        if self.block_weights is None:
            groups.append({"params": [p for m in self.unet_loras for p in m.parameters()],
                           "lr": float(unet_lr), "name": "unet"})
            return groups
        by_block: dict[int, list[LoraModule]] = {}
        for m in self.unet_loras:
            by_block.setdefault(m.block, []).append(m)
        for idx in sorted(by_block):
            lr = float(unet_lr) * self.block_weight(idx)
            if lr > 0:
                groups.append({"params": [p for m in by_block[idx] for p in m.parameters()], "lr": lr,
                               "name": f"unet_block{idx}", "block": block_name(idx)})
        return groups

    def blocks_present(self) -> list[str]:
        return _blocks_of(m.lora_name for m in self.loras)

    # ----------------------------------------------------------------------------- tensors, files
    def kohya_state_dict(self, dtype: torch.dtype | str | None = None) -> dict[str, torch.Tensor]:
        """``<name>.lora_down.weight``, ``<name>.lora_up.weight``, ``<name>.alpha`` for every module."""
        dt = save_dtype(dtype)
        sd: dict[str, torch.Tensor] = {}
        for m in self.loras:
            for key, t in (("lora_down.weight", m.lora_down.weight), ("lora_up.weight", m.lora_up.weight),
                           ("alpha", m.alpha)):
                t = t.detach().to("cpu")
                sd[f"{m.lora_name}.{key}"] = (t.to(dt) if dt is not None else t).contiguous()
        return sd

    def load_kohya_state_dict(self, sd: Mapping[str, torch.Tensor], strict: bool = True) -> None:
        """Load weights saved by ``kohya_state_dict``/``save`` (or sd-scripts for the same targets)."""
        mine = self.kohya_state_dict()
        missing = sorted(set(mine) - set(sd))
        extra = sorted(set(sd) - set(mine))
        if strict and (missing or extra):
            raise UserError(f"LoRA weights do not match this network: {len(missing)} missing "
                            f"(e.g. {missing[:2]}), {len(extra)} unexpected (e.g. {extra[:2]})")
        with torch.no_grad():
            for m in self.loras:
                for attr in ("lora_down", "lora_up"):
                    key = f"{m.lora_name}.{attr}.weight"
                    if key in sd:
                        w = getattr(m, attr).weight
                        if tuple(sd[key].shape) != tuple(w.shape):
                            raise UserError(f"{key}: shape {tuple(sd[key].shape)} ≠ {tuple(w.shape)} "
                                            "(different rank or model)")
                        w.copy_(sd[key].to(w.dtype))
                if f"{m.lora_name}.alpha" in sd:
                    m.alpha.copy_(sd[f"{m.lora_name}.alpha"].to(m.alpha.dtype))
                    m.scale = float(m.alpha) / m.dim

    def nonfinite_names(self) -> list[str]:
        named = [(f"{m.lora_name}.{n}", t) for m in self.loras for n, t in
                 (("lora_down.weight", m.lora_down.weight), ("lora_up.weight", m.lora_up.weight),
                  ("alpha", m.alpha))]
        with torch.no_grad():  # one device sync for all tensors, not one per tensor
            flags = torch.stack([torch.isfinite(t).all() for _, t in named]).tolist() if named else []
        return [name for (name, _), ok in zip(named, flags) if not ok]

    def all_finite(self) -> bool:
        return not self.nonfinite_names()

    def save(self, path: str | os.PathLike, dtype: torch.dtype | str | None = torch.float16,
             metadata: Mapping[str, Any] | None = None) -> Path:
        """Write a kohya ``.safetensors`` atomically; raises ``NonFiniteLoraError`` on NaN/inf."""
        bad = self.nonfinite_names()
        if bad:
            raise NonFiniteLoraError(bad)
        sd = self.kohya_state_dict(dtype)
        bad = [k for k, t in sd.items() if not bool(torch.isfinite(t).all())]
        if bad:  # finite in fp32 but overflowing the save precision (e.g. fp16 > 65504)
            raise NonFiniteLoraError(bad)
        return save_state_dict(path, sd, metadata or {})


def _blocks_of(names: Iterable[str]) -> list[str]:
    idx = sorted({block_index(n) for n in names})
    return [("BASE" if i < 0 else block_name(i)) for i in idx]


def save_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return SAVE_DTYPES[str(dtype).lower()]
    except KeyError:
        raise UserError(f"save_precision {dtype!r} unknown; use fp16, bf16 or float") from None


# ------------------------------------------------------------------------------------------- saving

def sshs_hashes(sd: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> tuple[str, str]:
    """sd-webui-additional-networks' ``sshs_model_hash`` (payload sha256, only ``ss_*`` metadata kept)
    and ``sshs_legacy_hash`` (first 8 hex of sha256 over 64 KiB at offset 1 MiB)."""
    from safetensors.torch import save

    data = save(dict(sd), metadata={k: v for k, v in metadata.items() if k.startswith("ss_")})
    n = int.from_bytes(data[:8], "little")
    return hashlib.sha256(data[8 + n:]).hexdigest(), hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]


def save_state_dict(path: str | os.PathLike, sd: Mapping[str, torch.Tensor],
                    metadata: Mapping[str, Any]) -> Path:
    """Atomically write tensors + string metadata (with the sshs hashes) as safetensors."""
    from safetensors.torch import save

    from engine.project import atomic_write_bytes

    md = {str(k): v if isinstance(v, str) else str(v) for k, v in metadata.items()}
    md["sshs_model_hash"], md["sshs_legacy_hash"] = sshs_hashes(sd, md)
    path = Path(path)
    atomic_write_bytes(path, save(dict(sd), metadata=md))
    return path


def read_lora(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a LoRA file; ``UserError`` if missing or not a kohya LoRA."""
    from safetensors import safe_open

    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"{p} not found")
    if p.suffix.lower() != ".safetensors":
        raise UserError(f"{p} is not a .safetensors file; onelora reads LoRAs in safetensors format")
    try:
        with safe_open(str(p), framework="pt") as fh:
            md = fh.metadata() or {}
            sd = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as e:
        raise UserError(f"{p} is not a readable .safetensors file ({e})") from None
    if not any(k.startswith(("lora_unet_", "lora_te")) for k in sd):
        what = "a base model checkpoint" if any(k.startswith("model.diffusion_model.") for k in sd) else \
            "not a kohya-format LoRA (no lora_unet_*/lora_te_* keys)"
        raise UserError(f"{p} is {what}")
    return sd, md


# ----------------------------------------------------------------------------------------- metadata

def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def build_metadata(network: LoraNetwork, settings: Any, *, base: Any = None,
                   dataset: Mapping[str, Any] | None = None, run: Mapping[str, Any] | None = None,
                   extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """sd-scripts-style string metadata (``ss_*``, ``modelspec.*``) for a LoRA file.

    ``settings``: an ``engine.project.TrainSettings`` (or a mapping with the same names).
    ``base``: the ``BaseModel`` (its ``metadata()`` gives ``ss_sd_model_name``/hashes).
    ``dataset``: ``dataset_dirs`` ({folder: {"n_repeats", "img_count"}}), ``reg_dataset_dirs``,
    ``tag_frequency`` ({folder: {tag: count}}), ``num_train_images`` (× repeats), ``num_reg_images``,
    ``num_batches_per_epoch``, ``bucket_info``.
    ``run``: ``session_id``, ``training_started_at``, ``epoch``, ``steps``, ``max_train_steps``, ``epochs``,
    ``optimizer`` (a description such as ``torch.optim.AdamW(weight_decay=0.01)``), ``trigger``, ``title``.
    ``extra``: any keys to add or override. Every value is returned as a string.
    """
    s = lambda n, d=None: _get(settings, n, d)  # noqa: E731
    dataset, run = dict(dataset or {}), dict(run or {})
    lr = s("learning_rate")
    unet_lr = s("unet_lr") or lr
    te_lr = s("text_encoder_lr") or lr
    res = int(s("resolution", 512) or 512)
    started = run.get("training_started_at", time.time())
    md: dict[str, Any] = {
        "ss_session_id": run.get("session_id", int.from_bytes(os.urandom(4), "little")),
        "ss_training_started_at": started,
        "ss_output_name": s("output_name") or run.get("output_name", ""),
        "ss_learning_rate": lr, "ss_unet_lr": unet_lr,
        "ss_text_encoder_lr": te_lr if network.te_loras else None,
        "ss_num_train_images": dataset.get("num_train_images", 0),
        "ss_num_validation_images": 0,
        "ss_num_reg_images": dataset.get("num_reg_images", 0),
        "ss_num_batches_per_epoch": dataset.get("num_batches_per_epoch", 0),
        "ss_num_epochs": run.get("epochs", s("epochs")),
        "ss_gradient_checkpointing": bool(s("gradient_checkpointing", False)),
        "ss_gradient_accumulation_steps": 1,
        "ss_max_train_steps": run.get("max_train_steps", s("max_steps")),
        "ss_lr_warmup_steps": run.get("lr_warmup_steps", s("lr_warmup_steps", 0)),
        "ss_lr_scheduler": s("lr_scheduler", "constant"),
        "ss_network_module": "networks.lora",
        "ss_network_dim": network.dim, "ss_network_alpha": network.alpha, "ss_network_dropout": None,
        "ss_mixed_precision": s("mixed_precision", "no"), "ss_full_fp16": False,
        "ss_v2": False, "ss_base_model_version": "sd_v1",
        "ss_clip_skip": s("clip_skip"), "ss_max_token_length": None,
        "ss_cache_latents": bool(s("cache_latents", False)), "ss_seed": s("seed"), "ss_lowram": False,
        "ss_noise_offset": s("noise_offset") or None, "ss_multires_noise_iterations": None,
        "ss_multires_noise_discount": 0.3, "ss_adaptive_noise_scale": None, "ss_zero_terminal_snr": False,
        "ss_training_comment": run.get("comment"),
        "ss_sd_scripts_commit_hash": "onelora",
        "ss_optimizer": run.get("optimizer") or s("optimizer"),
        "ss_max_grad_norm": s("max_grad_norm"),
        "ss_caption_dropout_rate": s("caption_dropout_rate", 0.0),
        "ss_caption_dropout_every_n_epochs": 0,
        "ss_caption_tag_dropout_rate": s("caption_tag_dropout_rate", 0.0),
        "ss_face_crop_aug_range": None,
        "ss_prior_loss_weight": run.get("prior_loss_weight", _get(settings, "prior_loss_weight", 1.0)),
        "ss_min_snr_gamma": s("min_snr_gamma") or None,
        "ss_scale_weight_norms": None, "ss_ip_noise_gamma": None, "ss_debiased_estimation": False,
        "ss_loss_type": "l2",
        "ss_batch_size_per_device": s("batch_size", 1), "ss_total_batch_size": s("batch_size", 1),
        "ss_resolution": f"({res}, {res})",
        "ss_color_aug": bool(s("color_aug", False)), "ss_flip_aug": bool(s("flip_aug", False)),
        "ss_random_crop": False, "ss_shuffle_caption": bool(s("shuffle_caption", False)),
        "ss_enable_bucket": bool(s("enable_bucket", False)), "ss_bucket_no_upscale": False,
        "ss_min_bucket_reso": s("min_bucket_reso"), "ss_max_bucket_reso": s("max_bucket_reso"),
        "ss_keep_tokens": s("keep_tokens", 0),
        "ss_dataset_dirs": json.dumps(dataset.get("dataset_dirs", {})),
        "ss_reg_dataset_dirs": json.dumps(dataset.get("reg_dataset_dirs", {})),
        "ss_tag_frequency": json.dumps(dataset.get("tag_frequency", {})),
    }
    if dataset.get("bucket_info") is not None:
        md["ss_bucket_info"] = json.dumps(dataset["bucket_info"])
    net_args: dict[str, str] = {}
    if network.conv_dim:
        net_args["conv_dim"], net_args["conv_alpha"] = str(network.conv_dim), str(network.conv_alpha)
    if network.block_weights is not None:
        bw = network.block_weights
        fmt = lambda v: ",".join(f"{x:g}" for x in v)  # noqa: E731
        net_args["down_lr_weight"] = fmt(bw[:NUM_BLOCKS])
        net_args["mid_lr_weight"] = fmt(bw[NUM_BLOCKS:NUM_BLOCKS + 1])
        net_args["up_lr_weight"] = fmt(bw[NUM_BLOCKS + 1:])
        if s("block_weight_preset") and str(s("block_weight_preset")).lower() != "none":
            net_args["block_weight_preset"] = str(s("block_weight_preset"))
    if net_args:
        md["ss_network_args"] = json.dumps(net_args)
    if base is not None:
        md.update(base.metadata() if hasattr(base, "metadata") else dict(base))
    if run.get("epoch") is not None:
        md["ss_epoch"] = run["epoch"]
    if run.get("steps") is not None:
        md["ss_steps"] = run["steps"]
    md["ss_training_finished_at"] = run.get("training_finished_at", time.time())
    title = run.get("title") or s("output_name") or f"LoRA@{int(started)}"
    md.update({
        "modelspec.sai_model_spec": "1.0.1",
        "modelspec.architecture": "stable-diffusion-v1/lora",
        "modelspec.implementation": "diffusers",
        "modelspec.title": title,
        "modelspec.resolution": f"{res}x{res}",
        "modelspec.date": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "modelspec.prediction_type": "epsilon",
        "modelspec.implementation_version": "onelora",
    })
    if s("clip_skip"):
        md["modelspec.encoder_layer"] = s("clip_skip")
    if run.get("trigger"):
        md["modelspec.trigger_phrase"] = run["trigger"]
    if base is not None and getattr(base, "is_builtin", False):
        md["modelspec.description"] = ("trained on builtin:tiny — a pipeline check, not a base model "
                                       "for real LoRAs")
    md.update(extra or {})
    return {k: (v if isinstance(v, str) else str(v)) for k, v in md.items()}
