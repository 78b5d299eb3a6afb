"""Export never deletes the user's work (issue 13, "Deletes the user's work"): it refuses a folder
that is or holds a project, and replaces only what it wrote (img/, reg/, dataset_config.toml, the
marker), so kohya_ss's model/ and log/ beside it survive a re-export."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import kohya
from engine import project as pj
from engine.cli import main
from engine.project import Crop


def _with_crop(project):
    project.crops.items = [Crop("full_body", [28, 10, 40, 130], "full_body")]
    pj.save(project)
    return project


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_into_a_folder_that_holds_the_project_is_refused_and_deletes_nothing(
        tmp_path, small_image, capsys):
    work = tmp_path / "work"
    a = _with_crop(pj.create(small_image, tmp_path / "A", trigger="zq_tester"))
    assert main(["export", str(a.root), str(work)]) == 0       # work gets the export marker
    capsys.readouterr()
    char2 = _with_crop(pj.create(small_image, work / "char2", trigger="zq_other"))
    (char2.root / "output").mkdir()
    (char2.root / "output" / "zq_other.safetensors").write_bytes(b"trained")
    before = _tree(char2.root)
    assert main(["export", str(char2.root), str(work)]) == 2
    line = _one_error_line(capsys)
    assert "project.toml" in line and str(work.resolve()) in line
    assert _tree(char2.root) == before


def test_export_into_the_project_folder_itself_is_refused(project, capsys):
    _with_crop(project)
    before = _tree(project.root)
    assert main(["export", str(project.root), str(project.root)]) == 2
    assert "is a project folder" in _one_error_line(capsys)
    assert _tree(project.root) == before


@pytest.mark.parametrize("inside", ["reg", "source", "runs/x", "output"])
def test_export_into_the_projects_own_data_is_refused(project, capsys, inside):
    _with_crop(project)
    assert main(["export", str(project.root), str(project.root / inside)]) == 2
    assert "project data" in _one_error_line(capsys)


def test_export_to_a_new_folder_inside_the_project_is_fine(project, capsys):
    _with_crop(project)
    assert main(["export", str(project.root), str(project.root / "kohya")]) == 0
    assert (project.root / "kohya" / "dataset_config.toml").is_file()
    assert pj.load(project.root).trigger == "zq_tester"


def test_re_export_keeps_kohya_ss_model_and_log_folders(project, tmp_path, capsys):
    _with_crop(project)
    dest = tmp_path / "kohya_ss_run"
    assert main(["export", str(project.root), str(dest)]) == 0
    (dest / "model").mkdir()
    (dest / "model" / "mine-000004.safetensors").write_bytes(b"a trained LoRA")
    (dest / "log").mkdir()
    (dest / "log" / "events.out").write_text("tensorboard")
    (dest / "notes.txt").write_text("my notes")
    project.crops.items.append(Crop("face", [30, 10, 36, 36], "face"))
    pj.save(project)
    assert main(["export", str(project.root), str(dest)]) == 0
    assert (dest / "model" / "mine-000004.safetensors").read_bytes() == b"a trained LoRA"
    assert (dest / "log" / "events.out").read_text() == "tensorboard"
    assert (dest / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in (dest / "img" / "5_zq_tester girl").iterdir()) == [
        "face.png", "face.txt", "full_body.png", "full_body.txt"]
    assert not [p for p in dest.iterdir() if p.name.startswith((".onelora-stage", ".onelora-old"))]


def test_re_export_refuses_when_img_holds_a_file_it_did_not_write(project, tmp_path, capsys):
    _with_crop(project)
    dest = tmp_path / "out"
    assert main(["export", str(project.root), str(dest)]) == 0
    extra = dest / "img" / "5_zq_tester girl" / "my_extra.png"
    extra.write_bytes(b"user image")
    capsys.readouterr()
    assert main(["export", str(project.root), str(dest)]) == 2
    assert "my_extra.png" in _one_error_line(capsys)
    assert extra.read_bytes() == b"user image"


def test_re_export_drops_a_removed_crop_and_an_emptied_reg_folder(project, tmp_path):
    _with_crop(project)
    project.crops.items.append(Crop("face", [30, 10, 36, 36], "face"))
    reg = project.root / "reg" / "1_girl"
    reg.mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (32, 32), (1, 2, 3)).save(reg / "0000.png")
    kohya.export(project, tmp_path / "out")
    assert (tmp_path / "out" / "reg" / "1_girl" / "0000.png").is_file()
    project.crops.items.pop()
    (reg / "0000.png").unlink()
    kohya.export(project, tmp_path / "out")
    assert not (tmp_path / "out" / "reg").exists()
    assert not list((tmp_path / "out" / "img").rglob("face.*"))
    manifest = kohya.read_manifest(tmp_path / "out")
    assert manifest == {"dataset_config.toml", "img/5_zq_tester girl/full_body.png",
                        "img/5_zq_tester girl/full_body.txt"}


def test_a_failed_swap_puts_the_earlier_export_back(project, tmp_path, monkeypatch):
    _with_crop(project)
    dest = tmp_path / "out"
    kohya.export(project, dest)
    before = _tree(dest)
    real = kohya.os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 6:   # the 4 old entries moved aside, then a new one fails halfway
            raise OSError("simulated crash")
        return real(src, dst)

    project.crops.items.append(Crop("face", [30, 10, 36, 36], "face"))
    monkeypatch.setattr(kohya.os, "replace", flaky)
    with pytest.raises(OSError, match="simulated"):
        kohya.export(project, dest)
    monkeypatch.setattr(kohya.os, "replace", real)
    assert _tree(dest) == before
