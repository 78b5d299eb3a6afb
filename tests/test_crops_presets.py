"""Crops: the seed's presets from a figure box and a face box, custom crops, export, the CLI."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from PIL import Image

from engine import crops
from engine import images
from engine import project as pj
from engine.cli import main
from engine.demo_image import demo_image_path
from engine.errors import UserError

# The demo face (an ellipse) in the 768 x 1280 drawing, scaled by 1.25 in the prepared image.
SCALE = 1.25
FACE = [306 * SCALE, 176 * SCALE, 156 * SCALE, 160 * SCALE]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("tpl") / "demo"
    p = pj.create(demo_image_path(), root, trigger="isab3lla")
    images.prepare(p, upscale_to=1600)
    return root


@pytest.fixture
def demo(template, tmp_path):
    shutil.copytree(template, tmp_path / "demo")
    return pj.load(tmp_path / "demo")


def _inside(inner, outer, slack=0) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[0] + inner[2] <= outer[0] + outer[2] + slack
            and inner[1] + inner[3] <= outer[1] + outer[3] + slack)


def test_auto_crops_makes_the_seven_presets_inside_the_image(demo):
    items = crops.auto_crops(demo)
    assert [c.name for c in items] == list(crops.PRESETS)
    assert all(c.preset == c.name for c in items)
    size = images.prepared_size(demo)
    assert size == (960, 1600)
    for c in items:
        assert _inside(c.box, [0, 0, *size]), c
    again = pj.load(demo.root)                       # saved to project.toml
    assert [c.box for c in again.crops.items] == [c.box for c in items]


def test_guessed_boxes_find_the_figure_and_the_face(demo):
    crops.auto_crops(demo)
    fx, fy, fw, fh = demo.crops.figure_box
    # The drawing spans x 186..582, y 58..1234 (hat to boots) in 768 x 1280 pixels.
    assert abs(fx - 186 * SCALE) < 12 and abs(fy - 58 * SCALE) < 12
    assert abs(fx + fw - 582 * SCALE) < 12 and abs(fy + fh - 1234 * SCALE) < 12
    hx, hy, hw, hh = demo.crops.face_box
    assert _inside(demo.crops.face_box, FACE, slack=4)
    assert hw > 0.7 * FACE[2] and hh > 0.4 * FACE[3]


def test_presets_frame_what_their_names_say(demo):
    crops.auto_crops(demo)
    box = {c.name: c.box for c in demo.crops.items}
    fig, face = demo.crops.figure_box, demo.crops.face_box
    chin = face[1] + face[3]
    assert _inside(fig, box["full_body"])
    assert box["cowboy_shot"][1] <= fig[1] and box["cowboy_shot"][3] < 0.85 * box["full_body"][3]
    assert box["upper_body"][1] <= fig[1] and chin < box["upper_body"][1] + box["upper_body"][3]
    assert box["lower_body"][1] > chin and box["lower_body"][1] + box["lower_body"][3] >= fig[1] + fig[3]
    assert _inside(face, box["face"])
    eyes = 262 * SCALE
    assert box["bangs"][1] < face[1] and box["bangs"][1] + box["bangs"][3] >= eyes
    assert box["head_out_of_frame"][1] >= chin - 2


def test_moving_the_face_box_moves_dependent_presets_only(demo):
    crops.auto_crops(demo)
    before = {c.name: list(c.box) for c in demo.crops.items}
    x, y, w, h = demo.crops.face_box
    crops.set_face_box(demo, [x, y + 40, w, h])
    after = {c.name: c.box for c in pj.load(demo.root).crops.items}
    assert after["full_body"] == before["full_body"]
    assert after["cowboy_shot"] == before["cowboy_shot"]
    assert after["face"][1] == before["face"][1] + 40
    assert after["head_out_of_frame"][1] == before["head_out_of_frame"][1] + 40
    assert after["bangs"] != before["bangs"] and after["upper_body"] != before["upper_body"]


def test_custom_crops_survive_auto_and_can_be_removed(demo):
    crops.auto_crops(demo)
    crops.set_crop(demo, "wrist cuffs", [250, 780, 120, 100])
    c = crops.find_crop(demo, "wrist_cuffs")
    assert c is not None and c.preset == "" and c.box == [250, 780, 120, 100]
    crops.set_crop(demo, "face", [10, 10, 600, 600])           # moving a preset by hand
    crops.auto_crops(demo)                                      # restores it, keeps the custom
    names = [c.name for c in demo.crops.items]
    assert names == list(crops.PRESETS) + ["wrist_cuffs"]
    assert crops.find_crop(demo, "face").box != [10, 10, 600, 600]
    crops.remove_crop(demo, "wrist_cuffs")
    assert crops.find_crop(pj.load(demo.root), "wrist_cuffs") is None
    with pytest.raises(UserError, match="no crop named 'nope'"):
        crops.remove_crop(demo, "nope")


def test_set_crop_clamps_and_refuses_bad_boxes(demo):
    c = crops.set_crop(demo, "edge", [900, 1500, 200, 300])
    assert c.box == [900, 1500, 60, 100]                        # clipped to 960 x 1600
    with pytest.raises(UserError, match="outside"):
        crops.set_crop(demo, "off", [2000, 10, 50, 50])
    with pytest.raises(UserError, match="positive"):
        crops.set_crop(demo, "flat", [10, 10, 0, 50])
    with pytest.raises(UserError, match="not allowed"):
        crops.set_crop(demo, "a/b", [10, 10, 50, 50])


def test_box_helpers_clamp_move_resize_and_lock_aspect():
    bounds = (1000, 800)
    assert crops.clamp_box([-20, 790, 100, 50], bounds) == [0, 750, 100, 50]
    assert crops.clamp_box([0, 0, 5000, 10], bounds) == [0, 0, 1000, 10]
    assert crops.clamp_box([0, 0, 2, 2], bounds) == [0, 0, 8, 8]
    assert crops.move_box([900, 10, 80, 80], 64, -64, bounds) == [920, 0, 80, 80]
    assert crops.resize_box([100, 100, 200, 100], 50, 0, bounds) == [100, 100, 250, 100]
    assert crops.resize_box([100, 100, 200, 100], 0, -500, bounds) == [100, 100, 200, 8]
    assert crops.resize_box([900, 100, 50, 100], 500, 0, bounds) == [900, 100, 100, 100]
    locked = crops.resize_box([100, 100, 200, 100], 40, 0, bounds, aspect_lock=True)
    assert locked == [100, 100, 240, 120]
    locked = crops.resize_box([100, 100, 200, 100], 0, -20, bounds, aspect_lock=True)
    assert locked == [100, 100, 160, 80]
    big = crops.resize_box([600, 400, 200, 100], 800, 0, bounds, aspect_lock=True)
    assert big[0] + big[2] <= 1000 and big[1] + big[3] <= 800 and abs(big[2] / big[3] - 2) < 0.03
    t = time.perf_counter()
    box = [10, 10, 300, 200]
    for i in range(5000):
        box = crops.move_box(box, 3 if i % 2 else -2, 1, bounds)
        box = crops.resize_box(box, 1, -1, bounds, aspect_lock=bool(i % 3))
    assert (time.perf_counter() - t) / 10000 < 1e-3      # well under a millisecond a call


def test_crop_image_export_and_small_crop_warning(demo, tmp_path):
    crops.auto_crops(demo)
    crops.set_crop(demo, "cuff", [250, 780, 120, 100])
    face = crops.find_crop(demo, "face")
    img = crops.crop_image(demo, face)
    assert img.size == (face.box[2], face.box[3])
    out = crops.export_crops(demo, tmp_path / "export")
    assert set(out) == set(crops.PRESETS) | {"cuff"}
    for name, path in out.items():
        box = crops.find_crop(demo, name).box
        assert Image.open(path).size == (box[2], box[3])
    cuff = crops.find_crop(demo, "cuff")
    warn = crops.crop_warnings(cuff, (960, 1600))
    assert warn and "100 px < 512" in warn[0] and "--upscale 8192" in warn[0]
    assert crops.crop_warnings(crops.find_crop(demo, "full_body")) == []


def test_crops_follow_a_new_upscale(demo):
    crops.auto_crops(demo)
    full = list(crops.find_crop(demo, "full_body").box)
    images.prepare(demo, upscale_to=3200)
    scaled = crops.find_crop(pj.load(demo.root), "full_body").box
    assert all(abs(s - 2 * f) <= 2 for s, f in zip(scaled, full))


def test_cli_crops_json_and_errors(demo, capsys):
    d = str(demo.root)
    assert main(["crops", d, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"crops": []}
    assert main(["crops", d, "--auto", "--set", "wrist_cuffs=250,780,120,100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in out["crops"]] == list(crops.PRESETS) + ["wrist_cuffs"]
    cuff = out["crops"][-1]
    assert cuff == {"name": "wrist_cuffs", "preset": None, "box": [250, 780, 120, 100],
                    "warnings": cuff["warnings"]} and cuff["warnings"]
    assert all(set(c) == {"name", "preset", "box", "warnings"} for c in out["crops"])
    face_before = next(c for c in out["crops"] if c["name"] == "face")["box"]
    assert main(["crops", d, "--face", "390,240,190,150", "--remove", "bangs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in out["crops"]]
    assert "bangs" not in names and next(c for c in out["crops"] if c["name"] == "face")["box"] != face_before
    assert main(["crops", d, "--set", "x=1,2,3"]) == 2
    assert "x,y,w,h" in capsys.readouterr().err
    assert main(["crops", d, "--remove", "nope"]) == 2
    assert "no crop named" in capsys.readouterr().err
    assert main(["crops", d, "--set", "far=5000,5000,10,10"]) == 2
    assert "outside" in capsys.readouterr().err
    assert main(["crops", d]) == 0
    assert "wrist_cuffs" in capsys.readouterr().out
