"""Loading the one drawing: every odd format becomes 8-bit RGB; every bad file a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.errors import UserError
from engine.images import image_size, load_image


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_load_applies_exif_orientation(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 20))           # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6                                   # rotate 90° clockwise when shown
    path = _save(img, tmp_path / "rot.jpg", exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.image.size == (20, 40)
    assert image_size(path) == (20, 40)
    top = np.asarray(loaded.image)[2, 10]
    assert top[2] > 200 and top[0] < 60               # the blue edge is now on top


def test_load_composites_rgba_on_white_and_keeps_alpha(tmp_path):
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    img.paste((200, 30, 30, 255), (4, 4, 12, 12))
    loaded = load_image(_save(img, tmp_path / "a.png"))
    rgb = np.asarray(loaded.image)
    assert loaded.image.mode == "RGB"
    assert tuple(rgb[0, 0]) == (255, 255, 255)
    assert tuple(rgb[8, 8]) == (200, 30, 30)
    assert loaded.alpha is not None and loaded.alpha.getpixel((0, 0)) == 0
    assert loaded.alpha.getpixel((8, 8)) == 255


def test_load_la_and_palette_transparency(tmp_path):
    la = Image.new("LA", (8, 8), (100, 0))
    la.paste((10, 255), (2, 2, 6, 6))
    loaded = load_image(_save(la, tmp_path / "la.png"))
    assert tuple(np.asarray(loaded.image)[0, 0]) == (255, 255, 255)
    assert tuple(np.asarray(loaded.image)[3, 3]) == (10, 10, 10)
    assert loaded.alpha is not None

    p = Image.new("P", (8, 8), 0)
    p.putpalette([0, 255, 0] + [200, 0, 0] * 255)
    p.paste(1, (2, 2, 6, 6))
    p.info["transparency"] = 0
    loaded = load_image(_save(p, tmp_path / "p.png", transparency=0))
    rgb = np.asarray(loaded.image)
    assert tuple(rgb[0, 0]) == (255, 255, 255) and tuple(rgb[3, 3]) == (200, 0, 0)
    assert loaded.alpha is not None


def test_load_cmyk_grayscale_and_16bit_become_rgb(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))          # red
    loaded = load_image(_save(cmyk, tmp_path / "c.jpg", quality=95))
    r, g, b = np.asarray(loaded.image)[4, 4]
    assert loaded.image.mode == "RGB" and r > 200 and g < 60 and b < 60

    grey = Image.new("L", (8, 8), 77)
    assert tuple(np.asarray(load_image(_save(grey, tmp_path / "g.png")).image)[0, 0]) == (77,) * 3

    arr = np.full((8, 8), 40000, dtype=np.uint16)
    deep = Image.fromarray(arr)
    loaded = load_image(_save(deep, tmp_path / "d.png"))
    v = np.asarray(loaded.image)[0, 0]
    assert loaded.image.mode == "RGB" and abs(int(v[0]) - round(40000 / 257)) <= 1
    assert any("16-bit" in w for w in loaded.warnings)


def test_load_animated_uses_first_frame_with_warning(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(path)
    assert np.asarray(loaded.image)[0, 0][0] > 200
    assert any("animated" in w and "first frame" in w for w in loaded.warnings)


def test_load_refuses_decompression_bomb(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (64, 64)), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(UserError, match="big.png.*too large"):
        load_image(path)


def test_load_truncated_corrupt_and_non_image_name_the_file(tmp_path):
    good = _save(Image.effect_noise((64, 64), 60).convert("RGB"), tmp_path / "ok.png")
    data = good.read_bytes()
    trunc = tmp_path / "truncated.png"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated.png"):
        load_image(trunc)
    junk = tmp_path / "notes.png"
    junk.write_text("this is not an image")
    with pytest.raises(UserError, match="notes.png.*not an image"):
        load_image(junk)
    with pytest.raises(UserError, match="missing.png.*not found"):
        load_image(tmp_path / "missing.png")
