"""One training step and the setup it runs on: the function the loop (engine/train.py) and the
speed bench (bench/train_step.py) both call, so the bench measures the loop's own step.

Per step: batch → latents (cached or encoded) → noise (+ noise offset) → timesteps → UNet
→ loss (MSE, reg weight, min-SNR) → backward → clip → a step applied only if loss and
gradients are finite, decided on the device (training_utils.GuardedStep) → one host sync that
reads loss and flags.  Setup: precision, CPU threads, channels_last and torch.compile of the
UNet and the text encoder (docs/performance.md).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from engine import data as data_mod
from engine import models
from engine import training_utils as tu
from engine.errors import UserError

COMPILE_MODE = "reduce-overhead"
"""torch.compile mode for the UNet on CUDA: CUDA graphs, about 6x the eager step at batch 1
(docs/performance.md). ``$ONELORA_COMPILE_MODE`` overrides it (e.g.
``max-autotune-no-cudagraphs`` or ``default``) should graph capture fail on some setup."""


@dataclass
class StepContext:
    """What one training step needs besides its batch (the loop builds it once)."""

    base: Any
    """engine.models.BaseModel (text encoder, VAE, tokenizer, noise scheduler)."""
    unet: Any
    """The UNet the step calls: ``base.unet`` or its compiled wrapper (see prepare_unet)."""
    settings: Any
    """engine.project.TrainSettings."""
    device: torch.device
    compute_dtype: torch.dtype
    encode: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Token ids → UNet context (see prepare_text_encoder); None = models.encode_prompt eager."""
    alphas_cumprod: torch.Tensor = field(init=False)
    num_timesteps: int = field(init=False)
    cudagraphs: bool = field(init=False)
    guard: tu.GuardedStep | None = field(init=False, default=None)
    token_cache: dict[str, torch.Tensor] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.alphas_cumprod = self.base.noise_scheduler.alphas_cumprod.to(self.device)
        self.num_timesteps = int(self.base.noise_scheduler.config.num_train_timesteps)
        self.cudagraphs = (self.device.type == "cuda" and bool(self.settings.compile)
                           and compile_mode() == "reduce-overhead")
        if self.encode is None:
            clip_skip = self.settings.clip_skip
            self.encode = lambda ids: models.encode_prompt(self.base, ids, clip_skip)

    def guarded(self, optimizer, params) -> tu.GuardedStep:
        if self.guard is None or self.guard.optimizer is not optimizer:
            self.guard = tu.GuardedStep(optimizer, params)
        return self.guard

    def input_ids(self, captions: list[str]) -> torch.Tensor:
        """Token ids on the device, tokenized once per distinct caption."""
        rows = []
        for c in captions:
            if c not in self.token_cache:
                if len(self.token_cache) > 4096:
                    self.token_cache.clear()
                self.token_cache[c] = tu.to_device(models.tokenize(self.base, [c]), self.device)
            rows.append(self.token_cache[c])
        return torch.cat(rows)


def compile_mode() -> str:
    return os.environ.get("ONELORA_COMPILE_MODE", "").strip() or COMPILE_MODE


def prepare_unet(unet: torch.nn.Module, t, device: torch.device,
                 emit: Callable[..., Any], cpu_compile: bool = False) -> torch.nn.Module:
    """The UNet the loop calls.  On CUDA: channels_last, and with ``compile = true``
    ``torch.compile`` (CUDA graphs by default, see COMPILE_MODE; shapes: training_utils.compile_fn).
    On the CPU the model is used as is and ``compile = true`` is reported as ignored with a
    ``log`` event (``cpu_compile`` compiles there too: the tests' dynamo checks)."""
    if device.type != "cuda" and not cpu_compile:
        if t.compile:
            emit("log", message="compile = true is ignored on the CPU (CUDA only)")
        return unet
    if device.type == "cuda":
        unet.to(memory_format=torch.channels_last)
    if not t.compile:
        return unet
    mode = compile_mode()
    emit("loading", phase="compiling", detail=f"torch.compile mode {mode}; the first steps are slow")
    compiled = tu.compile_fn(unet, mode, device)
    emit("log", message=f"UNet compiled with torch.compile (mode {mode}); the first steps of each "
                        "bucket size are slow while it compiles")
    return compiled


def prepare_text_encoder(base, t, device: torch.device, emit: Callable[..., Any],
                         cpu_compile: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """Token ids → UNet context as the step computes it: models.encode_prompt with the run's
    clip_skip, computed by the text encoder cut after the layer clip_skip picks
    (training_utils.clip_skip_text_encoder: same numbers, skipped layers not run, traceable).
    With ``compile = true`` on CUDA and the text encoder's LoRA trained, the function is
    compiled like the UNet (its own graph: at batch 1 the step is launch-bound,
    docs/performance.md; ``$ONELORA_COMPILE_TE=0`` keeps it eager); otherwise eager."""
    te = tu.clip_skip_text_encoder(base.text_encoder, t.clip_skip)

    def encode(ids: torch.Tensor) -> torch.Tensor:
        return te(ids)[0]

    if (device.type != "cuda" and not cpu_compile) or not t.compile or not t.train_text_encoder \
            or os.environ.get("ONELORA_COMPILE_TE", "1").strip() == "0":
        return encode
    mode = compile_mode()
    emit("log", message=f"text encoder compiled with torch.compile (mode {mode})")
    return tu.compile_fn(encode, mode, device)


def train_step(ctx: StepContext, batch, step: int, network, optimizer, scaler,
               params: list[torch.Tensor]) -> tuple[float, str | None]:
    """One optimizer step on ``batch``: latents (cached or encoded) → noise (+ offset) →
    timesteps → UNet → loss (MSE, reg weight, min-SNR) → backward → unscale → clip →
    guarded step → zero grad, then ONE host sync that reads the loss and the flags.

    The NaN policy is decided on the device: the update is applied only when the loss and
    the gradient norm are finite (training_utils.GuardedStep: a masked fused step, or a
    step undone from a device-side copy), and the gradient scaler's update is undone when
    the loss itself was not finite — the same decisions as checking ``float(loss)`` before
    backward and ``isfinite(grad_norm)`` before the step, without stalling mid-step.

    Returns the loss and the problem that made the step skip its update (``"loss"``,
    ``"grad"`` or ``"weights"``), or None for a good step.  Every random draw comes from
    ``step_generator(seed, step)``, so the same step always draws the same numbers.
    The loop and bench/train_step.py both call this.
    """
    t, base, device, dtype = ctx.settings, ctx.base, ctx.device, ctx.compute_dtype
    if ctx.cudagraphs:  # a new iteration for CUDA-graph trees
        torch.compiler.cudagraph_mark_step_begin()
    if batch.latents is not None:
        latents = tu.to_device(batch.latents, device)
    else:
        latents = data_mod.encode_pixels(base.vae, batch.pixels, tu.step_generator(t.seed, step, 1))
    g = tu.step_generator(t.seed, step, 2)
    # drawn on the CPU generator (exact resume), copied without a host wait
    noise = tu.to_device(tu.make_noise(torch.empty(latents.shape, dtype=latents.dtype), t.noise_offset, g),
                         device)
    timesteps = tu.to_device(tu.sample_timesteps(latents.shape[0], ctx.num_timesteps, g), device)
    noisy = base.noise_scheduler.add_noise(latents, noise, timesteps)
    input_ids = ctx.input_ids(batch.captions)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        with torch.set_grad_enabled(t.train_text_encoder):
            encoder_hidden = ctx.encode(input_ids)
        pred = ctx.unet(noisy.to(dtype), timesteps, encoder_hidden).sample
    snr = tu.min_snr_weights(ctx.alphas_cumprod, timesteps, t.min_snr_gamma) if t.min_snr_gamma else None
    loss = tu.diffusion_loss(pred, noise, tu.to_device(batch.weights, device), snr)

    # everything below is queued without the host waiting for the device
    loss_ok = torch.isfinite(loss.detach())
    scaled = scaler.scale(loss)  # (creates the scaler's tensors on first use)
    scale_before = scaler._scale.detach().clone() if scaler.is_enabled() else None
    tracker_before = scaler._growth_tracker.detach().clone() if scaler.is_enabled() else None
    scaled.backward()
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, t.max_grad_norm or float("inf"))
    grad_ok = torch.isfinite(grad_norm)
    guard = ctx.guarded(optimizer, params)
    guard.step(loss_ok & grad_ok)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)

    # the one sync of the step
    flags = [loss.detach().float(), grad_norm.detach().float().to(loss.device)]
    if scale_before is not None:
        flags.append(scale_before.float().to(loss.device))
    values = torch.stack(flags).tolist()
    loss_value, norm = values[0], values[1]
    scale = values[2] if scale_before is not None else 1.0
    ok = math.isfinite(loss_value) and math.isfinite(norm)
    guard.settle(ok)
    problem = None
    if not math.isfinite(loss_value):
        if scale_before is not None:  # a non-finite loss never reaches the scaler
            scaler._scale.copy_(scale_before)
            scaler._growth_tracker.copy_(tracker_before)
        problem = "weights" if not network.all_finite() else "loss"
    elif not math.isfinite(norm) and (not scaler.is_enabled() or scale < 1.0):
        problem = "grad"  # (fp16 overflows the scaler can absorb are not reported)
    return loss_value, problem


def choose_precision(mixed_precision: str) -> tuple[torch.device, torch.dtype, str]:
    """Device, compute dtype and a sentence for the ``started`` event.

    On the CPU everything runs in fp32: CPU autocast in fp16 is slow and lossy, and bf16 is
    only fast on a few CPUs; the sentence says so."""
    if torch.cuda.is_available():
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "no": torch.float32}[mixed_precision]
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise UserError("mixed_precision = 'bf16' is not supported by this GPU; use 'fp16' or 'no'")
        name = {"fp16": "fp16 (with a gradient scaler)", "bf16": "bf16", "no": "fp32"}[mixed_precision]
        return torch.device("cuda"), dtype, name
    note = "fp32" if mixed_precision == "no" else \
        f"fp32 (mixed_precision = {mixed_precision!r} needs a CUDA GPU; the CPU computes in fp32)"
    return torch.device("cpu"), torch.float32, note


def set_cpu_threads(device: torch.device, tiny_model: bool) -> int | None:
    """CPU threads for training (None on a GPU).  ``$ONELORA_CPU_THREADS`` wins; builtin:tiny
    uses one thread: its ops are so small that a second thread only adds synchronisation (on a
    busy 2-core machine, 20-50× slower per step than one thread)."""
    if device.type != "cpu":
        return None
    wanted = int(os.environ.get("ONELORA_CPU_THREADS", "0") or 0) or (1 if tiny_model else 0)
    if wanted:
        torch.set_num_threads(wanted)
    return torch.get_num_threads()


def save_dtype(save_precision: str) -> torch.dtype:
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "float": torch.float32}[save_precision]


def vram_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
