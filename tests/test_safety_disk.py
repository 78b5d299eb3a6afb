"""A full disk ends in one line, exit 2, with the previous files intact (issue 13, "Tracebacks where
a line belongs"): engine.files turns ENOSPC/EDQUOT during an atomic write into a UserError naming
the file; the CLI maps any other ENOSPC OSError to the same line.  The disk is "filled" in-process by
making fsync of chosen files raise ENOSPC, which is where a real full disk surfaces."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from engine import files
from engine import project as pj
from engine.cli import main
from engine.project import Crop


@pytest.fixture
def disk_full(monkeypatch):
    """``disk_full(lambda path: ...)``: writes whose temp file path matches raise ENOSPC."""
    real = os.fsync

    def arm(match=lambda path: True):
        def fsync(fd):
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                path = ""
            if match(path):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd)

        monkeypatch.setattr(files.os, "fsync", fsync)
    return arm


def _no_space_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("onelora: no space left on ") and "free space and retry" in err[0]
    return err[0]


def _no_temps(folder: Path) -> None:
    assert not [p for p in folder.rglob(".*.tmp")]


def test_atomic_write_on_a_full_disk_names_the_file_and_keeps_the_old_content(tmp_path, disk_full):
    target = tmp_path / "project.toml"
    target.write_text("old")
    disk_full()
    with pytest.raises(pj.UserError, match="no space left on .* while writing project.toml"):
        files.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    _no_temps(tmp_path)


def test_new_on_a_full_disk_is_one_line(tmp_path, small_image, disk_full, capsys):
    disk_full()
    assert main(["new", str(small_image), str(tmp_path / "proj"), "--trigger", "zq_tester"]) == 2
    assert "original.png" in _no_space_line(capsys)
    assert not (tmp_path / "proj").exists()  # the half-made project is removed, nothing else


def test_new_on_a_full_disk_into_an_existing_folder_keeps_the_users_files(tmp_path, small_image,
                                                                          disk_full, capsys):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "notes.txt").write_text("mine")
    disk_full()
    assert main(["new", str(small_image), str(tmp_path / "proj"), "--trigger", "zq_tester",
                 "--force"]) == 2
    _no_space_line(capsys)
    assert (tmp_path / "proj" / "notes.txt").read_text() == "mine"


def test_prep_upscale_on_a_full_disk_keeps_project_toml(project, disk_full, capsys):
    before = project.path.read_bytes()
    disk_full(lambda p: "prepared.png" in p)
    assert main(["prep", str(project.root), "--upscale", "4096", "--json"]) == 2
    assert "prepared.png" in _no_space_line(capsys)
    assert project.path.read_bytes() == before
    assert pj.load(project.root).prep.upscale_to == 2048
    _no_temps(project.root)


def _with_crops(project):
    from engine.images import prepare

    prepare(project, upscale_to=0)
    project.crops.items = [Crop("full_body", [28, 10, 40, 130], "full_body")]
    pj.save(project)
    return project


@pytest.mark.parametrize("argv", [["crops", "{dir}", "--set", "wrist=10,10,20,20"],
                                  ["tag", "{dir}", "full_body", "--add", "hat"]])
def test_crops_set_and_tag_add_on_a_full_disk_keep_project_toml(project, disk_full, capsys, argv):
    _with_crops(project)
    before = project.path.read_bytes()
    disk_full(lambda p: "project.toml" in p)
    assert main([a.format(dir=project.root) for a in argv]) == 2
    assert "project.toml" in _no_space_line(capsys)
    assert project.path.read_bytes() == before
    _no_temps(project.root)


def test_export_on_a_full_disk_keeps_the_earlier_export(project, tmp_path, disk_full, capsys):
    _with_crops(project)
    dest = tmp_path / "out"
    assert main(["export", str(project.root), str(dest)]) == 0
    capsys.readouterr()
    before = {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    project.crops.items.append(Crop("face", [30, 10, 36, 36], "face"))
    pj.save(project)
    disk_full(lambda p: p.endswith(".tmp") and "face" in p)
    assert main(["export", str(project.root), str(dest)]) == 2
    assert f"no space left on {dest.resolve()} while writing the kohya export" in _no_space_line(capsys)
    after = {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert after == before


def test_a_copy_outside_engine_files_on_a_full_disk_is_still_one_line(project, monkeypatch, capsys):
    from engine.cli import tag_cmds

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(project.root / "x.png"))

    monkeypatch.setattr(tag_cmds, "cmd_export", full)
    assert main(["export", str(project.root), str(project.root / "kohya")]) == 2
    assert "x.png" in _no_space_line(capsys)


def test_caption_tags_file_that_is_a_folder_is_one_line(project, tmp_path, capsys):
    _with_crops(project)
    before = project.path.read_bytes()
    assert main(["caption", str(project.root), "--tags-file", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0] and "Traceback" not in err[0]
    assert project.path.read_bytes() == before


def test_stale_temp_files_of_project_toml_are_removed_when_the_project_loads(project):
    stale = project.root / ".project.toml.0badc0de.tmp"
    stale.write_text("half a project")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = project.root / ".project.toml.12345678.tmp"   # another process writing right now
    fresh.write_text("being written")
    mine = project.root / ".project.toml.notmine.tmp"      # not a name onelora makes
    mine.write_text("x")
    os.utime(mine, (old, old))
    pj.load(project.root)
    assert not stale.exists() and fresh.exists() and mine.exists()


@pytest.mark.slow
def test_foreground_train_on_a_full_disk_is_one_line_and_keeps_epoch_1(tmp_path, disk_full, capsys):
    from tests.train_helpers import tiny_project

    project = tiny_project(tmp_path, epochs=2)
    disk_full(lambda p: "-000002.safetensors" in p)
    assert main(["train", str(project.root)]) == 2
    line = capsys.readouterr().err.strip().splitlines()
    [msg] = [ln for ln in line if ln.startswith("onelora: ")]
    assert "no space left on " in msg and "-000002.safetensors" in msg, line
    assert not [ln for ln in line if "Traceback" in ln]
    run = sorted((project.root / "runs").iterdir())[-1]
    from safetensors.torch import load_file

    first = load_file(str(next(run.glob("*-000001.safetensors"))))
    assert first and not list(run.glob("*-000002.safetensors"))
    assert (run / "state" / "state.pt").is_file()
    _no_temps(run)
