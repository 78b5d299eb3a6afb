"""Pure, reusable pieces of training: buckets, LR schedules, noise, loss weights, optimizers,
random-state capture.  The loop in engine/train.py composes these; each is small enough to
test on its own (diffusers ``training_utils.py`` style).

Nothing here reads the project or writes files.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any, Iterable

import numpy as np
import torch

from engine.errors import UserError

# ---------------------------------------------------------------------------------------
# Aspect-ratio buckets (sd-scripts model_util.make_bucket_resolutions / BucketManager)
# ---------------------------------------------------------------------------------------


def make_bucket_resolutions(resolution: int, min_size: int = 256, max_size: int = 1024,
                            divisible: int = 64) -> list[tuple[int, int]]:
    """Every (width, height) bucket with area ≤ resolution², sides multiples of ``divisible``.

    The rule is sd-scripts': the largest square first, then for each width from ``min_size``
    to ``max_size`` the tallest height that keeps the area, added with its transpose.
    For 512 with 256/1024/64 this gives 17 buckets.
    """
    max_area = resolution * resolution
    resos = {(int(math.sqrt(max_area) // divisible) * divisible,) * 2}
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


def select_bucket(width: int, height: int,
                  buckets: list[tuple[int, int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The bucket for an image and the size to resize it to before the centre crop.

    An exact match is used as is; otherwise the bucket with the closest aspect ratio.  The
    image is scaled so it covers the bucket (sd-scripts BucketManager.select_bucket).
    """
    if (width, height) in buckets:
        return (width, height), (width, height)
    aspect = width / height
    reso = min(buckets, key=lambda b: abs(b[0] / b[1] - aspect))
    if aspect > reso[0] / reso[1]:  # wider than the bucket: fit the height
        scale = reso[1] / height
    else:
        scale = reso[0] / width
    resized = (max(reso[0], int(width * scale + 0.5)), max(reso[1], int(height * scale + 0.5)))
    return reso, resized


# ---------------------------------------------------------------------------------------
# Learning-rate schedule (a pure function of the step, like nanoGPT's get_lr)
# ---------------------------------------------------------------------------------------

SCHEDULERS = ("constant", "constant_with_warmup", "cosine", "cosine_with_restarts", "linear")


def warmup_steps(lr_warmup_steps: float, total_steps: int) -> int:
    """Warmup below 1 is a fraction of all steps (sd-scripts), otherwise a step count."""
    if lr_warmup_steps <= 0:
        return 0
    if lr_warmup_steps < 1:
        return int(lr_warmup_steps * total_steps)
    return int(lr_warmup_steps)


def lr_factor(step: int, total_steps: int, scheduler: str, warmup: int = 0,
              num_cycles: int = 1) -> float:
    """Multiplier of the base LR for optimizer step ``step`` (0-based, < total_steps).

    Warmup rises linearly to 1 over ``warmup`` steps (the first step already gets 1/warmup,
    no wasted step at LR 0).  After warmup, ``progress`` runs from 0 towards 1 over the
    remaining steps.  Because this is a function of the step alone, a resumed run gets the
    same LR at every step as an uninterrupted one.
    """
    if scheduler not in SCHEDULERS:
        raise UserError(f"lr_scheduler = {scheduler!r} is not allowed: choose one of "
                        + ", ".join(SCHEDULERS))
    if scheduler == "constant":
        return 1.0
    if step < warmup:
        return (step + 1) / warmup
    if scheduler == "constant_with_warmup":
        return 1.0
    progress = (step - warmup) / max(1, total_steps - warmup)
    progress = min(max(progress, 0.0), 1.0)
    if scheduler == "linear":
        return 1.0 - progress
    if scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    # cosine_with_restarts: num_cycles hard restarts (diffusers' definition)
    return 0.5 * (1.0 + math.cos(math.pi * ((num_cycles * progress) % 1.0)))


# ---------------------------------------------------------------------------------------
# Noise, timesteps and loss weights
# ---------------------------------------------------------------------------------------


def make_noise(latents: torch.Tensor, noise_offset: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise like ``latents`` plus ``noise_offset`` × per-channel constant noise
    (sd-scripts apply_noise_offset).  Drawn on the CPU generator for reproducibility."""
    b, c = latents.shape[:2]
    noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32)
    if noise_offset:
        noise = noise + noise_offset * torch.randn((b, c, 1, 1), generator=generator)
    return noise.to(latents.device, latents.dtype)


def sample_timesteps(batch: int, num_train_timesteps: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform integer timesteps in [0, num_train_timesteps)."""
    return torch.randint(0, num_train_timesteps, (batch,), generator=generator, dtype=torch.long)


def compute_snr(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio ᾱ/(1-ᾱ) at each timestep."""
    a = alphas_cumprod.to(timesteps.device)[timesteps].float()
    return a / (1.0 - a)


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample loss weights min(SNR, γ)/SNR (epsilon prediction; Hang et al. 2023)."""
    snr = compute_snr(alphas_cumprod, timesteps)
    return torch.minimum(snr, torch.full_like(snr, gamma)) / snr


def diffusion_loss(pred: torch.Tensor, target: torch.Tensor, sample_weights: torch.Tensor,
                   snr_weights: torch.Tensor | None = None) -> torch.Tensor:
    """MSE per sample, times its weight (1 for train images, prior_loss_weight for reg
    images), times the min-SNR weight when given, averaged over the batch."""
    per_sample = torch.nn.functional.mse_loss(pred.float(), target.float(), reduction="none")
    per_sample = per_sample.mean(dim=list(range(1, per_sample.ndim)))
    per_sample = per_sample * sample_weights.to(per_sample.device)
    if snr_weights is not None:
        per_sample = per_sample * snr_weights.to(per_sample.device)
    return per_sample.mean()


# ---------------------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------------------

OPTIMIZERS = ("AdamW", "AdamW8bit", "Lion", "Prodigy", "SGD")


def build_network(base: Any, t: Any, device: torch.device):
    """The LoRA that training settings ``t`` describe (rank, alpha, conv, block weights, text
    encoder on/off), hooked into ``base`` with its trainable weights in fp32 on ``device``."""
    from engine import lora

    down, mid, up = lora.resolve_block_weights(t.block_weight_preset, t.down_lr_weight,
                                               t.mid_lr_weight, t.up_lr_weight)
    network = lora.LoraNetwork(base.unet, base.text_encoder, dim=t.network_dim, alpha=t.network_alpha,
                               conv_dim=t.conv_dim, conv_alpha=t.conv_alpha, down_lr_weight=down,
                               mid_lr_weight=mid, up_lr_weight=up,
                               train_text_encoder=t.train_text_encoder)
    network.apply()
    network.to(device=device, dtype=torch.float32)
    return network


def make_optimizer(name: str, param_groups: list[dict], lr: float, weight_decay: float,
                   device: torch.device) -> torch.optim.Optimizer:
    """Build the named optimizer; a missing package is a UserError, never a silent swap."""
    if name == "AdamW":  # fused where torch has it (CUDA; the CPU since torch 2.4): one kernel,
        try:              # and the skip flag stays on the device (GuardedStep)
            return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError):
            return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, foreach=True)
    if name == "AdamW8bit":
        try:
            import bitsandbytes as bnb  # noqa: F401
        except Exception:
            bnb = None
        if bnb is None or device.type != "cuda":
            raise UserError("AdamW8bit needs bitsandbytes and a CUDA GPU; use optimizer = AdamW "
                            "(onelora train DIR --set optimizer=AdamW)"
                            + ("" if bnb is not None else "; or pip install bitsandbytes on a GPU machine"))
        return bnb.optim.AdamW8bit(param_groups, lr=lr, weight_decay=weight_decay)
    if name == "Lion":
        try:
            from lion_pytorch import Lion
        except ImportError:
            raise UserError("optimizer = Lion needs the lion-pytorch package "
                            "(pip install lion-pytorch); or use optimizer = AdamW") from None
        return Lion(param_groups, lr=lr, weight_decay=weight_decay)
    if name == "Prodigy":
        try:
            from prodigyopt import Prodigy
        except ImportError:
            raise UserError("optimizer = Prodigy needs the prodigyopt package "
                            "(pip install prodigyopt); or use optimizer = AdamW") from None
        return Prodigy(param_groups, lr=lr, weight_decay=weight_decay)
    if name == "SGD":
        return torch.optim.SGD(param_groups, lr=lr, momentum=0.9, nesterov=True,
                               weight_decay=weight_decay)
    raise UserError(f"optimizer = {name!r} is not allowed: choose one of {', '.join(OPTIMIZERS)}")


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> dict[str, float]:
    """Set every group's LR to its base LR × factor; return {group name: lr}."""
    out = {}
    for i, group in enumerate(optimizer.param_groups):
        group["lr"] = group["base_lr"] * factor
        out[str(group.get("name", f"group{i}"))] = group["lr"]
    return out


def grads_finite(params: Iterable[torch.Tensor]) -> bool:
    """True when every gradient is finite (one device sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    norms = torch._foreach_norm(grads)
    return bool(torch.isfinite(torch.stack(norms)).all())


# ---------------------------------------------------------------------------------------
# Random state (python, numpy, torch) for checkpoints
# ---------------------------------------------------------------------------------------


def get_rng_state() -> dict[str, Any]:
    """Capture the global random generators as plain tensors/lists (torch.load weights_only)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]) + [random.getstate()[0], random.getstate()[2]],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    py = state["python"]
    internal, version, gauss = py[:-2], py[-2], py[-1]
    random.setstate((version, tuple(int(x) for x in internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU generator seeded from (seed, step, stream): each step's randomness depends on
    nothing but the seed and the step, so a resumed run draws exactly the same numbers."""
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + step * 7_919 + stream * 104_729) % (2 ** 63))
    return g


# ---------------------------------------------------------------------------------------
# Device placement and compilation
# ---------------------------------------------------------------------------------------


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on ``device`` without making the host wait (pinned, non-blocking on CUDA)."""
    if device.type != "cuda" or x.device.type == "cuda":
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)


def clip_skip_text_encoder(text_encoder: torch.nn.Module, clip_skip: int) -> torch.nn.Module:
    """The text encoder cut after the layer ``clip_skip`` selects, sharing every module (and so
    the LoRA hooks) with the original.  Its plain output — the final layer norm of the last
    layer it runs — is exactly engine.models.encode_prompt's (the final layer norm of
    ``hidden_states[-clip_skip]``), without ``output_hidden_states`` (which transformers ≥ 5
    collects with hooks and a lock that torch.compile cannot trace) and without computing the
    layers the result skips."""
    if not clip_skip or clip_skip <= 1:
        return text_encoder
    inner = getattr(text_encoder, "text_model", text_encoder)
    layers = list(inner.encoder.layers)
    keep = len(layers) - (clip_skip - 1)
    if keep < 1:
        raise UserError(f"clip_skip={clip_skip} is more than the text encoder's {len(layers)} layers; "
                        "use a smaller clip_skip")

    def shallow(m: torch.nn.Module) -> torch.nn.Module:
        c = copy.copy(m)
        c._modules = dict(m._modules)  # own child table, same children
        return c

    outer = shallow(text_encoder)
    cut = outer
    if inner is not text_encoder:
        cut = shallow(inner)
        outer._modules["text_model"] = cut
    encoder = shallow(inner.encoder)
    cut._modules["encoder"] = encoder
    encoder._modules["layers"] = torch.nn.ModuleList(layers[:keep])
    return outer


RECOMPILE_LIMIT = 64
"""Graphs dynamo may keep per function before it falls back to eager (17 buckets at 512)."""


def compile_fn(fn, mode: str, device: torch.device):
    """``torch.compile`` as the loop uses it, with room for every bucket before dynamo would
    fall back to eager.  Shapes: on CUDA dynamo's automatic dynamic ones — the first bucket
    shape compiles a static graph, the second one graph with symbolic sizes that every later
    bucket reuses (a single-image project has ~6 buckets; a graph each would compile the UNet
    6 times; CUDA graphs still record one cheap graph per shape).  On the CPU a static graph
    per bucket (inductor's C++ backend fails on the UNet's symbolic sizes, torch 2.13).
    ``$ONELORA_COMPILE_DYNAMIC`` = 0 / 1 forces static / automatic dynamic shapes."""
    import os

    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), RECOMPILE_LIMIT))
    wanted = os.environ.get("ONELORA_COMPILE_DYNAMIC", "").strip().lower()
    if wanted in ("0", "false", "no", "static"):
        dynamic = False
    elif wanted in ("1", "true", "yes", "auto"):
        dynamic = None
    else:
        dynamic = None if device.type == "cuda" else False
    return torch.compile(fn, mode=None if mode == "default" else mode, dynamic=dynamic)


# ---------------------------------------------------------------------------------------
# An optimizer step decided on the device
# ---------------------------------------------------------------------------------------


class GuardedStep:
    """``optimizer.step()`` queued before anyone knows whether the step was good, so the
    host never waits for the GPU mid-step; the step is undone exactly when it was not.

    - Fused torch optimizers (``fused=True`` AdamW/Adam/SGD) take the skip flag on the
      device as ``found_inf`` (GradScaler's protocol): the kernel leaves params, moments and
      step counts untouched when it is set.  Nothing to undo.
    - Every other optimizer (foreach AdamW on the CPU, bitsandbytes' AdamW8bit, Lion, ...)
      steps unconditionally after a device-side copy of the params and the optimizer state
      (into buffers kept between steps); :meth:`settle` restores that copy when the host,
      after the one sync at the end of the step, learns the step was bad.  State created by
      this step (the very first one) is dropped, python numbers in the state (bitsandbytes'
      ``step``) are put back.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, params: list[torch.Tensor]):
        self.optimizer = optimizer
        self.params = [p for p in params]
        self.fused = bool(getattr(optimizer, "_step_supports_amp_scaling", False)) and \
            all(g.get("fused") for g in optimizer.param_groups)
        self._keys: list[tuple[int, str]] = []
        self._buffers: list[torch.Tensor] = []
        self._param_buffers: list[torch.Tensor] = []
        self._scalars: dict[tuple[int, str], Any] = {}
        self._had_state: list[bool] = []
        self._groups: list[dict[str, Any]] = []
        self._fresh: list[torch.Tensor] = []
        self._all_initialised = False

    def step(self, ok: torch.Tensor) -> None:
        """Queue the update; ``ok`` is a 0-dim bool tensor on the params' device."""
        if self.fused:
            if not self._all_initialised:  # state a skipped first step creates is dropped again
                state = self.optimizer.state
                self._fresh = [p for p in self.params if not (p in state and state[p])]
                self._all_initialised = not self._fresh
            self.optimizer.grad_scale = None  # grads are unscaled already (scaler.unscale_)
            self.optimizer.found_inf = (~ok).to(torch.float32)
            try:
                self.optimizer.step()
            finally:
                del self.optimizer.grad_scale, self.optimizer.found_inf
            return
        self._backup()
        self.optimizer.step()

    def settle(self, ok: bool) -> None:
        """After the sync: undo a bad step (fused optimizers skipped it on the device; only the
        state a skipped very first step created goes again)."""
        if ok:
            return
        if self.fused:
            for p in self._fresh:
                self.optimizer.state.pop(p, None)
            self._all_initialised = False
            return
        with torch.no_grad():
            torch._foreach_copy_(self.params, self._param_buffers)
            for p, had in zip(self.params, self._had_state):
                if not had:
                    self.optimizer.state.pop(p, None)
            live = [self.optimizer.state[self.params[i]][k] for i, k in self._keys]
            if live:
                torch._foreach_copy_(live, self._buffers)
            for (i, k), v in self._scalars.items():
                self.optimizer.state[self.params[i]][k] = v
            for group, saved in zip(self.optimizer.param_groups, self._groups):
                group.update(saved)  # optimizers that adapt per group (Prodigy's d)

    def _backup(self) -> None:
        state = self.optimizer.state
        keys, sources, scalars = [], [], {}
        self._had_state = [p in state and bool(state[p]) for p in self.params]
        for i, p in enumerate(self.params):
            for k, v in (state[p].items() if self._had_state[i] else ()):
                if isinstance(v, torch.Tensor):
                    keys.append((i, k))
                    sources.append(v)
                else:
                    scalars[(i, k)] = copy.copy(v)
        with torch.no_grad():
            if keys != self._keys or any(b.shape != s.shape or b.dtype != s.dtype or b.device != s.device
                                         for b, s in zip(self._buffers, sources)):
                self._keys, self._buffers = keys, [torch.empty_like(s) for s in sources]
            if not self._param_buffers:
                self._param_buffers = [torch.empty_like(p) for p in self.params]
            torch._foreach_copy_(self._param_buffers, self.params)
            if sources:
                torch._foreach_copy_(self._buffers, sources)
        self._scalars = scalars
        self._groups = [{k: (v.clone() if isinstance(v, torch.Tensor) else copy.copy(v))
                         for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
