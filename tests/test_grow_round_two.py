"""Round two on builtin:tiny: pick → grow (txt2img + img2img) → keep 2 of 4 → captions with
traits pruned → export with the grown folder and its repeats → a second run trains on both
folders.  Also: kill -9 during grow, then resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import tomllib
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("torch")

from engine import candidates as cd  # noqa: E402
from engine import epochs as ep  # noqa: E402
from engine import events, kohya, runs  # noqa: E402
from engine import project as pj  # noqa: E402
from engine.cli import main  # noqa: E402
from tests.train_helpers import new_run, tiny_project  # noqa: E402

GROW = dict(txt2img_count=2, img2img_count=2, steps=2, width=64, height=64, strength=0.55,
            prompt="blue eyes, __grow_view__, __grow_pose__", img2img_prompt="blue eyes, __grow_view__")


@pytest.fixture(scope="module")
def picked(tmp_path_factory) -> Path:
    """A tiny project trained for one epoch with that epoch picked (made once, copied per test)."""
    from engine.train import train

    root = tmp_path_factory.mktemp("picked")
    project = tiny_project(root, epochs=1, repeats=3)
    full = project.crop("full_body")
    full.preset = "full_body"
    full.tags += [pj.Tag(tag="red dress"), pj.Tag(tag="long hair")]  # outfit + a trait
    pj.save(project)
    run_dir = new_run(project)
    train(run_dir)
    ep.pick_epoch(pj.load(project.root), run_dir.name, 1)
    return project.root


def _copy(picked: Path, tmp_path: Path, **grow) -> pj.Project:
    root = tmp_path / "proj"
    shutil.copytree(picked, root)
    project = pj.load(root)
    for k, v in {**GROW, **grow}.items():
        setattr(project.grow, k, v)
    pj.save(project)
    return project


@pytest.mark.slow
def test_grow_keep_two_of_four_then_export_and_retrain_on_both_folders(picked, tmp_path, capsys):
    project = _copy(picked, tmp_path)
    assert main(["grow", str(project.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "finished" and out["candidates"] == [1, 2, 3, 4]
    folder = cd.candidates_dir(project)
    for n in (1, 2, 3, 4):
        info = cd.read_info(folder / f"{n:04d}.png")
        assert info["prompt"].startswith("zq_tester, girl, standing, boots, red dress, blue eyes")
        assert "long hair" not in info["prompt"]  # a trait is not an outfit tag
        assert float(info["weight"]) == 0.7 and int(info["seed"]) == 777 + n
        caption = (folder / f"{n:04d}.txt").read_text().strip()
        assert caption.startswith("zq_tester, girl, ") and "red dress" in caption
        assert "blue eyes" not in caption  # the character's trait is pruned from the caption
        if n <= 2:
            assert info["mode"] == "txt2img" and info["source_crop"] == ""
        else:
            assert info["mode"] == "img2img" and float(info["strength"]) == 0.55
    assert cd.read_info(folder / "0003.png")["source_crop"] == "full_body"  # largest first
    assert cd.read_info(folder / "0004.png")["source_crop"] == "full_body (flipped)"

    assert main(["grow", str(project.root), "--keep", "1,3", "--discard", "2", "--json"]) == 0
    capsys.readouterr()
    assert main(["grow", str(project.root), "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["candidates"]
    assert [c["state"] for c in listed] == ["kept", "discarded", "kept", "undecided"]
    assert all(0.0 <= c["similarity"] <= 1.0 for c in listed)
    project = pj.load(project.root)
    assert (project.grow.kept, project.grow.discarded) == ([1, 3], [2])

    dest = tmp_path / "kohya"
    result = kohya.export(project, dest)
    assert sorted(p.name for p in (dest / "img").iterdir()) == ["2_zq_tester girl grown",
                                                               "3_zq_tester girl"]
    grown = dest / "img" / "2_zq_tester girl grown"
    assert sorted(p.name for p in grown.iterdir()) == ["0001.png", "0001.txt", "0003.png",
                                                       "0003.txt"]
    assert (grown / "0003.txt").read_text() == (folder / "0003.txt").read_text()
    assert result.grown_images == 2
    config = tomllib.loads((dest / "dataset_config.toml").read_text())
    subsets = config["datasets"][0]["subsets"]
    assert [(Path(s["image_dir"]).name, s["num_repeats"]) for s in subsets] == [
        ("3_zq_tester girl", 3), ("2_zq_tester girl grown", 2)]
    allowed = {"color_aug", "flip_aug", "num_repeats", "shuffle_caption", "keep_tokens",
               "caption_extension", "class_tokens", "image_dir", "is_reg",
               "caption_dropout_rate", "caption_tag_dropout_rate"}
    assert all(set(s) <= allowed for s in subsets)  # keys of sd-scripts' DreamBooth subset schema
    assert all(s["class_tokens"] == "zq_tester girl" for s in subsets)

    from engine.lora import read_lora
    from engine.train import train

    run2 = new_run(project)
    train(run2)
    _, meta = read_lora(run2 / "zq_tester.safetensors")
    assert json.loads(meta["ss_dataset_dirs"]) == {
        "3_zq_tester girl": {"n_repeats": 3, "img_count": 2},
        "2_zq_tester girl grown": {"n_repeats": 2, "img_count": 2}}
    assert "red dress" in json.loads(meta["ss_tag_frequency"])["2_zq_tester girl grown"]


@pytest.mark.slow
def test_grow_killed_then_resumed_leaves_no_duplicate_or_half_written_candidate(picked, tmp_path):
    project = _copy(picked, tmp_path, txt2img_count=6, img2img_count=4, steps=8)
    first = cd.next_number(project)
    run_dir = runs.start_run(project, "grow", detach=True, first=first, txt2img=6, img2img=4)
    pid = int((run_dir / "pid").read_text())
    folder = cd.candidates_dir(project)
    deadline = time.time() + 120
    while time.time() < deadline and len(cd.numbers(project)) < 2:
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    deadline = time.time() + 20  # the signal is delivered asynchronously
    while time.time() < deadline and runs.run_info(run_dir).status == "running":
        time.sleep(0.05)
    before = cd.numbers(project)
    assert 2 <= len(before) < 10, "the run should be killed halfway"
    for n in before:  # every PNG on disk is whole and has its caption
        Image.open(folder / f"{n:04d}.png").load()
        assert (folder / f"{n:04d}.txt").read_text().startswith("zq_tester, girl")
    assert runs.run_info(run_dir).status == "crashed"
    assert main(["grow", str(project.root), "--discard", str(before[0])]) == 0
    kept_bytes = (folder / f"{before[0]:04d}.png").read_bytes()
    assert main(["grow", str(project.root), "--resume", run_dir.name]) == 0
    assert cd.numbers(project) == list(range(1, 11))
    assert not list(folder.glob(".*.tmp"))
    assert all((folder / f"{n:04d}.txt").is_file() for n in range(1, 11))
    assert (folder / f"{before[0]:04d}.png").read_bytes() == kept_bytes
    assert pj.load(project.root).grow.discarded == [before[0]]
    started = [e for e in events.read_events(run_dir) if e["kind"] == "started"]
    assert started[-1]["todo"] == 10 - len(before)
    assert cd.dataset_items(pj.load(project.root)) == []  # nothing kept yet


def test_grow_without_a_picked_lora_says_pick_first(project, capsys):
    assert main(["grow", str(project.root)]) == 2
    err = capsys.readouterr().err
    assert "no picked LoRA" in err and "onelora pick" in err and "Traceback" not in err
