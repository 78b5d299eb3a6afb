"""CLI workflow, `export` then `import-kohya` (found by the CLI QA pass): an imported crop is cut
from its own image, by the one crop function every caller uses."""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine import crops, kohya
from engine.cli import main


def _kohya_folder(tmp_path):
    sub = tmp_path / "kohya" / "img" / "3_zq_tester girl"
    sub.mkdir(parents=True)
    Image.new("RGB", (80, 120), (10, 200, 30)).save(sub / "a_full.png")
    rgba = Image.new("RGBA", (40, 40), (200, 10, 10, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # transparent corner: composited on white
    rgba.save(sub / "b_face.png")
    (sub / "a_full.txt").write_text("zq_tester, girl, hat\n")
    (sub / "b_face.txt").write_text("zq_tester, girl, smile\n")
    return tmp_path / "kohya"


def test_import_kohya_crops_are_cut_from_their_own_image(tmp_path, capsys):
    assert main(["import-kohya", str(_kohya_folder(tmp_path)), str(tmp_path / "proj")]) == 0
    from engine import project as pj

    project = pj.load(tmp_path / "proj")
    by_name = {c.name: c for c in project.crops.items}
    face = by_name["b_face"]
    assert face.image
    img = crops.crop_image(project, face)
    assert img.mode == "RGB" and img.size == (40, 40)
    arr = np.asarray(img)
    assert tuple(arr[0, 0]) == (255, 255, 255) and tuple(arr[20, 20]) == (200, 10, 10)
    # one implementation: the dataset path gives the very same pixels
    assert kohya.crop_pixels(project, face).tobytes() == img.tobytes()
    out = crops.export_crops(project, tmp_path / "out")
    with Image.open(out["b_face"]) as exported:
        assert exported.size == (40, 40) and exported.convert("RGB").tobytes() == img.tobytes()


def test_export_then_import_round_trips_the_crop_pixels(tmp_path, capsys):
    assert main(["import-kohya", str(_kohya_folder(tmp_path)), str(tmp_path / "proj")]) == 0
    assert main(["export", str(tmp_path / "proj"), str(tmp_path / "exp")]) == 0
    assert main(["import-kohya", str(tmp_path / "exp"), str(tmp_path / "proj2")]) == 0
    assert main(["export", str(tmp_path / "proj2"), str(tmp_path / "exp2")]) == 0
    a = sorted((tmp_path / "exp" / "img").rglob("*.png"))
    b = sorted((tmp_path / "exp2" / "img").rglob("*.png"))
    assert [p.name for p in a] == [p.name for p in b] and a
    for x, y in zip(a, b):
        with Image.open(x) as ix, Image.open(y) as iy:
            assert ix.convert("RGB").tobytes() == iy.convert("RGB").tobytes()
        assert x.with_suffix(".txt").read_text() == y.with_suffix(".txt").read_text()
