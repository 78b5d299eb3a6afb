"""Captioning and dataset steps from the command line: JSON shapes and exit codes."""

from __future__ import annotations

import json

from PIL import Image

from engine import project as pj
from engine.cli import main
from engine.project import Crop


def _with_crops(project):
    project.crops.figure_box = [28, 10, 40, 130]
    project.crops.face_box = [30, 10, 36, 36]
    project.crops.items = [Crop("full_body", [28, 10, 40, 130], "full_body"),
                           Crop("face", [30, 10, 36, 36], "face")]
    pj.save(project)
    return project


def _json(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if rc == 0 else None), out.err


def test_caption_cli_json_has_the_documented_shape(project, capsys):
    _with_crops(project)
    rc, data, _ = _json(capsys, ["caption", str(project.root), "--tags",
                                 "1girl, Blue Hair, hat, boots", "--json"])
    assert rc == 0
    assert set(data) == {"trigger_warnings", "crops", "frequency"}
    assert data["trigger_warnings"] == []
    face = data["crops"][1]
    assert set(face) == {"name", "caption", "tags"} and face["name"] == "face"
    assert face["caption"] == "zq_tester, girl, 1girl, hat, portrait, close-up"
    by_tag = {t["tag"]: t for t in face["tags"]}
    assert by_tag["blue_hair"] == {"tag": "blue_hair", "kept": False,
                                   "reason": "trait: hair colour", "source": "user"}
    assert by_tag["hat"]["reason"] is None and by_tag["close-up"]["source"] == "crop"
    assert by_tag["boots"]["kept"] is False
    assert data["frequency"] == {"1girl": 2, "hat": 2, "boots": 1, "close-up": 1,
                                 "full_body": 1, "portrait": 1}
    assert pj.load(project.root).tags.image_tags == ["1girl", "blue_hair", "hat", "boots"]


def test_caption_cli_reads_a_tags_file_and_warns_on_a_known_trigger(project, capsys, tmp_path):
    _with_crops(project)
    project.trigger = "smile"
    pj.save(project)
    f = tmp_path / "tags.txt"
    f.write_text("1girl\nsmile\nhair_bow\n")
    rc, data, _ = _json(capsys, ["caption", str(project.root), "--tags-file", str(f), "--json"])
    assert rc == 0 and "existing Danbooru tag" in data["trigger_warnings"][0]
    assert data["crops"][0]["caption"] == "smile, girl, 1girl, hair bow, full body"
    rc = main(["caption", str(project.root), "--tags-file", str(tmp_path / "missing.txt")])
    assert rc == 2 and "not found" in capsys.readouterr().err


def test_caption_cli_without_crops_or_tagger_files_exits_2(project, capsys, tmp_path):
    assert main(["caption", str(project.root), "--tags", "1girl"]) == 2
    assert "no crops" in capsys.readouterr().err
    _with_crops(project)
    assert main(["caption", str(project.root), "--tagger", str(tmp_path)]) == 2
    assert "model.onnx" in capsys.readouterr().err


def test_tag_cli_edits_in_order_and_on_all_crops(project, capsys):
    _with_crops(project)
    assert main(["caption", str(project.root), "--tags", "long_hair, smile, hat"]) == 0
    capsys.readouterr()
    rc, data, _ = _json(capsys, ["tag", str(project.root), "face", "--keep", "long hair",
                                 "--prune", "smile", "--add", "wrist_cuffs", "--json"])
    assert rc == 0
    assert data["changes"] == [
        {"crop": "face", "tag": "long_hair", "before": "pruned", "after": "kept"},
        {"crop": "face", "tag": "smile", "before": "kept", "after": "pruned"},
        {"crop": "face", "tag": "wrist_cuffs", "before": None, "after": "kept"}]
    assert data["crops"] == [{"name": "face", "caption":
                              "zq_tester, girl, long hair, hat, wrist cuffs, portrait, close-up"}]
    rc, data, _ = _json(capsys, ["tag", str(project.root), "--all", "--remove", "hat", "--json"])
    assert [c["crop"] for c in data["changes"]] == ["full_body", "face"]
    saved = pj.load(project.root)
    assert "hat" not in saved.tags.image_tags
    assert [t.tag for t in saved.crop("face").tags if t.override] == ["long_hair", "smile"]
    # a tag added by hand is under the rules (not an override) and stays through a re-tag
    assert main(["caption", str(project.root)]) == 0
    cuffs = next(t for t in pj.load(project.root).crop("face").tags if t.tag == "wrist_cuffs")
    assert (cuffs.kept, cuffs.reason, cuffs.override) == (True, "added by you", False)


def test_tag_cli_user_mistakes_exit_2(project, capsys):
    _with_crops(project)
    assert main(["tag", str(project.root), "face", "--keep", "boots"]) == 2
    assert "--add boots" in capsys.readouterr().err
    assert main(["tag", str(project.root), "nope", "--add", "x"]) == 2
    assert "no crop named 'nope'" in capsys.readouterr().err
    assert main(["tag", str(project.root), "face"]) == 2
    assert main(["tag", str(project.root), "face", "--all", "--add", "x"]) == 2


def test_import_then_export_cli_round_trips_captions(tmp_path, capsys):
    sub = tmp_path / "ds" / "img" / "5_mira3 girl"
    sub.mkdir(parents=True)
    caps = {"a": "mira3, girl, hair bow, smile, full body", "b": "mira3, girl, ^_^, close-up"}
    for name, cap in caps.items():
        Image.new("RGB", (30, 50), (10, 200, 30)).save(sub / f"{name}.png")
        (sub / f"{name}.txt").write_text(cap)
    rc, data, _ = _json(capsys, ["import-kohya", str(tmp_path / "ds"), str(tmp_path / "p"), "--json"])
    assert rc == 0 and (data["trigger"], data["class"], data["crops"], data["repeats"]) == \
        ("mira3", "girl", 2, 5)
    rc, data, _ = _json(capsys, ["export", str(tmp_path / "p"), str(tmp_path / "out"), "--json"])
    assert rc == 0 and data["images"] == 2 and data["reg_images"] == 0
    out = tmp_path / "out" / "img" / "5_mira3 girl"
    assert {p.stem: p.read_text().strip() for p in out.glob("*.txt")} == caps
    assert main(["export", str(tmp_path / "p"), str(tmp_path / "ds")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["import-kohya", str(tmp_path / "nowhere"), str(tmp_path / "q")]) == 2
