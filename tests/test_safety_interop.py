"""Interop details from issue 13: import-kohya reads the tag style from multi-word tags only and an
export→import→export round trip keeps every caption byte for byte; ss_num_reg_images counts
regularization images as sd-scripts does (images × folder repeats)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine import kohya
from engine import project as pj
from engine import tags as tg
from engine.project import Crop, Tag


def _dataset(tmp_path: Path, captions: list[str]) -> Path:
    sub = tmp_path / "ds" / "4_zq_mira girl"
    sub.mkdir(parents=True)
    for i, cap in enumerate(captions):
        img = Image.new("RGB", (40, 60), (200, 20 * i, 20))
        img.paste((0, 0, 0), (5, 5, 20, 30))
        img.save(sub / f"img{i}.png")
        (sub / f"img{i}.txt").write_text(cap + "\n")
    return tmp_path / "ds"


def _captions(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*.txt"))}


def test_import_reads_underscore_style_from_multi_word_tags_only(tmp_path):
    caps = ["zq_mira, girl, long_hair, smile, solo, blush, open_mouth",
            "zq_mira, girl, red_dress, standing, looking_at_viewer, outdoors, day, sky"]
    p = kohya.import_kohya(_dataset(tmp_path, caps), tmp_path / "proj")
    assert p.tags.underscores is True
    assert [tg.caption(p, c) for c in p.crops.items] == caps


def test_import_reads_space_style_from_multi_word_tags_only(tmp_path):
    caps = ["zq_mira, girl, long hair, smile, ^_^, blush", "zq_mira, girl, red dress, solo"]
    p = kohya.import_kohya(_dataset(tmp_path, caps), tmp_path / "proj")
    assert p.tags.underscores is False
    assert [tg.caption(p, c) for c in p.crops.items] == caps


@pytest.mark.parametrize("underscores", [True, False])
def test_export_import_export_keeps_every_caption_byte_for_byte(project, tmp_path, underscores):
    project.tags.underscores = underscores
    project.crops.items = [
        Crop("full_body", [28, 10, 40, 130], "full_body",
             tags=[Tag(t) for t in ("long_hair", "smile", "solo", "blush", "^_^", "red_dress")]),
        Crop("face", [30, 10, 36, 36], "face", tags=[Tag(t) for t in ("smile", "blush", "solo")])]
    pj.save(project)
    kohya.export(project, tmp_path / "one")
    back = kohya.import_kohya(tmp_path / "one", tmp_path / "back")
    kohya.export(pj.load(back.root), tmp_path / "two")
    one, two = _captions(tmp_path / "one" / "img"), _captions(tmp_path / "two" / "img")
    assert one == two and len(one) == 2
    assert b"long_hair" in one["full_body.txt"] if underscores else b"long hair" in one["full_body.txt"]


def test_ss_num_reg_images_counts_images_times_folder_repeats_not_the_balance():
    from engine.data import dataset_metadata
    from engine.kohya import DatasetItem

    items = [DatasetItem(image=Path(f"c{i}.png"), caption="zq, girl", repeats=3, name=f"c{i}")
             for i in range(2)]
    items += [DatasetItem(image=Path(f"r{i}.png"), caption="girl", repeats=1, is_reg=True,
                          name=f"r{i}", folder="1_girl") for i in range(2)]
    md = dataset_metadata(items, [3, 3, 3, 3])  # reg balanced up to the 6 train samples
    assert md["num_reg_images"] == 2 and md["num_train_images"] == 6
