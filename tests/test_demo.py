"""The README's first command: `onelora demo` runs every workflow step on the bundled drawing."""

from __future__ import annotations

import json

import pytest

from engine import demo
from engine.cli import main


@pytest.mark.slow
def test_demo_headless_runs_every_step_and_ends_with_a_picked_lora(tmp_path, capsys, monkeypatch):
    # The real demo trains 3 epochs × 5 repeats; a shorter run proves the same path quickly.
    monkeypatch.setitem(demo.DEMO_TRAIN, "epochs", 2)
    monkeypatch.setitem(demo.DEMO_TRAIN, "repeats", 1)
    monkeypatch.setitem(demo.DEMO_TRAIN, "resolution", 64)
    monkeypatch.setitem(demo.DEMO_REG, "count", 2)
    monkeypatch.setitem(demo.DEMO_SAMPLES, "steps", 2)
    root = tmp_path / "onelora-demo"
    assert main(["demo", str(root), "--headless", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("project", "prepared", "crops", "captions", "reg", "export", "run", "loras",
                "samples", "picked"):
        assert key in out, key
    assert "5 stray-colour islands, 5 fixed" in out["prepared"]
    assert "wrist_cuffs" in out["crops"]
    assert (root / "output" / "d3mochar.safetensors").is_file()
    assert (root / "kohya" / "dataset_config.toml").is_file()
    assert sorted(p.name for p in (root / "kohya" / "img").iterdir()) == ["1_d3mochar girl"]
    assert len(list((root / "reg" / "1_girl").glob("*.png"))) == 2
    run = root / "runs" / out["run"].rsplit("/", 1)[-1]
    assert (run / "d3mochar-000002.safetensors").is_file()
    assert list((run / "samples").rglob("grid.png"))
    # the original drawing is untouched and the demo refuses to overwrite itself
    assert main(["demo", str(root), "--headless"]) == 2
    assert "--force" in capsys.readouterr().err


def test_demo_force_on_the_users_own_project_refuses_and_changes_nothing(project, capsys):
    """`onelora demo DIR --force` where DIR is the user's project (not the demo) used to
    replace its project.toml (crops, tags, settings) and source copy with the demo's."""
    from engine import crops as ec
    from engine import tags

    ec.auto_crops(project)
    tags.tag_crops(project, image_tags=["red_hair", "school_uniform"])
    from engine import project as pj

    pj.save(project)
    before = project.path.read_bytes()
    source = (project.root / project.source.image).read_bytes()
    assert main(["demo", str(project.root), "--headless", "--force"]) == 2
    err = capsys.readouterr().err
    assert "not the demo" in err and "zq_tester" in err
    assert project.path.read_bytes() == before
    assert (project.root / project.source.image).read_bytes() == source


def test_demo_force_still_rebuilds_a_demo_project(tmp_path):
    from engine import project as pj
    from engine.demo_image import demo_image_path

    root = tmp_path / "onelora-demo"
    pj.create(demo_image_path(), root, trigger="d3mochar", class_name="girl")
    demo._refuse_to_replace(root, demo_image_path(), force=True)  # allowed: no error
    with pytest.raises(Exception, match="--force"):
        demo._refuse_to_replace(root, demo_image_path(), force=False)
