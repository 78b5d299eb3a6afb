"""Values that used to pass and fail later are refused at the door (issue 13, "Wrong but quiet"):
a tiny or blank drawing at `new`, a seed beyond 64 bits, a 300-character trigger, an unknown block
weight preset; unknown keys in project.toml are warned about once and kept across saves."""

from __future__ import annotations

import pytest
import tomli_w
import tomllib
from PIL import Image

from engine import project as pj
from engine.cli import main


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _drawing(path, size):
    img = Image.new("RGB", size, (250, 250, 250))
    w, h = size
    img.paste((30, 30, 40), (w // 4, h // 4, max(w // 4 + 1, 3 * w // 4), max(h // 4 + 1, 3 * h // 4)))
    img.save(path)
    return path


@pytest.mark.parametrize("size", [(1, 1), (31, 400), (20, 20)])
def test_new_refuses_a_tiny_image(tmp_path, capsys, size):
    src = _drawing(tmp_path / "tiny.png", size)
    assert main(["new", str(src), str(tmp_path / "proj"), "--trigger", "zq_tester"]) == 2
    line = _one_error_line(capsys)
    assert "tiny.png" in line and "too small" in line
    assert not (tmp_path / "proj").exists()


@pytest.mark.parametrize("mode,colour", [("RGB", (255, 255, 255)), ("RGB", (12, 200, 40)),
                                         ("RGBA", (0, 0, 0, 0))])
def test_new_refuses_a_blank_image(tmp_path, capsys, mode, colour):
    src = tmp_path / "blank.png"
    Image.new(mode, (600, 800), colour).save(src)
    assert main(["new", str(src), str(tmp_path / "proj"), "--trigger", "zq_tester"]) == 2
    assert "blank" in _one_error_line(capsys)
    assert not (tmp_path / "proj").exists()


def test_new_warns_below_256_px_but_makes_the_project(tmp_path, capsys):
    src = _drawing(tmp_path / "small.png", (120, 200))
    assert main(["new", str(src), str(tmp_path / "proj"), "--trigger", "zq_tester"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "120x200" in err
    assert (tmp_path / "proj" / "project.toml").is_file()


def test_new_force_never_replaces_an_existing_project(project, small_image, capsys):
    before = project.path.read_bytes()
    assert main(["new", str(small_image), str(project.root), "--trigger", "zq_other", "--force"]) == 2
    assert "already holds a project" in _one_error_line(capsys)
    assert project.path.read_bytes() == before


@pytest.mark.parametrize("setting,expect", [
    ("seed=9223372036854775808", "train.seed"), ("seed=-1", "train.seed"),
    ("seed=99999999999999999999", "train.seed"), ("reg.seed=18446744073709551616", "reg.seed"),
    ("block_weight_preset=NOPE", "block_weight_preset"),
    ("block_weight_preset=sine+x", "block_weight_preset"),
])
def test_train_set_refuses_values_that_would_fail_inside_the_run(project, capsys, setting, expect):
    assert main(["train", str(project.root), "--set", setting]) == 2
    assert expect in _one_error_line(capsys)
    assert not (project.root / "runs").exists()


@pytest.mark.parametrize("section,key,value,expect", [
    ("train", "seed", 2 ** 63, "train.seed"), ("train", "block_weight_preset", "OUTDD", "OUTDD"),
    (None, "trigger", "x" * 300, "300 characters"), ("samples", "seeds", [1, -5], "samples.seeds")])
def test_project_toml_with_a_value_that_would_fail_later_is_refused_at_load(
        project, capsys, section, key, value, expect):
    data = tomllib.loads(project.path.read_text())
    (data[section] if section else data)[key] = value
    project.path.write_text(tomli_w.dumps(data))
    assert main(["crops", str(project.root)]) == 2
    line = _one_error_line(capsys)
    assert "project.toml" in line and expect in line


def test_a_known_block_weight_preset_is_accepted_in_any_case(project):
    for name in ("OUTD", "outd", "seed", "NONE(lbw)", "sine+0.5", "none"):
        pj.set_setting(project, "block_weight_preset", name)
        pj.validate(project)


def test_unknown_keys_are_warned_once_and_kept_across_saves(project, capsys):
    text = project.path.read_text()
    text = text.replace("[train]\n", "[train]\nepoch = 3\n") + "\n[my_notes]\nlook = \"blue\"\n"
    project.path.write_text("future_flag = true\n" + text)
    assert main(["crops", str(project.root), "--figure", "0,0,50,50"]) == 0
    err = capsys.readouterr().err
    assert err.count("train.epoch") == 1 and "did you mean 'epochs'" in err
    assert "my_notes" in err and "future_flag" in err
    data = tomllib.loads(project.path.read_text())          # the save kept them
    assert data["train"]["epoch"] == 3 and data["my_notes"] == {"look": "blue"}
    assert data["future_flag"] is True and data["crops"]["figure_box"] == [0, 0, 50, 50]
    loaded = pj.load(project.root)
    loaded.train.epochs = 4
    pj.save(loaded)
    again = tomllib.loads(project.path.read_text())
    assert again["train"]["epoch"] == 3 and again["train"]["epochs"] == 4
