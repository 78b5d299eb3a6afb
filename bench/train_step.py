"""Benchmark: one LoRA training step, onelora's loop against a diffusers-example-style loop.

Both run in the SAME process on the same device, one after the other (each variant builds
its own model, so their peaks do not mix):

- **A (baseline)**, diffusers ``train_text_to_image_lora.py`` style: VAE encode and text encoder
  every step, frozen weights in fp16 on CUDA (fp32 on the CPU), peft LoRA (rank 16) on the
  UNet attention projections (to_q/k/v/out.0), fp32 LoRA weights, autocast, GradScaler on
  CUDA fp16, AdamW, grad clipping.
- **B (onelora)**: engine.train.train_step — the very function the training loop calls —
  with what the loop sets up around it: cached latents (engine.data.TrainData), kohya
  LoRA (engine.lora.LoraNetwork), AdamW from engine.training_utils.make_optimizer (fused on
  CUDA), engine.train.prepare_unet and prepare_text_encoder (channels_last, torch.compile on
  CUDA when ``--compile``; the text encoder too when its LoRA is trained).
  The text encoder runs every step, as in the loop (captions can change per step).
- The ``_te`` figures repeat both with the text encoder's LoRA trained too (peft on the CLIP
  attention projections for A; the seed's ``train_text_encoder = true`` for B).

Prints one JSON line per figure: ``train_step_it_s``, ``train_step_peak_gib``,
``train_step_te_it_s``, ``train_step_te_peak_gib`` (value = onelora, baseline = variant A,
ratio = value / baseline; peak memory is ``torch.cuda.max_memory_allocated`` and null on
the CPU).  Times are the median of ``--steps`` steps after ``--warmup`` steps, with
``torch.cuda.synchronize()`` around each step.

Shapes: ``sd15`` builds SD1.5's UNet / CLIP ViT-L text encoder / VAE from the configs in
engine/assets/sd15 with random weights (nothing is downloaded); ``tiny`` is builtin:tiny.
Default: sd15 on CUDA, tiny on the CPU.

Run: ``.venv/bin/python bench/train_step.py`` (CPU, tiny, < 1 minute) or on a GPU
``python bench/train_step.py --shapes sd15 --steps 40 --warmup 10 --compile``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine import offline_env  # noqa: E402

offline_env()

import torch  # noqa: E402

from engine import data as data_mod  # noqa: E402
from engine import lora as lora_mod  # noqa: E402
from engine import models  # noqa: E402
from engine import train as train_mod  # noqa: E402
from engine import training_utils as tu  # noqa: E402
from engine.project import TrainSettings  # noqa: E402

BASELINE_NAME = "diffusers train_text_to_image_lora style (variant A)"
CAPTION = "zq_tester, 1girl, solo, smile, short hair, standing, white background"
RANK = 16
SEED = 0


# ----------------------------------------------------------------------------------- models

def build_sd15(seed: int = SEED) -> models.BaseModel:
    """SD1.5-shaped UNet, CLIP-L text encoder and VAE from the shipped configs, random weights."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = models.ASSETS_SD15
    tokenizer, source = models.resolve_tokenizer(None, None, extra=cfg / "tokenizer")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(json.loads((cfg / "unet" / "config.json").read_text()))
    vae = AutoencoderKL.from_config(json.loads((cfg / "vae" / "config.json").read_text()))
    te = CLIPTextModel(CLIPTextConfig.from_json_file(str(cfg / "text_encoder" / "config.json")))
    return models.BaseModel(unet=unet, text_encoder=te, vae=vae, tokenizer=tokenizer,
                            noise_scheduler=DDPMScheduler(**models.NOISE_SCHEDULE), name="sd15-random",
                            kind="bench", resolution=models.SD15_RESOLUTION, tokenizer_source=source)


def build_base(shapes: str, device: torch.device, dtype: torch.dtype) -> models.BaseModel:
    """A frozen base model on ``device`` in ``dtype`` (as engine.models.load_base leaves it)."""
    if shapes == "tiny":
        return models.load_base(models.TINY_SPEC, device=device, dtype=dtype)
    base = build_sd15()
    for m in (base.unet, base.text_encoder, base.vae):
        m.requires_grad_(False)
        m.eval()
    return base.to(device, dtype)


def synthetic_image(resolution: int):
    """A deterministic drawing (PIL RGB) the size of the training resolution."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (resolution, resolution), (250, 250, 250))
    d = ImageDraw.Draw(img)
    r = resolution
    d.ellipse((r // 4, r // 8, 3 * r // 4, r // 2), fill=(240, 200, 180))
    d.rectangle((r // 3, r // 2, 2 * r // 3, r - 4), fill=(30, 30, 40))
    return img


# ----------------------------------------------------------------- variant A: diffusers style

@dataclass
class DiffusersStyle:
    """State of the diffusers-example-style loop (variant A)."""

    base: models.BaseModel
    device: torch.device
    weight_dtype: torch.dtype
    params: list[torch.Tensor]
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    pixels: torch.Tensor
    input_ids: torch.Tensor
    train_text_encoder: bool


def setup_diffusers_style(shapes: str, device: torch.device, resolution: int,
                          train_text_encoder: bool = False, rank: int = RANK) -> DiffusersStyle:
    """Frozen weights in fp16 (CUDA) / fp32 (CPU), peft LoRA on the attention projections."""
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig, inject_adapter_in_model

    weight_dtype = torch.float16 if device.type == "cuda" else torch.float32
    base = build_base(shapes, device, weight_dtype)
    base.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                     target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    trained = [base.unet]
    if train_text_encoder:
        # the examples call text_encoder.add_adapter(); transformers 5 wants peft ≥ 0.22 for that,
        # so inject the same adapter with peft directly
        inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                           target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]),
                                base.text_encoder)
        base.text_encoder.to(device)
        base.text_encoder.train()
        trained.append(base.text_encoder)
    cast_training_params(trained, dtype=torch.float32)  # LoRA weights stay fp32
    base.unet.train()
    params = [p for m in trained for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2)
    scaler = torch.amp.GradScaler(device.type, enabled=weight_dtype == torch.float16)
    img = data_mod.to_tensor(synthetic_image(resolution)).float() / 127.5 - 1.0
    input_ids = models.tokenize(base, [CAPTION])
    return DiffusersStyle(base=base, device=device, weight_dtype=weight_dtype, params=params,
                          optimizer=optimizer, scaler=scaler, pixels=img[None], input_ids=input_ids,
                          train_text_encoder=train_text_encoder)


def diffusers_style_step(s: DiffusersStyle, step: int) -> float:
    """One step as train_text_to_image_lora.py does it (accelerate's autocast + GradScaler)."""
    base, device = s.base, s.device
    autocast = torch.autocast(device.type, dtype=s.weight_dtype, enabled=s.weight_dtype != torch.float32)
    pixels = s.pixels.to(device, s.weight_dtype)
    latents = base.vae.encode(pixels).latent_dist.sample() * base.vae.config.scaling_factor
    noise = torch.randn_like(latents)
    timesteps = torch.randint(0, base.noise_scheduler.config.num_train_timesteps, (latents.shape[0],),
                              device=device).long()
    noisy = base.noise_scheduler.add_noise(latents, noise, timesteps)
    ids = s.input_ids.to(device)
    with autocast:
        hidden = base.text_encoder(ids, return_dict=False)[0]
        pred = base.unet(noisy, timesteps, hidden, return_dict=False)[0]
    loss = torch.nn.functional.mse_loss(pred.float(), noise.float(), reduction="mean")
    loss_value = float(loss.detach())  # the example logs loss.item() every step
    s.scaler.scale(loss).backward()
    s.scaler.unscale_(s.optimizer)
    torch.nn.utils.clip_grad_norm_(s.params, 1.0)
    s.scaler.step(s.optimizer)
    s.scaler.update()
    s.optimizer.zero_grad(set_to_none=True)
    return loss_value


# ------------------------------------------------------------------- variant B: onelora

@dataclass
class BenchItem:
    """One dataset row as engine.data.TrainData reads it (the image is a callable)."""

    image: Callable[[], Any]
    caption: str
    name: str = "bench.png"
    repeats: int = 1
    is_reg: bool = False
    folder: str = "1_zq_tester"


@dataclass
class Onelora:
    """State of onelora's step: everything engine.train._train builds around train_step."""

    settings: TrainSettings
    ctx: train_mod.StepContext
    data: data_mod.TrainData
    batches: list[list[int]]
    network: lora_mod.LoraNetwork
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    params: list[torch.Tensor]
    logs: list[str]


def onelora_settings(resolution: int, train_text_encoder: bool, compile_unet: bool,
                     precision: str) -> TrainSettings:
    """The seed's training settings with the bench's choices (AdamW: no bitsandbytes needed)."""
    t = TrainSettings()
    t.resolution = resolution
    t.min_bucket_reso = min(t.min_bucket_reso, resolution)
    t.train_text_encoder = train_text_encoder
    t.compile = compile_unet
    t.mixed_precision = precision
    t.optimizer = "AdamW"
    t.cache_latents, t.color_aug, t.batch_size, t.gradient_checkpointing = True, False, 1, False
    t.seed = 42
    return t


def setup_onelora(shapes: str, resolution: int, train_text_encoder: bool = False,
                  compile_unet: bool = False, precision: str = "bf16") -> Onelora:
    """Model, cached latents, LoRA, optimizer and UNet exactly as engine.train._train sets them up."""
    t = onelora_settings(resolution, train_text_encoder, compile_unet, precision)
    device, compute_dtype, _ = train_mod.choose_precision(t.mixed_precision)
    base = build_base(shapes, device, compute_dtype)
    base.vae.to(torch.float32)  # as the loop: the VAE only encodes, in fp32
    image = synthetic_image(resolution)
    items = [BenchItem(image=lambda: image.copy(), caption=CAPTION)]
    data = data_mod.TrainData.from_settings(items, t)
    data.cache_latents(base.vae)
    network = tu.build_network(base, t, device)
    params = [p for p in network.parameters() if p.requires_grad]
    groups = network.param_groups(t.unet_lr or t.learning_rate, t.text_encoder_lr or t.learning_rate)
    for g in groups:
        g["base_lr"] = g["lr"]
    optimizer = tu.make_optimizer(t.optimizer, groups, t.learning_rate, t.weight_decay, device)
    scaler = torch.amp.GradScaler(device.type, enabled=compute_dtype == torch.float16, init_scale=2.0 ** 12)
    logs: list[str] = []
    unet = train_mod.prepare_unet(base.unet, t, device, lambda kind, **kw: logs.append(kw.get("message", kind)))
    encode = train_mod.prepare_text_encoder(base, t, device,
                                            lambda kind, **kw: logs.append(kw.get("message", kind)))
    ctx = train_mod.StepContext(base=base, unet=unet, settings=t, device=device, compute_dtype=compute_dtype,
                                encode=encode)
    return Onelora(settings=t, ctx=ctx, data=data, batches=data.epoch_batches(1), network=network,
                   optimizer=optimizer, scaler=scaler, params=params, logs=logs)


def onelora_step(s: Onelora, step: int) -> float:
    """One step as the loop runs it: batch from the data, LR for the step, train_step."""
    batch = s.data.batch(s.batches[step % len(s.batches)], step)
    tu.set_lr(s.optimizer, 1.0)  # constant LR: the loop's set_lr call, same cost
    loss, problem = train_mod.train_step(s.ctx, batch, step, s.network, s.optimizer, s.scaler, s.params)
    return loss if problem is None else float("nan")


# ----------------------------------------------------------------------------- timing

def time_steps(step: Callable[[int], float], steps: int, warmup: int,
               device: torch.device) -> dict[str, Any]:
    """Median seconds per step after warm-up, peak memory (GiB, CUDA only), the losses."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    t_start = time.perf_counter()
    for i in range(warmup + steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        losses.append(step(i))
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times[warmup:])
    return {"s_per_step": median, "it_s": 1.0 / median, "losses": losses,
            "first_step_s": times[0], "total_s": time.perf_counter() - t_start,
            "peak_gib": torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None}


def free() -> None:
    """Collect what the last variant left (its models) before the next one is built."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_pair(shapes: str, resolution: int, steps: int, warmup: int, train_text_encoder: bool,
             compile_unet: bool, precision: str) -> tuple[dict, dict, list[str]]:
    """Variant A then onelora, each timed on its own model; returns (A, B, B's log lines)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    a = setup_diffusers_style(shapes, device, resolution, train_text_encoder)
    res_a = time_steps(lambda i: diffusers_style_step(a, i), steps, warmup, device)
    del a
    free()
    b = setup_onelora(shapes, resolution, train_text_encoder, compile_unet, precision)
    res_b = time_steps(lambda i: onelora_step(b, i), steps, warmup, device)
    logs = list(b.logs)
    del b
    free()
    if compile_unet and device.type == "cuda":
        torch._dynamo.reset()
    return res_a, res_b, logs


def figure_lines(name: str, res_a: dict, res_b: dict, common: dict) -> list[dict]:
    """The it/s line and the peak-memory line for one pair."""
    finite = lambda r: all(math.isfinite(x) for x in r["losses"])  # noqa: E731
    speed = {"figure": f"{name}_it_s", "value": round(res_b["it_s"], 3), "unit": "it/s",
             "baseline": round(res_a["it_s"], 3), "baseline_name": BASELINE_NAME,
             "ratio": round(res_b["it_s"] / res_a["it_s"], 3),
             "ms_per_step": round(1000 * res_b["s_per_step"], 2),
             "first_step_s": round(res_b["first_step_s"], 3),
             "baseline_ms_per_step": round(1000 * res_a["s_per_step"], 2),
             "loss_finite": finite(res_b), "baseline_loss_finite": finite(res_a),
             "last_loss": res_b["losses"][-1], "baseline_last_loss": res_a["losses"][-1], **common}
    pa, pb = res_a["peak_gib"], res_b["peak_gib"]
    peak = {"figure": f"{name}_peak_gib", "value": None if pb is None else round(pb, 3), "unit": "GiB",
            "baseline": None if pa is None else round(pa, 3), "baseline_name": BASELINE_NAME,
            "ratio": None if pa is None or pb is None else round(pb / pa, 3), **common}
    if pb is None:
        peak["note"] = "peak GPU memory is only measured on CUDA"
    return [speed, peak]


def main(argv: list[str] | None = None) -> int:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", choices=("sd15", "tiny"), default="sd15" if cuda else "tiny")
    p.add_argument("--steps", type=int, default=40 if cuda else 6, help="timed steps (median)")
    p.add_argument("--warmup", type=int, default=10 if cuda else 1, help="untimed steps first")
    p.add_argument("--resolution", type=int, default=None,
                   help="square training resolution (default 512 for sd15, 128 for tiny)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=cuda,
                   help="settings.compile for onelora (default on with CUDA; ignored on the CPU)")
    p.add_argument("--precision", choices=("bf16", "fp16", "no"), default="bf16",
                   help="onelora's mixed_precision (the CPU always computes in fp32)")
    p.add_argument("--skip-te", action="store_true", help="leave out the text-encoder-trained pair")
    args = p.parse_args(argv)
    resolution = args.resolution or (models.SD15_RESOLUTION if args.shapes == "sd15" else models.TINY_RESOLUTION)
    device = torch.device("cuda" if cuda else "cpu")
    threads = train_mod.set_cpu_threads(device, args.shapes == "tiny")  # as the loop; both variants
    device_name = torch.cuda.get_device_name(0) if cuda else f"cpu ({threads} torch threads)"
    common = {"device": device_name, "shapes": args.shapes, "resolution": resolution, "batch": 1,
              "steps": args.steps, "warmup": args.warmup, "compile": bool(args.compile and cuda),
              "precision": args.precision if cuda else "fp32", "baseline_precision":
              "fp16 + GradScaler" if cuda else "fp32", "torch": torch.__version__}
    pairs = [("train_step", False)] + ([] if args.skip_te else [("train_step_te", True)])
    for name, te in pairs:
        res_a, res_b, logs = run_pair(args.shapes, resolution, args.steps, args.warmup, te,
                                      args.compile, args.precision)
        extra = {**common, "train_text_encoder": te}
        if cuda and args.compile:
            extra["compile_mode"] = train_mod.compile_mode()
        if logs:
            extra["onelora_log"] = logs
        for line in figure_lines(name, res_a, res_b, extra):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
