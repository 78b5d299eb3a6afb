"""prepared.png from the original plus the recorded steps; the `onelora prep` command."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import images
from engine import project as pj
from engine.cli import main
from engine.demo_image import PLANTED_ISLANDS, demo_image_path
from engine.errors import UserError


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def demo_project(tmp_path):
    return pj.create(demo_image_path(), tmp_path / "demo", trigger="isab3lla")


def test_prep_records_steps_and_writes_prepared_png(demo_project):
    src = demo_project.root / demo_project.source.image
    before = _sha(src), _sha(demo_image_path())
    result = images.prepare(demo_project, upscale_to=1600, fix_artifacts=True)
    assert result.prepared == demo_project.root / "source" / "prepared.png"
    assert result.size == (960, 1600) and Image.open(result.prepared).size == (960, 1600)
    assert result.fixed == len(PLANTED_ISLANDS) == len(result.artifacts)
    again = pj.load(demo_project.root)
    assert again.prep.upscale_to == 1600 and again.prep.fix_artifacts is True
    # Boxes are in prepared-image pixels (scale 1600/1280 = 1.25).
    x, y, w, h = PLANTED_ISLANDS[0]
    assert any(abs(a.box[0] - x * 1.25) <= 1 and abs(a.box[1] - y * 1.25) <= 1 for a in result.artifacts)
    # The fixed, upscaled image has no islands left; the originals are untouched.
    assert images.find_artifacts(Image.open(result.prepared), max_pixels=400) == []
    assert (_sha(src), _sha(demo_image_path())) == before


def test_prep_is_idempotent_and_rebuilds_a_stale_or_missing_prepared(demo_project):
    r1 = images.prepare(demo_project, upscale_to=1400)
    first = _sha(r1.prepared)
    r2 = images.prepare(demo_project)
    assert _sha(r2.prepared) == first
    r2.prepared.unlink()
    img = images.load_prepared(pj.load(demo_project.root))
    assert img.size == (840, 1400) and _sha(r2.prepared) == first
    # A change recorded in project.toml (by hand or another tool) makes the file stale.
    p = pj.load(demo_project.root)
    p.prep.fix_artifacts = True
    pj.save(p)
    rebuilt = images.load_prepared(p)
    assert _sha(r2.prepared) != first
    assert images.find_artifacts(rebuilt) == []


def test_prep_without_upscale_keeps_size_and_reports_unfixed_islands(demo_project):
    result = images.prepare(demo_project, upscale_to=0)
    assert result.size == (768, 1280) and result.fixed == 0
    assert sorted(a.box for a in result.artifacts) == sorted(PLANTED_ISLANDS)


def test_flatten_background_whitens_border_and_leaves_figure(demo_project):
    img = Image.open(demo_image_path()).convert("RGB")
    flat = images.flatten_background(img, 24)
    a, b = np.asarray(img), np.asarray(flat)
    bg = images.background_mask(img, 24)
    assert tuple(b[0, 0]) == (255, 255, 255) and bg[0, 0]
    assert (b[bg] == 255).all()
    assert np.array_equal(a[~bg], b[~bg])          # every figure pixel unchanged
    assert not bg[640, 384] and not bg[260, 348]   # skirt and eye are figure
    # A background that is not plain is left alone, with a warning.
    noisy = Image.effect_noise((80, 80), 90).convert("RGB")
    warnings: list[str] = []
    assert np.array_equal(np.asarray(images.flatten_background(noisy, 24, warnings)),
                          np.asarray(noisy))
    assert warnings and "border" in warnings[0]


def test_prep_flatten_step_in_prepared(demo_project):
    result = images.prepare(demo_project, upscale_to=0, flatten_background=True)
    rgb = np.asarray(Image.open(result.prepared))
    assert tuple(rgb[5, 5]) == (255, 255, 255)
    assert tuple(rgb[560, 384]) == tuple(np.asarray(Image.open(demo_image_path()))[560, 384])


def test_upscaler_model_errors_are_clear(demo_project, tmp_path):
    with pytest.raises(UserError, match="upscaler_model.*not found"):
        images.prepare(demo_project, upscale_to=2048, upscaler_model=str(tmp_path / "nope.pth"))
    assert pj.load(demo_project.root).prep.upscaler_model == ""     # nothing recorded
    assert demo_project.prep.upscaler_model == ""
    weights = tmp_path / "4x.pth"
    weights.write_bytes(b"not really weights")
    try:
        import spandrel  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match="spandrel"):
            images.prepare(demo_project, upscale_to=2048, upscaler_model=str(weights))
    else:
        with pytest.raises(UserError, match="could not be loaded"):
            images.prepare(demo_project, upscale_to=2048, upscaler_model=str(weights))


def test_cli_prep_json_shape(demo_project, capsys):
    rc = main(["prep", str(demo_project.root), "--upscale", "1600", "--fix-artifacts", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"prepared", "size", "artifacts", "fixed"}
    assert out["size"] == [960, 1600] and out["fixed"] == len(PLANTED_ISLANDS)
    art = out["artifacts"][0]
    assert set(art) == {"box", "pixels", "color", "around"}
    assert len(art["box"]) == 4 and len(art["color"]) == 3 and len(art["around"]) == 3
    rc = main(["prep", str(demo_project.root), "--no-fix-artifacts", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["fixed"] == 0


def test_cli_prep_errors_exit_2(tmp_path, capsys):
    assert main(["prep", str(tmp_path / "none")]) == 2
    assert "project.toml" in capsys.readouterr().err
    img = Image.new("RGB", (40, 40), "white")
    ImageDraw.Draw(img).rectangle((10, 10, 30, 30), fill="black")
    path = tmp_path / "x.png"
    img.save(path)
    p = pj.create(path, tmp_path / "p", trigger="zz")
    (p.root / p.source.image).write_bytes(b"garbage")
    assert main(["prep", str(p.root), "--json"]) == 2
    assert "original.png" in capsys.readouterr().err


def test_flatten_uses_rembg_only_with_a_local_model(tmp_path, monkeypatch):
    import importlib.machinery
    import sys
    import types

    calls = []
    fake = types.ModuleType("rembg")
    fake.__spec__ = importlib.machinery.ModuleSpec("rembg", None)

    def new_session(name):
        calls.append(name)
        return name

    def remove(img, session=None):
        out = img.convert("RGBA")
        out.putalpha(Image.new("L", img.size, 0))
        out.paste((9, 9, 9, 255), (10, 10, 20, 20))
        return out

    fake.new_session, fake.remove = new_session, remove
    monkeypatch.setitem(sys.modules, "rembg", fake)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "u2net"))
    noisy = Image.effect_noise((40, 40), 90).convert("RGB")
    warnings: list[str] = []
    images.flatten_background(noisy, 24, warnings)          # no model on disk: not used
    assert calls == [] and "rembg" in warnings[0]
    (tmp_path / "u2net").mkdir()
    (tmp_path / "u2net" / "u2net.onnx").write_bytes(b"weights")
    out = np.asarray(images.flatten_background(noisy, 24))
    assert calls == ["u2net"]
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[15, 15]) == (9, 9, 9)


def test_model_upscaler_tiles_stitch_exactly(tmp_path, monkeypatch):
    """The spandrel path with a stand-in 2x nearest-neighbour model: tiles of 512 px with
    overlap must stitch into exactly the whole-image result."""
    import importlib.machinery
    import sys
    import types

    torch = pytest.importorskip("torch")
    fake = types.ModuleType("spandrel")
    fake.__spec__ = importlib.machinery.ModuleSpec("spandrel", None)

    class ImageModelDescriptor:
        scale = 2

        def eval(self):
            return self

        def to(self, device):
            return self

        def __call__(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    class ModelLoader:
        def load_from_file(self, path):
            return ImageModelDescriptor()

    fake.ImageModelDescriptor, fake.ModelLoader = ImageModelDescriptor, ModelLoader
    monkeypatch.setitem(sys.modules, "spandrel", fake)
    weights = tmp_path / "2x_fake.pth"
    weights.write_bytes(b"stand-in")
    src = Image.effect_noise((700, 540), 80).convert("RGB")
    out = images.upscale(src, 1400, weights)
    want = np.repeat(np.repeat(np.asarray(src), 2, 0), 2, 1)
    assert out.size == (1400, 1080) and np.array_equal(np.asarray(out), want)
