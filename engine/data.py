"""Training data: which image is seen when, at what size, with which caption.

- Repeats: each image appears ``repeats`` times per epoch (the N of kohya's ``N_name``).
- Regularization images are balanced like sd-scripts: their repeats are raised round-robin
  until there are as many reg samples per epoch as train samples (so with reg images an epoch
  is about twice as long); their loss is weighted by ``prior_loss_weight``.
- Aspect-ratio buckets as sd-scripts computes them; a batch never mixes buckets.
- The order of an epoch depends only on ``seed + epoch``; the augmentations of a step only on
  ``seed`` and the step (engine.training_utils.step_generator), so a resumed run sees exactly
  the same batches as an uninterrupted one.
- Latents are cached once (with a flipped copy when flip_aug is on).  With ``color_aug``
  each crop (and its flipped copy) is jittered ``color_aug_variants`` times once — hue
  shifts and brightnesses spread evenly over the jitter range of :func:`color_augment` —
  and those latents are cached too; each step draws one variant, so the VAE never runs in
  the loop.  ``color_aug_variants = 0`` jitters and encodes every step instead.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.errors import UserError
from engine.training_utils import make_bucket_resolutions, select_bucket, step_generator


def item_name(item: Any) -> str:
    name = getattr(item, "name", "") or ""
    if name:
        return str(name)
    image = getattr(item, "image", None)
    if isinstance(image, (str, Path)):
        return str(image)
    return repr(image)


def load_pil(item: Any) -> Image.Image:
    """The item's image as RGB (transparent parts on white)."""
    image = item.image
    try:
        img = image() if callable(image) else Image.open(image)
        img.load()
    except FileNotFoundError:
        raise UserError(f"training image {image} not found; re-run 'onelora crops' or "
                        "remove it from the dataset") from None
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return img.convert("RGB")


def items_from_project(project: Any) -> list[Any]:
    """The dataset rows of a project (engine.kohya.dataset_items): every crop with its caption
    and repeats, then the regularization images that were not pruned."""
    from engine.kohya import dataset_items

    return list(dataset_items(project))


def dataset_metadata(items: list[Any], repeats: list[int]) -> dict[str, Any]:
    """Folder-level facts for the LoRA metadata (ss_dataset_dirs, ss_tag_frequency, counts)."""
    dirs: dict[str, dict[str, int]] = {}
    reg_dirs: dict[str, dict[str, int]] = {}
    captions: dict[str, list[str]] = {}
    for item, n in zip(items, repeats):
        folder = getattr(item, "folder", "") or ("reg" if getattr(item, "is_reg", False) else "train")
        target = reg_dirs if getattr(item, "is_reg", False) else dirs
        entry = target.setdefault(folder, {"n_repeats": int(getattr(item, "repeats", 1)), "img_count": 0})
        entry["img_count"] += 1
        captions.setdefault(folder, []).append(item.caption)
    return {"dataset_dirs": dirs, "reg_dataset_dirs": reg_dirs,
            "tag_frequency": {k: tag_frequency(v) for k, v in captions.items()},
            "num_train_images": sum(n for it, n in zip(items, repeats) if not getattr(it, "is_reg", False)),
            # as sd-scripts: each reg image × its folder's repeats, not the balanced repeats
            "num_reg_images": sum(max(1, int(getattr(it, "repeats", 1))) for it in items
                                  if getattr(it, "is_reg", False))}


# ---------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------


def process_caption(caption: str, rng: random.Random, *, keep_tokens: int = 0,
                    shuffle: bool = False, caption_dropout_rate: float = 0.0,
                    tag_dropout_rate: float = 0.0) -> str:
    """sd-scripts' order: whole-caption dropout, then (only with shuffle or tag dropout) split
    on commas, keep the first ``keep_tokens`` tags in place, shuffle the rest, drop each of
    the rest with ``tag_dropout_rate``, join with ", "."""
    if caption_dropout_rate and rng.random() < caption_dropout_rate:
        return ""
    if not (shuffle or tag_dropout_rate):
        return caption
    tags = [t.strip() for t in caption.split(",") if t.strip()]
    fixed, flexible = tags[:keep_tokens], tags[keep_tokens:]
    if shuffle:
        rng.shuffle(flexible)
    if tag_dropout_rate:
        flexible = [t for t in flexible if rng.random() >= tag_dropout_rate]
    return ", ".join(fixed + flexible)


def tag_frequency(captions: list[str]) -> dict[str, int]:
    """Count of each (lower-case) tag over captions, as sd-scripts' ss_tag_frequency."""
    freq: dict[str, int] = {}
    for caption in captions:
        for tag in caption.split(","):
            tag = tag.strip().lower()
            if tag:
                freq[tag] = freq.get(tag, 0) + 1
    return freq


# ---------------------------------------------------------------------------------------
# Pixels
# ---------------------------------------------------------------------------------------


def resize_to_bucket(img: Image.Image, bucket: tuple[int, int], resized: tuple[int, int]) -> Image.Image:
    """Scale to cover the bucket, then centre-crop to it (sd-scripts trim_and_resize)."""
    if img.size != resized:
        img = img.resize(resized, Image.Resampling.LANCZOS)
    left = (img.width - bucket[0]) // 2
    top = (img.height - bucket[1]) // 2
    return img.crop((left, top, left + bucket[0], top + bucket[1]))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB → uint8 CHW tensor."""
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


HUE_JITTER = 6
"""Largest hue shift of colour augmentation, in PIL's 0..255 hue steps (about ±8.5°)."""
BRIGHTNESS_JITTER = (0.95, 1.05)
"""Range of the brightness factor of colour augmentation."""


def color_jitter(pixels: torch.Tensor, hue_shift: int, brightness: float) -> torch.Tensor:
    """A uint8 CHW image with its hue shifted and its brightness scaled (float 0..1 out)."""
    img = Image.fromarray(pixels.permute(1, 2, 0).numpy(), "RGB").convert("HSV")
    h, s, v = (np.asarray(ch, dtype=np.int16) for ch in img.split())
    h = ((h + int(hue_shift)) % 256).astype(np.uint8)
    hsv = Image.merge("HSV", [Image.fromarray(h), Image.fromarray(s.astype(np.uint8)),
                              Image.fromarray(v.astype(np.uint8))])
    out = to_tensor(hsv.convert("RGB")).float() / 255.0
    return (out * brightness).clamp(0.0, 1.0)


def color_augment(pixels: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """A small random hue shift and brightness change of a uint8 CHW image (float 0..1 out)."""
    hue = rng.randint(-HUE_JITTER, HUE_JITTER)
    return color_jitter(pixels, hue, rng.uniform(*BRIGHTNESS_JITTER))


def color_variant_params(n: int, rng: random.Random) -> list[tuple[int, float]]:
    """``n`` (hue shift, brightness) pairs of :func:`color_augment`'s family, spread evenly
    over both ranges (ends included) and paired in a shuffled order, so a handful of cached
    variants covers the jitter a per-step draw would give."""
    if n <= 0:
        return []
    if n == 1:
        return [(0, 1.0)]
    lo, hi = BRIGHTNESS_JITTER
    hues = [round(-HUE_JITTER + 2 * HUE_JITTER * k / (n - 1)) for k in range(n)]
    bright = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
    rng.shuffle(bright)
    return list(zip(hues, bright))


@torch.no_grad()
def encode_pixels(vae: Any, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images in 0..1 (B,3,H,W) → scaled VAE latents (B,4,H/8,W/8)."""
    param = next(vae.parameters())
    x = (pixels.to(param.device, param.dtype) * 2.0 - 1.0)
    dist = vae.encode(x).latent_dist
    mean, std = dist.mean, dist.std
    noise = torch.randn(mean.shape, generator=generator, dtype=torch.float32).to(mean.device, mean.dtype)
    latents = (mean + std * noise).float()
    scale = float(getattr(vae.config, "scaling_factor", 0.18215))
    if not torch.isfinite(latents).all():
        raise UserError("the VAE produced non-finite latents; use mixed_precision = 'no' or "
                        "'bf16' (an SD1.x VAE overflows in fp16)")
    return latents * scale


# ---------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------


@dataclass
class Batch:
    """What one optimizer step trains on."""

    indices: list[int]
    captions: list[str]
    files: list[str]
    weights: torch.Tensor
    """Per-sample loss weight: 1 for train images, prior_loss_weight for reg images."""
    latents: torch.Tensor | None = None
    pixels: torch.Tensor | None = None
    """Float 0..1 images when latents are not cached (encode them with encode_pixels)."""
    variants: list[int] = field(default_factory=list)
    """Which cached colour variant each sample is (empty without cached colour variants)."""


@dataclass
class TrainData:
    """Items placed in buckets, an epoch order, and per-step batches."""

    items: list[Any]
    resolution: int = 512
    batch_size: int = 1
    seed: int = 42
    enable_bucket: bool = True
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    keep_tokens: int = 0
    shuffle_caption: bool = False
    caption_dropout_rate: float = 0.0
    caption_tag_dropout_rate: float = 0.0
    color_aug: bool = False
    flip_aug: bool = False
    color_aug_variants: int = 0
    prior_loss_weight: float = 1.0
    variant_params: dict[tuple[int, bool, int], tuple[int, float]] = field(default_factory=dict, init=False)
    repeats: list[int] = field(default_factory=list, init=False)
    pixels: list[torch.Tensor] = field(default_factory=list, init=False)
    buckets: list[tuple[int, int]] = field(default_factory=list, init=False)
    latents: dict[tuple, torch.Tensor] = field(default_factory=dict, init=False)
    """(image, flipped) → latents; with cached colour variants (image, flipped, variant)."""

    @classmethod
    def from_settings(cls, items: list[Any], train: Any, prior_loss_weight: float = 1.0) -> "TrainData":
        return cls(items=items, resolution=train.resolution, batch_size=train.batch_size,
                   seed=train.seed, enable_bucket=train.enable_bucket,
                   min_bucket_reso=train.min_bucket_reso, max_bucket_reso=train.max_bucket_reso,
                   bucket_reso_steps=train.bucket_reso_steps, keep_tokens=train.keep_tokens,
                   shuffle_caption=train.shuffle_caption,
                   caption_dropout_rate=train.caption_dropout_rate,
                   caption_tag_dropout_rate=train.caption_tag_dropout_rate,
                   color_aug=train.color_aug, flip_aug=train.flip_aug,
                   color_aug_variants=getattr(train, "color_aug_variants", 0),
                   prior_loss_weight=prior_loss_weight)

    def __post_init__(self) -> None:
        if not any(not getattr(it, "is_reg", False) for it in self.items):
            raise UserError("there are no training images: add crops first (onelora crops DIR)")
        self.repeats = balanced_repeats(self.items)
        if self.enable_bucket:
            step = self.bucket_reso_steps
            lo = max(step, self.min_bucket_reso // step * step)
            hi = self.max_bucket_reso // step * step
            resos = make_bucket_resolutions(self.resolution, lo, hi, step)
        else:
            resos = [(self.resolution, self.resolution)]
        self.pixels, self.buckets = [], []
        for item in self.items:
            img = load_pil(item)
            bucket, resized = select_bucket(img.width, img.height, resos)
            self.pixels.append(to_tensor(resize_to_bucket(img, bucket, resized)))
            self.buckets.append(bucket)

    # -- sizes ---------------------------------------------------------------------------

    @property
    def cacheable(self) -> bool:
        """Latents can be cached unless colour augmentation jitters the pixels every step
        (``color_aug`` with ``color_aug_variants = 0``)."""
        return not self.color_aug or self.color_aug_variants > 0

    @property
    def variants_per_image(self) -> int:
        """Cached colour variants per image (and per flip): 1 without colour aug."""
        return self.color_aug_variants if self.color_aug and self.color_aug_variants > 0 else 1

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Batches (lists of item indices) of an epoch, in training order.

        Samples are grouped by bucket, shuffled within the bucket, cut into batches, and the
        batches shuffled; all with a generator seeded by ``seed + epoch`` only.
        """
        rng = random.Random(self.seed + epoch)
        by_bucket: dict[tuple[int, int], list[int]] = {}
        for i, n in enumerate(self.repeats):
            by_bucket.setdefault(self.buckets[i], []).extend([i] * n)
        batches = []
        for bucket in sorted(by_bucket):
            samples = by_bucket[bucket]
            rng.shuffle(samples)
            batches += [samples[j:j + self.batch_size] for j in range(0, len(samples), self.batch_size)]
        rng.shuffle(batches)
        return batches

    @property
    def steps_per_epoch(self) -> int:
        total = 0
        counts: dict[tuple[int, int], int] = {}
        for i, n in enumerate(self.repeats):
            counts[self.buckets[i]] = counts.get(self.buckets[i], 0) + n
        for n in counts.values():
            total += math.ceil(n / self.batch_size)
        return total

    def bucket_info(self) -> dict:
        counts: dict[tuple[int, int], int] = {}
        for i, n in enumerate(self.repeats):
            counts[self.buckets[i]] = counts.get(self.buckets[i], 0) + n
        return {"buckets": {str(k): {"resolution": list(b), "count": counts[b]}
                            for k, b in enumerate(sorted(counts))}}

    # -- latents -------------------------------------------------------------------------

    def cache_latents(self, vae: Any) -> None:
        """Encode every image once (and its mirror image when flip_aug is on; with colour aug
        each of them as ``color_aug_variants`` jittered copies).  The latents stay on the
        VAE's device, so a step takes them without a host-to-device copy."""
        n = self.variants_per_image
        jitter = self.color_aug and self.color_aug_variants > 0
        for i, px in enumerate(self.pixels):
            for flip in ((False, True) if self.flip_aug else (False,)):
                x = px.flip(-1) if flip else px
                params = color_variant_params(n, random.Random(
                    self.seed * 1_000_003 + 7_919 * i + int(flip))) if jitter else [None]
                for v, p in enumerate(params):
                    if p is not None:
                        self.variant_params[(i, flip, v)] = p
                    pixels = color_jitter(x, *p) if p is not None else x.float() / 255.0
                    g = step_generator(self.seed, i, stream=7 + int(flip) + 2 * v)
                    key = (i, flip, v) if p is not None else (i, flip)
                    self.latents[key] = encode_pixels(vae, pixels[None], g)[0]

    # -- one step ------------------------------------------------------------------------

    def batch(self, indices: list[int], step: int) -> Batch:
        """Captions, augmentation and latents (or pixels) of one step; random choices come
        from a generator seeded by (seed, step)."""
        rng = random.Random(self.seed * 1_000_003 + step)
        captions, files, weights, lat, pix, variants = [], [], [], [], [], []
        for i in indices:
            item = self.items[i]
            captions.append(process_caption(
                item.caption, rng, keep_tokens=self.keep_tokens, shuffle=self.shuffle_caption,
                caption_dropout_rate=self.caption_dropout_rate,
                tag_dropout_rate=self.caption_tag_dropout_rate))
            files.append(item_name(item))
            weights.append(self.prior_loss_weight if getattr(item, "is_reg", False) else 1.0)
            flip = self.flip_aug and rng.random() < 0.5
            if self.latents:
                if self.variant_params:
                    v = rng.randrange(self.variants_per_image)
                    lat.append(self.latents[(i, flip, v)])
                    variants.append(v)
                else:
                    lat.append(self.latents[(i, flip)])
            else:
                px = self.pixels[i].flip(-1) if flip else self.pixels[i]
                pix.append(color_augment(px, rng) if self.color_aug else px.float() / 255.0)
        return Batch(indices=list(indices), captions=captions, files=files,
                     weights=torch.tensor(weights, dtype=torch.float32),
                     latents=torch.stack(lat) if lat else None,
                     pixels=torch.stack(pix) if pix else None, variants=variants)


def balanced_repeats(items: list[Any]) -> list[int]:
    """Repeats per item; reg items balanced to the train sample count as sd-scripts does
    (round-robin +1 until reg samples ≥ train samples; surplus reg images get 0)."""
    repeats = [max(1, int(getattr(it, "repeats", 1))) if not getattr(it, "is_reg", False) else 0
               for it in items]
    num_train = sum(repeats)
    reg = [i for i, it in enumerate(items) if getattr(it, "is_reg", False)]
    if not reg:
        return repeats
    n, first = 0, True
    while n < num_train:
        for i in reg:
            if first:
                repeats[i] = max(1, int(getattr(items[i], "repeats", 1)))
                n += repeats[i]
            else:
                repeats[i] += 1
                n += 1
            if n >= num_train:
                break
        first = False
    return repeats
