"""img2img for the grow step on builtin:tiny: strength 0 gives the source back (after the VAE
round trip), strength 1 ignores the source (equals txt2img with the same seed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")

from engine import img2img  # noqa: E402
from engine.sample import load_base_cached  # noqa: E402


@pytest.fixture(scope="module")
def base():
    return load_base_cached("builtin:tiny", "cpu", torch.float32)


def _source(colour) -> Image.Image:
    img = Image.new("RGB", (64, 96), (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.ellipse((16, 8, 48, 40), fill=colour)
    d.rectangle((20, 40, 44, 90), fill=(30, 30, 40))
    return img


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)


def test_img2img_strength_zero_returns_the_source_crop(base):
    src = _source((220, 60, 60))
    out = img2img.generate(base, "zq_tester, girl, from side", seed=3, steps=4, cfg=7.0,
                           width=64, height=64, source=src, strength=0.0)
    size = img2img.source_size(src, 64, img2img.size_multiple(base))
    with torch.no_grad():
        round_trip = img2img.decode_latents(base, img2img.encode_image(base, src, size))
    assert out.size == size
    assert np.abs(_arr(out) - _arr(round_trip)).max() <= 1.0  # the VAE round trip, nothing else
    noisy = img2img.generate(base, "zq_tester, girl, from side", seed=3, steps=4, cfg=7.0,
                             width=64, height=64, source=src, strength=0.5)
    assert np.abs(_arr(noisy) - _arr(round_trip)).mean() > 1.0  # denoising did change it


def test_img2img_strength_one_ignores_the_source(base):
    kw = dict(seed=5, steps=3, cfg=7.0, width=64, height=64, strength=1.0)
    a = img2img.generate(base, "zq_tester, girl, looking back", source=_source((220, 60, 60)), **kw)
    b = img2img.generate(base, "zq_tester, girl, looking back", source=_source((40, 200, 90)), **kw)
    assert np.array_equal(_arr(a), _arr(b))
    plain = img2img.generate(base, "zq_tester, girl, looking back", seed=5, steps=3, cfg=7.0,
                             width=a.size[0], height=a.size[1])
    assert np.array_equal(_arr(a), _arr(plain))
