"""CLI workflow, step `new`: what a user gets from `onelora new` (found by the CLI QA pass)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from engine.cli import main


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\nGARBAGE" * 10, b"just some text\n"])
def test_new_refuses_a_file_that_is_not_an_image(tmp_path, capsys, content):
    bad = tmp_path / "drawing.png"
    bad.write_bytes(content)
    rc = main(["new", str(bad), str(tmp_path / "proj"), "--trigger", "zq_tester"])
    assert rc == 2
    line = _one_error_line(capsys)
    assert str(bad) in line
    assert not (tmp_path / "proj" / "project.toml").exists()


def test_new_copies_the_starter_wildcards(tmp_path, small_image, capsys):
    from engine.wildcards import starter_files

    assert main(["new", str(small_image), str(tmp_path / "proj"), "--trigger", "zq_tester"]) == 0
    have = sorted(p.name for p in (tmp_path / "proj" / "wildcards").glob("*.txt"))
    assert have == sorted(p.name for p in starter_files()) and have


def test_new_from_a_path_with_spaces_keeps_the_source_untouched(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "my images"
    folder.mkdir()
    src = folder / "char one.jpg"
    img = Image.new("RGB", (64, 96), (200, 100, 50))
    img.paste((20, 20, 30), (16, 16, 48, 80))  # a drawing, not a blank (refused since issue 13)
    img.save(src, quality=90)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    mtime = src.stat().st_mtime_ns
    assert main(["new", str(src), str(tmp_path / "p q"), "--trigger", "zq_tester", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert Path(payload["source"]).suffix == ".jpg"
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert src.stat().st_mtime_ns == mtime


def test_new_project_files_are_readable_like_any_other_file(tmp_path, small_image, capsys):
    old = os.umask(0o022)
    try:
        assert main(["new", str(small_image), str(tmp_path / "proj"), "--trigger", "zq_tester"]) == 0
    finally:
        os.umask(old)
    for name in ("project.toml", "source/original.png"):
        mode = stat.S_IMODE((tmp_path / "proj" / name).stat().st_mode)
        assert mode & 0o044 == 0o044, (name, oct(mode))
