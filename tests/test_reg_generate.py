"""Regularization images on builtin:tiny: 4 images + captions in reg/1_<class>/, resumable,
pruning updates what the kohya export includes, and the `onelora reg` command."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from engine import events, kohya, runs, sample
from engine import reg as rg
from engine.cli import main
from engine.project import load, save


@pytest.fixture
def reg_project(project):
    r = project.reg
    r.count, r.width, r.height, r.steps = 4, 64, 64, 2
    r.prompt = "masterpiece, 1woman, solo, __expression__, {indoors|outdoors}"
    save(project)
    return project


def test_reg_generates_images_and_captions_in_repeats_class_folder(reg_project):
    run_dir = runs.start_run(reg_project, "reg", detach=False)
    assert sample.reg_worker(run_dir) == 0
    folder = reg_project.root / "reg" / "1_girl"
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == ["0000.png", "0001.png", "0002.png", "0003.png"]
    for name in pngs:
        assert Image.open(folder / name).size == (64, 64)
        cap = (folder / name).with_suffix(".txt").read_text().strip()
        assert cap.startswith("1woman, solo, ") and "masterpiece" not in cap
        assert cap.endswith("indoors") or cap.endswith("outdoors")
    evs = events.read_events(run_dir)
    # the model load is announced before it starts, so `runs` can say what the worker does
    assert [e["kind"] for e in evs[:2]] == ["loading", "started"] and evs[-1]["kind"] == "finished"
    assert evs[0]["phase"] == "loading model" and evs[1]["job"] == "reg"
    steps = [e["step"] for e in evs if e["kind"] == "progress"]
    assert steps[-1] == 4 and steps == sorted(steps)
    assert (reg_project.root / "wildcards" / "expression.txt").exists()
    # the export carries them as reg/1_girl
    assert [len(files) for _, files in kohya.reg_sources(reg_project)] == [4]


def test_reg_resume_keeps_existing_images_and_skips_removed(reg_project):
    folder = rg.reg_folder(reg_project)
    run_dir = runs.start_run(reg_project, "reg", detach=False)
    sample.reg_worker(run_dir)
    kept_bytes = (folder / "0000.png").read_bytes()
    rg.remove(reg_project, ["0001.png"])
    (folder / "0002.png").unlink()  # lost: a resumed run redraws it
    reg_project.reg.count = 5
    save(reg_project)
    run2 = runs.start_run(reg_project, "reg", detach=False)
    assert sample.reg_worker(run2) == 0
    started = next(e for e in events.read_events(run2) if e["kind"] == "started")
    assert started["todo"] == 2  # 0002 and 0004; 0001 was pruned, 0000/0003 exist
    assert sorted(p.name for p in folder.glob("*.png")) == ["0000.png", "0002.png", "0003.png",
                                                            "0004.png"]
    assert (folder / "0000.png").read_bytes() == kept_bytes


def test_reg_removing_an_image_updates_the_export(reg_project):
    sample.reg_worker(runs.start_run(reg_project, "reg", detach=False))
    before = [f.name for _, files in kohya.reg_sources(reg_project) for f in files]
    assert main(["reg", str(reg_project.root), "--remove", "0002.png", "3", "--json"]) == 0
    again = load(reg_project.root)
    assert again.reg.removed == ["reg/1_girl/0002.png", "reg/1_girl/0003.png"]
    after = [f.name for _, files in kohya.reg_sources(again) for f in files]
    assert before == ["0000.png", "0001.png", "0002.png", "0003.png"]
    assert after == ["0000.png", "0001.png"]
    assert (again.root / "reg_removed" / "1_girl" / "0002.txt").exists()
    items = [i for i in kohya.dataset_items(again) if i.is_reg]
    assert len(items) == 2
    # undo one removal (the gallery's keep)
    assert rg.restore(again, "0003.png")
    assert [p.name for p in rg.images(load(again.root))] == ["0000.png", "0001.png", "0003.png"]


def test_reg_cli_preview_and_generate(reg_project, capsys):
    assert main(["reg", str(reg_project.root), "--preview", "3", "--json"]) == 0
    prompts = json.loads(capsys.readouterr().out)["prompts"]
    assert len(prompts) == 3 and all(p.startswith("masterpiece, 1woman") for p in prompts)
    assert main(["reg", str(reg_project.root), "--count", "2", "--model", "builtin:tiny",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "finished" and out["images"] == 2
    assert load(reg_project.root).reg.count == 2


def test_reg_cli_bad_prompt_is_a_user_error(reg_project, capsys):
    assert main(["reg", str(reg_project.root), "--prompt", "girl, __nosuch__"]) == 2
    assert "nosuch.txt" in capsys.readouterr().err
    assert main(["reg", str(reg_project.root), "--remove", "0099.png"]) == 2


def test_reg_captions_add_the_taggers_general_tags(reg_project, tmp_path):
    pytest.importorskip("onnxruntime")
    from test_tagger_onnx import build_wd14_like

    build_wd14_like(tmp_path / "wd14", size=32)
    reg_project.tags.tagger_model = str(tmp_path / "wd14")
    reg_project.reg.count = 1
    save(reg_project)
    run_dir = runs.start_run(reg_project, "reg", detach=False)
    assert sample.reg_worker(run_dir) == 0
    cap = (rg.reg_folder(reg_project) / "0000.txt").read_text().strip()
    assert cap.startswith("1woman, solo, ")
    assert "^_^" in cap.split(", ")          # the toy tagger always finds this general tag
    assert "hatsune miku" not in cap         # character tags are not class captions
    assert any(e.get("message", "").startswith("tagging with") for e in events.read_events(run_dir))


def test_reg_stop_command_ends_the_run_and_keeps_finished_images(reg_project, monkeypatch):
    polls = iter([None, "stop"])
    monkeypatch.setattr(runs.RunControl, "poll", lambda self: next(polls, "stop"))
    run_dir = runs.start_run(reg_project, "reg", detach=False, batch_size=1)
    assert sample.reg_worker(run_dir) == 0
    last = events.read_events(run_dir)[-1]
    assert last["kind"] == "stopped" and last["step"] == 1
    assert [p.name for p in rg.images(reg_project)] == ["0000.png"]
    assert runs.run_info(run_dir).status == "stopped"
