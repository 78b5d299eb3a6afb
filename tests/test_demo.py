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
