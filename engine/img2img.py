"""One image from a prompt, from noise (txt2img) or from a source picture (img2img).

The grow step draws its candidates here: one image at a time, each with its own CPU
generator seeded with its seed (starting noise and the ancestral sampler's noise), so a
candidate depends on its prompt, seed, strength and source only.

img2img follows the usual recipe: the source is encoded by the VAE, noised to the timestep
that ``strength`` points at, and denoised from there.  ``strength`` 0 runs no denoising step
(the result is the source after a VAE round trip); ``strength`` 1 starts from pure noise, so
the source has no influence at all and the image equals txt2img with the same seed.

torch is imported inside the functions, so light modules may import this one.
"""

from __future__ import annotations

import contextlib

import numpy as np
from PIL import Image


def size_multiple(base) -> int:
    """Image sides must be a multiple of this (VAE downsampling × UNet downsampling)."""
    vae_factor = 2 ** (len(base.vae.config.block_out_channels) - 1)
    unet_factor = 2 ** (len(base.unet.config.block_out_channels) - 1)
    return vae_factor * unet_factor


def fit_size(width: int, height: int, mult: int) -> tuple[int, int]:
    return max(mult, int(width) // mult * mult), max(mult, int(height) // mult * mult)


def source_size(image: Image.Image, long_side: int, mult: int) -> tuple[int, int]:
    """The source's aspect with its long side at ``long_side``, both sides multiples of ``mult``."""
    w, h = image.size
    scale = long_side / max(w, h)
    return tuple(max(mult, round(v * scale / mult) * mult) for v in (w, h))  # nearest multiple


def _encode_text(base, texts: list[str], clip_skip: int):
    from engine import models

    return models.encode_prompt(base, models.tokenize(base, texts), clip_skip)


def encode_image(base, image: Image.Image, size: tuple[int, int]):
    """VAE latents (scaled) of ``image`` resized to ``size`` (the distribution's mean)."""
    import torch

    img = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    arr = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    x = arr.unsqueeze(0).to(base.vae.device, base.vae.dtype)
    latents = base.vae.encode(x).latent_dist.mean
    return latents * base.vae.config.scaling_factor


def decode_latents(base, latents) -> Image.Image:
    import torch

    vae = base.vae
    decoded = vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample
    arr = ((decoded.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(arr[0].permute(1, 2, 0).cpu().numpy())


def generate(base, prompt: str, *, negative: str = "", seed: int = 1, steps: int = 20,
             cfg: float = 7.0, sampler: str = "euler_a", width: int = 512, height: int = 512,
             clip_skip: int = 1, source: Image.Image | None = None,
             strength: float = 1.0) -> Image.Image:
    """One image.  Without ``source`` (or at ``strength`` 1) from noise at ``width``×``height``;
    with a source at the source's aspect (its long side at max(width, height)), starting from
    the source noised by ``strength`` (0 → the source itself after the VAE round trip)."""
    modules = [m for m in (base.unet, base.text_encoder, base.vae) if m is not None]
    was_training = [m.training for m in modules]
    for m in modules:
        m.eval()
    import torch

    try:
        with torch.no_grad():
            return _generate(base, prompt, negative, int(seed), max(1, int(steps)), float(cfg),
                             sampler, width, height, clip_skip, source,
                             min(1.0, max(0.0, float(strength))))
    finally:
        for m, flag in zip(modules, was_training):
            m.train(flag)


def _generate(base, prompt, negative, seed, steps, cfg, sampler, width, height, clip_skip,
              source, strength) -> Image.Image:
    import torch

    from engine.sample import make_scheduler

    device, dtype = base.unet.device, base.unet.dtype
    mult = size_multiple(base)
    vae_factor = 2 ** (len(base.vae.config.block_out_channels) - 1)
    if source is not None:
        size = source_size(source, max(width, height), mult)
    else:
        size = fit_size(width, height, mult)
    gen = torch.Generator("cpu").manual_seed(seed)
    shape = (1, base.unet.config.in_channels, size[1] // vae_factor, size[0] // vae_factor)
    noise = torch.randn(shape, generator=gen, dtype=torch.float32)
    sched = make_scheduler(base, sampler)
    sched.set_timesteps(steps, device=device)
    if source is None or strength >= 1.0:
        timesteps = sched.timesteps
        latents = (noise * sched.init_noise_sigma).to(device, dtype)
    else:
        init = encode_image(base, source, size).to(device, torch.float32)
        t_start = steps - min(steps, int(round(steps * strength)))
        order = getattr(sched, "order", 1)
        timesteps = sched.timesteps[t_start * order:]
        if len(timesteps) == 0:
            return decode_latents(base, init.to(base.vae.dtype))
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(t_start * order)
        latents = sched.add_noise(init, noise.to(device), timesteps[:1]).to(device, dtype)
    guided = cfg != 1.0
    cond = _encode_text(base, [prompt], clip_skip)
    emb = torch.cat([_encode_text(base, [negative], clip_skip), cond]) if guided else cond
    emb = emb.to(device, dtype)
    autocast = contextlib.nullcontext()
    if device.type == "cuda" and dtype == torch.float32:
        autocast = torch.autocast("cuda", dtype=torch.float16)
    with autocast:
        for t in timesteps:
            x = torch.cat([latents, latents]) if guided else latents
            x = sched.scale_model_input(x, t)
            pred = base.unet(x, t, encoder_hidden_states=emb).sample
            if guided:
                uncond, text = pred.chunk(2)
                pred = uncond + cfg * (text - uncond)
            latents = sched.step(pred, t, latents, generator=gen).prev_sample
    return decode_latents(base, latents)
