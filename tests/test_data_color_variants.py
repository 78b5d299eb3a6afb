"""Colour augmentation without the VAE in the loop: each crop's colour-jittered variants are
encoded once and drawn per step; they stay in color_augment's family and cover its range."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from engine import data as data_mod
from engine.project import TrainSettings


class PassThroughVae(torch.nn.Module):
    """A 'VAE' whose latents are its input scaled to -1..1 (mean = x, std = 0)."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(scaling_factor=1.0)

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=x, std=torch.zeros_like(x)))


def item(colour, name):
    img = Image.new("RGB", (64, 64), colour)
    for x in range(32):
        img.putpixel((x, 10), (20, 200, 90))
    return SimpleNamespace(image=lambda: img.copy(), caption="zq_tester, girl, smile", name=name,
                           repeats=4, is_reg=False, folder="4_zq_tester girl")


def make(**kw) -> data_mod.TrainData:
    t = TrainSettings(resolution=64, min_bucket_reso=64, max_bucket_reso=128, color_aug=True, **kw)
    return data_mod.TrainData.from_settings([item((200, 120, 90), "a"), item((60, 90, 210), "b")], t)


def test_default_project_caches_colour_variants_instead_of_encoding_every_step():
    d = make()
    assert TrainSettings().color_aug and TrainSettings().color_aug_variants == 8
    assert d.cacheable and d.variants_per_image == 8
    d.cache_latents(PassThroughVae())
    assert len(d.latents) == 2 * 8
    batch = d.batch([0], step=3)
    assert batch.latents is not None and batch.pixels is None
    assert not make(color_aug_variants=0).cacheable  # 0 = the old per-step jitter


def test_cached_variants_are_colour_augment_outputs_and_cover_the_jitter_range():
    d = make(flip_aug=True)
    d.cache_latents(PassThroughVae())
    assert len(d.latents) == 2 * 2 * 8  # images × flips × variants
    lo, hi = data_mod.BRIGHTNESS_JITTER
    for (i, flip, v), (hue, bright) in d.variant_params.items():
        assert -data_mod.HUE_JITTER <= hue <= data_mod.HUE_JITTER and lo <= bright <= hi
        px = d.pixels[i].flip(-1) if flip else d.pixels[i]
        expected = data_mod.color_jitter(px, hue, bright) * 2 - 1
        assert torch.allclose(d.latents[(i, flip, v)], expected, atol=1e-6)
    hues = {h for (h, _) in d.variant_params.values()}
    brights = [b for (_, b) in d.variant_params.values()]
    assert min(hues) == -data_mod.HUE_JITTER and max(hues) == data_mod.HUE_JITTER
    assert min(brights) == pytest.approx(lo) and max(brights) == pytest.approx(hi)
    # the per-step colour_augment is the same function over the same ranges
    x, r = d.pixels[0], random.Random(5)
    hue, bright = r.randint(-data_mod.HUE_JITTER, data_mod.HUE_JITTER), r.uniform(lo, hi)
    assert torch.equal(data_mod.color_augment(x, random.Random(5)), data_mod.color_jitter(x, hue, bright))

    # the draws over an epoch's worth of steps reach every variant (so the whole range)
    drawn = {(0, v) for step in range(200) for v in d.batch([0], step).variants}
    assert drawn == {(0, v) for v in range(8)}
    # and they differ: a variant is a real colour change, not the plain crop
    plain = d.pixels[0].float() / 255.0 * 2 - 1
    assert sum(not torch.allclose(d.latents[(0, False, v)], plain, atol=1e-3) for v in range(8)) >= 7


def test_steps_draw_the_same_variants_again_after_a_resume():
    a, b = make(), make()
    a.cache_latents(PassThroughVae())
    b.cache_latents(PassThroughVae())
    for step in (0, 7, 31):
        assert torch.equal(a.batch([1], step).latents, b.batch([1], step).latents)
        assert a.batch([1], step).variants == b.batch([1], step).variants
