"""Nothing is written outside the project (issue 13, "Writes outside the project"): every name that
becomes part of a path goes through engine.names.check_name, stored paths must be relative and
inside the project.  One test per route; each refusal is exit 2, one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w
import tomllib
from PIL import Image

from engine import names
from engine import project as pj
from engine.cli import main
from engine.errors import UserError


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.mark.parametrize("value", ["../../../../x", "..", "a/b", "a\\b", "con", "NUL", "nul.txt",
                                   "LPT1", "com9.png", ".hidden", "x" * 101, "a\x00b", ""])
def test_check_name_refuses_path_parts_and_device_names(value):
    with pytest.raises(UserError, match="trigger"):
        names.check_name(value, "trigger")


@pytest.mark.parametrize("value", ["isab3lla", "zq_tester", "d3mo-char", "v1.5", "x" * 100,
                                   "console", "con_x", "mira"])
def test_check_name_accepts_real_triggers(value):
    assert names.check_name(value, "trigger") == value


def test_new_refuses_a_trigger_with_path_parts_and_writes_nothing(tmp_path, small_image, capsys):
    work = tmp_path / "a" / "b" / "c" / "d"
    work.mkdir(parents=True)
    before = _files(tmp_path)
    assert main(["new", str(small_image), str(work / "proj"), "--trigger", "../../../../x"]) == 2
    assert "trigger" in _one_error_line(capsys)
    assert _files(tmp_path) == before


def test_train_set_output_name_with_path_parts_is_refused_before_a_run(project, capsys):
    before = _files(project.root.parent)
    assert main(["train", str(project.root), "--set", "output_name=../../../tmp/x"]) == 2
    assert "train.output_name" in _one_error_line(capsys)
    assert _files(project.root.parent) == before


@pytest.mark.parametrize("value", ["/etc/passwd", "../outside.png", "C:\\x.png", "source/../../x"])
def test_set_source_image_outside_the_project_is_refused(project, capsys, value):
    assert main(["train", str(project.root), "--set", f"source.image={value}"]) == 2
    assert "source.image" in _one_error_line(capsys)


@pytest.mark.parametrize("section,key,value", [
    ("source", "image", "/etc/passwd"), (None, "trigger", "../x"),
    ("train", "output_name", "../../x"), (None, "class_name", "../girl")])
def test_a_hand_edited_project_toml_with_path_tricks_is_refused_at_load(project, section, key,
                                                                        value, capsys):
    data = tomllib.loads(project.path.read_text())
    (data[section] if section else data)[key] = value
    project.path.write_text(tomli_w.dumps(data))
    assert main(["crops", str(project.root)]) == 2
    line = _one_error_line(capsys)
    assert "project.toml" in line and key in line


@pytest.mark.parametrize("name", ["a/b", "../up", "con", "x" * 120])
def test_crop_name_with_a_slash_or_device_name_is_refused(project, capsys, name):
    from engine.images import prepare

    prepare(project, upscale_to=0)
    before = project.path.read_bytes()
    assert main(["crops", str(project.root), "--set", f"{name}=0,0,20,20"]) == 2
    assert "crop name" in _one_error_line(capsys)
    assert project.path.read_bytes() == before


def test_a_crop_name_with_path_parts_in_project_toml_is_refused(project, capsys):
    data = tomllib.loads(project.path.read_text())
    data["crops"]["items"] = [{"name": "../../evil", "box": [0, 0, 10, 10]}]
    project.path.write_text(tomli_w.dumps(data))
    assert main(["export", str(project.root), str(project.root / "kohya")]) == 2
    assert "crop name" in _one_error_line(capsys)
    assert not (project.root / "kohya").exists()


def _kohya(tmp_path: Path, folder: str, reg: str | None = None) -> Path:
    root = tmp_path / "ds"
    sub = root / "img" / folder
    sub.mkdir(parents=True)
    img = Image.new("RGB", (48, 64), (200, 30, 30))
    img.paste((10, 10, 10), (8, 8, 30, 40))
    img.save(sub / "a.png")
    (sub / "a.txt").write_text("zq_mira, girl, long_hair, smile\n")
    if reg:
        (root / "reg" / reg).mkdir(parents=True)
        img.save(root / "reg" / reg / "r.png")
    return root


@pytest.mark.parametrize("folder,reg,expect", [
    ("5_.. girl", None, "--trigger"),
    ("5_con girl", None, "--trigger"),
    ("99999999999999999999_zq_mira girl", None, "out of range"),
    ("5_zq_mira girl", "99999999999999999999_girl", "out of range"),
    ("5_zq_mira girl", "1_con", "rename the folder"),
    ("5_zq_mira .girl", None, "--class"),
])
def test_import_kohya_refuses_folder_name_tricks_at_the_door(tmp_path, capsys, folder, reg, expect):
    ds = _kohya(tmp_path, folder, reg)
    assert main(["import-kohya", str(ds), str(tmp_path / "proj")]) == 2
    line = _one_error_line(capsys)
    assert expect in line and "--force" not in line
    assert not (tmp_path / "proj").exists()


def test_import_kohya_into_a_non_empty_folder_does_not_suggest_force(tmp_path, capsys):
    ds = _kohya(tmp_path, "5_zq_mira girl")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "mine.txt").write_text("x")
    assert main(["import-kohya", str(ds), str(tmp_path / "proj")]) == 2
    line = _one_error_line(capsys)
    assert "not empty" in line and "--force" not in line


def test_import_kohya_makes_a_reserved_image_name_a_safe_crop_name(tmp_path, capsys):
    ds = _kohya(tmp_path, "5_zq_mira girl")
    (ds / "img" / "5_zq_mira girl" / "a.png").rename(ds / "img" / "5_zq_mira girl" / "con.png")
    (ds / "img" / "5_zq_mira girl" / "a.txt").rename(ds / "img" / "5_zq_mira girl" / "con.txt")
    assert main(["import-kohya", str(ds), str(tmp_path / "proj")]) == 0
    assert [c.name for c in pj.load(tmp_path / "proj").crops.items] == ["image_con"]


def test_check_relative_and_inside():
    assert names.check_relative("source/original.png", "source.image") == "source/original.png"
    with pytest.raises(UserError):
        names.check_relative("/etc/passwd", "source.image")
    with pytest.raises(UserError, match="outside"):
        names.inside("/tmp/a/../../etc/x", "/tmp/a", "x")
