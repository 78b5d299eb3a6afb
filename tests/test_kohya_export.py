"""Dataset step: the kohya folder layout (N_name folders, captions, dataset_config.toml) and its import."""

from __future__ import annotations

import tomllib

import pytest
from PIL import Image

from engine import kohya
from engine import project as pj
from engine import tags as tg
from engine.errors import UserError
from engine.project import Crop


def _tagged(project):
    project.crops.figure_box = [28, 10, 40, 130]
    project.crops.face_box = [30, 10, 36, 36]
    project.crops.items = [Crop("full_body", [28, 10, 40, 130], "full_body"),
                           Crop("face", [30, 10, 36, 36], "face"),
                           Crop("lower_body", [28, 80, 40, 60], "lower_body")]
    tg.tag_crops(project, ["1girl", "long_hair", "blue_eyes", "hair_bow", "^_^", "thighhighs",
                           "simple_background"])
    project.train.repeats = 7
    project.train.keep_tokens = 2
    pj.save(project)
    return project


def _reg(project, n=3):
    folder = project.root / "reg" / f"1_{project.class_name}"
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (32, 32), (i * 40, 90, 200)).save(folder / f"{i:04d}.png")
        (folder / f"{i:04d}.txt").write_text(f"1woman, solo, pose {i}\n")
    return folder


def _captions(folder):
    return {p.stem: p.read_text().splitlines()[0] for p in sorted(folder.glob("*.txt"))}


def test_export_writes_repeats_trigger_class_folder_with_captions(project, tmp_path):
    _tagged(project)
    project.crops.items.append(Crop("untagged", [30, 30, 20, 20], ""))
    r = kohya.export(project, tmp_path / "out")
    project.crops.items.pop()
    assert r.warnings == ["crop 'untagged' has no tags yet: its caption is only the trigger and "
                          "class; run 'onelora caption DIR' first"]
    img_dir = tmp_path / "out" / "img" / "7_zq_tester girl"
    assert r.img_dir == img_dir.resolve() and r.images == 4 and not r.reg_dirs
    assert sorted(p.name for p in img_dir.iterdir()) == [
        "face.png", "face.txt", "full_body.png", "full_body.txt", "lower_body.png", "lower_body.txt",
        "untagged.png", "untagged.txt"]
    caps = _captions(img_dir)
    assert caps["face"] == "zq_tester, girl, 1girl, hair bow, ^_^, simple background, portrait, close-up"
    assert caps["lower_body"].endswith("thighhighs, simple background, lower body, head out of frame")
    assert all(c.startswith("zq_tester, girl, ") for n, c in caps.items() if n != "untagged")
    assert caps["untagged"] == "zq_tester, girl, close-up"  # framing from what the box holds
    assert "long hair" not in " ".join(caps.values()) and "blue eyes" not in " ".join(caps.values())
    with Image.open(img_dir / "face.png") as im:
        assert im.size[0] > 0 and im.size[1] > 0


def test_dataset_config_parses_and_carries_repeats_and_keep_tokens(project, tmp_path):
    _tagged(project)
    _reg(project)
    project.reg.repeats = 2
    r = kohya.export(project, tmp_path / "out")
    cfg = tomllib.loads((tmp_path / "out" / "dataset_config.toml").read_text())
    assert cfg["general"]["keep_tokens"] == 2 and cfg["general"]["caption_extension"] == ".txt"
    ds = cfg["datasets"][0]
    assert (ds["resolution"], ds["enable_bucket"], ds["min_bucket_reso"], ds["max_bucket_reso"],
            ds["batch_size"]) == (512, True, 256, 1024, 1)
    train, reg = ds["subsets"]
    assert train["num_repeats"] == 7 and train["is_reg"] is False
    assert train["class_tokens"] == "zq_tester girl" and train["keep_tokens"] == 2
    assert train["image_dir"] == (tmp_path / "out" / "img" / "7_zq_tester girl").resolve().as_posix()
    assert reg["num_repeats"] == 2 and reg["is_reg"] is True and reg["class_tokens"] == "girl"
    assert (train["shuffle_caption"], train["flip_aug"], train["color_aug"]) == (True, False, True)
    assert r.reg_images == 3 and (tmp_path / "out" / "reg" / "2_girl" / "0001.txt").exists()


def test_export_leaves_out_pruned_reg_images_and_replaces_the_old_export(project, tmp_path):
    _tagged(project)
    _reg(project)
    kohya.export(project, tmp_path / "out")
    project.reg.removed = ["reg/1_girl/0001.png"]
    project.crops.items.pop()
    r = kohya.export(project, tmp_path / "out")
    reg_dir = tmp_path / "out" / "reg" / "1_girl"
    assert sorted(p.name for p in reg_dir.glob("*.png")) == ["0000.png", "0002.png"]
    assert r.images == 2 and not list((tmp_path / "out" / "img").rglob("lower_body.*"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_export_refuses_a_folder_with_someone_elses_files(project, tmp_path):
    _tagged(project)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not empty"):
        kohya.export(project, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_dataset_items_give_training_rows_with_captions_and_reg(project):
    _tagged(project)
    _reg(project, n=2)
    items = kohya.dataset_items(project)
    assert [(i.name, i.repeats, i.is_reg) for i in items] == [
        ("full_body", 7, False), ("face", 7, False), ("lower_body", 7, False),
        ("0000.png", 1, True), ("0001.png", 1, True)]
    assert items[1].caption == tg.caption(project, project.crop("face"))
    assert items[3].caption == "1woman, solo, pose 0" and items[0].folder == "7_zq_tester girl"
    face = items[1].image()
    assert face.size[0] > 0


def test_export_then_import_gives_the_same_captions(project, tmp_path):
    _tagged(project)
    _reg(project)
    project.train.keep_tokens, project.train.shuffle_caption = 3, False
    kohya.export(project, tmp_path / "out")
    exported = _captions(tmp_path / "out" / "img" / "7_zq_tester girl")
    back = kohya.import_kohya(tmp_path / "out", tmp_path / "back")
    assert (back.trigger, back.class_name, back.train.repeats, back.train.keep_tokens,
            back.train.shuffle_caption) == ("zq_tester", "girl", 7, 3, False)
    assert {c.name: tg.caption(back, c) for c in back.crops.items} == exported
    assert len(list((tmp_path / "back" / "reg" / "1_girl").glob("*.png"))) == 3
    again = pj.load(tmp_path / "back")
    assert {c.name: tg.caption(again, c) for c in again.crops.items} == exported
    kohya.export(again, tmp_path / "out2")
    assert _captions(tmp_path / "out2" / "img" / "7_zq_tester girl") == exported


def test_import_reads_a_plain_train_data_dir_with_underscore_captions(tmp_path):
    sub = tmp_path / "train" / "10_mira3 1girl"
    sub.mkdir(parents=True)
    for i, cap in enumerate(["mira3, 1girl, hair_bow, smile", "mira3, 1girl, ^_^, red_dress"]):
        Image.new("RGB", (40, 60), (200, 20 * i, 20)).save(sub / f"img{i}.jpg")
        (sub / f"img{i}.txt").write_text(cap + "\n")
    p = kohya.import_kohya(tmp_path / "train", tmp_path / "proj")
    assert (p.trigger, p.class_name, p.train.repeats, p.tags.underscores) == ("mira3", "1girl", 10, True)
    assert [tg.caption(p, c) for c in p.crops.items] == [
        "mira3, 1girl, hair_bow, smile", "mira3, 1girl, ^_^, red_dress"]
    assert p.crops.items[0].box == [0, 0, 40, 60] and p.crops.items[0].image.startswith("imported/")
    odd = tmp_path / "odd" / "2_zz9 boy"
    odd.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(odd / "my pic (1).png")
    q = kohya.import_kohya(odd, tmp_path / "odd_proj")
    assert [c.name for c in q.crops.items] == ["my_pic_1_"] and q.class_name == "boy"
    with pytest.raises(UserError, match="no '<repeats>_<name>' folder"):
        kohya.import_kohya(tmp_path / "proj" / "source", tmp_path / "nothing")
