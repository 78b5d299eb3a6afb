"""Captioning step with the WD14 tagger: a tiny ONNX model with the WD14 input/output shape, built here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine import tagger as wd
from engine import tags as tg
from engine.errors import UserError
from engine.project import Crop

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

# tag_id,name,category,count — one rating, general tags, a kaomoji and a character tag.
ROWS = [("0", "general", 9), ("1", "blue_hair", 0), ("2", "red_hair", 0), ("3", "^_^", 0),
        ("4", "hatsune_miku", 4), ("5", "rare_tag", 0)]


def _weights() -> tuple[np.ndarray, np.ndarray]:
    """Logits from the mean B, G, R (0..1): blue_hair likes B, red_hair likes R."""
    w = np.zeros((3, len(ROWS)), np.float32)
    b = np.array([5.0, -2.0, -2.0, 3.0, 1.0, -4.0], np.float32)
    w[0, 1], w[2, 1] = 10.0, -10.0   # blue_hair: B - R
    w[2, 2], w[0, 2] = 10.0, -10.0   # red_hair: R - B
    return w / 255.0, b


def build_wd14_like(folder, size: int = 448) -> None:
    """[batch, size, size, 3] float32 → ReduceMean(H, W) → MatMul → Add → Sigmoid → [batch, N]."""
    from onnx import TensorProto, helper, numpy_helper

    w, b = _weights()
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input_1"], ["mean"], axes=[1, 2], keepdims=0),
         helper.make_node("MatMul", ["mean", "W"], ["logits0"]),
         helper.make_node("Add", ["logits0", "B"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"])],
        "wd14_tiny",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["batch", size, size, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT,
                                       ["batch", len(ROWS)])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    lines = ["tag_id,name,category,count"] + [f"{i},{n},{c},100" for i, n, c in ROWS]
    (folder / "selected_tags.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def model_dir(tmp_path):
    build_wd14_like(tmp_path / "wd14")
    return tmp_path / "wd14"


def test_tagger_reads_size_from_onnx_and_feeds_bgr(model_dir):
    t = wd.load_tagger(model_dir)
    assert t.size == 448
    blue = Image.new("RGB", (64, 64), (0, 0, 255))
    arr = t.preprocess(blue)
    assert arr.shape == (448, 448, 3) and arr.dtype == np.float32
    assert tuple(arr[200, 200]) == (255.0, 0.0, 0.0)  # BGR: blue comes first


def test_tagger_pads_to_white_square_and_composites_alpha(model_dir):
    t = wd.load_tagger(model_dir)
    tall = Image.new("RGBA", (100, 200), (255, 0, 0, 0))  # fully transparent red
    arr = t.preprocess(tall)
    assert tuple(arr[224, 224]) == (255.0, 255.0, 255.0)
    wide = Image.new("RGB", (200, 100), (0, 0, 0))
    arr = t.preprocess(wide)
    assert tuple(arr[5, 224]) == (255.0, 255.0, 255.0)     # padding above: white
    assert tuple(arr[224, 224]) == (0.0, 0.0, 0.0)          # the image itself


def test_tagger_thresholds_drop_ratings_and_keep_kaomoji(model_dir):
    t = wd.load_tagger(model_dir)
    blue, red = Image.new("RGB", (32, 32), (0, 0, 255)), Image.new("RGB", (32, 32), (255, 0, 0))
    got = t.predict([blue, red], general_threshold=0.35, character_threshold=0.85)
    names = [[s.tag for s in found] for found in got]
    assert names[0] == ["blue_hair", "^_^"]   # sorted by score; rating 'general' dropped
    assert names[1] == ["red_hair", "^_^"]
    with_char = t.predict([blue], 0.35, 0.7)[0]
    assert "hatsune_miku" in [s.tag for s in with_char]


def test_tagger_path_end_to_end_on_crops(project, model_dir):
    img = Image.new("RGB", (80, 80), (255, 255, 255))
    img.paste((0, 0, 255), (0, 0, 40, 80))
    img.paste((255, 0, 0), (40, 0, 80, 80))
    path = project.root / "imported" / "split.png"
    path.parent.mkdir()
    img.save(path)
    project.crops.items = [Crop("left", [0, 0, 40, 80], "", image="imported/split.png"),
                           Crop("right", [40, 0, 40, 80], "", image="imported/split.png")]
    results = wd.tag_crops_with_tagger(project, model_dir)
    assert results == {"left": ["blue_hair", "^_^"], "right": ["red_hair", "^_^"]}
    tg.tag_crops(project, ["solo"], tagger_results=results)
    assert tg.caption(project, project.crop("left")) == "zq_tester, girl, solo, ^_^"
    left = {t.tag: (t.kept, t.reason, t.source) for t in project.crop("left").tags}
    assert left["blue_hair"] == (False, tg.HAIR_COLOUR, "tagger")


def test_tagger_errors_name_the_missing_file(tmp_path, model_dir):
    with pytest.raises(UserError, match="has no model.onnx"):
        wd.Tagger(tmp_path)
    (model_dir / "selected_tags.csv").write_text("tag_id,name,category,count\n1,a,0,1\n")
    with pytest.raises(UserError, match="different models"):
        wd.Tagger(model_dir).predict([Image.new("RGB", (8, 8))])


def test_tagger_without_onnxruntime_says_how_to_install(monkeypatch, model_dir):
    import builtins

    real = builtins.__import__

    def no_ort(name, *a, **k):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    with pytest.raises(UserError, match="pip install"):
        wd.Tagger(model_dir)
