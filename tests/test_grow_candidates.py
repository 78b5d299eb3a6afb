"""The grow step without a model: prompts from the outfit and the grow wildcards, captions
through the trait rules, keep/discard decisions, and kept candidates in the dataset/export."""

from __future__ import annotations

import json
import tomllib

from PIL import Image, PngImagePlugin

from engine import candidates as cd
from engine import grow, kohya
from engine import project as pj
from engine import wildcards as wc
from engine.cli import main


def _outfitted(project: pj.Project) -> pj.Project:
    (project.root / "crops").mkdir()
    for name, preset, tags, h in (("face", "face", ["smile", "blue eyes"], 32),
                                  ("full", "full_body", ["red dress", "long hair", "boots"], 48)):
        Image.new("RGB", (32, h), (200, 40, 40)).save(project.root / "crops" / f"{name}.png")
        project.crops.items.append(pj.Crop(name=name, box=[0, 0, 32, h], preset=preset,
                                           image=f"crops/{name}.png",
                                           tags=[pj.Tag(tag=t) for t in tags]
                                           + [pj.Tag(tag="full_body", source="crop")]))
    pj.save(project)
    return project


def _fake_candidate(project: pj.Project, n: int, caption: str, colour=(10, 200, 10)) -> None:
    path = cd.candidate_path(project, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", caption)
    info.add_text("mode", "txt2img")
    Image.new("RGB", (32, 32), colour).save(path, pnginfo=info)
    path.with_suffix(".txt").write_text(caption + "\n")


def test_grow_prompts_carry_trigger_class_outfit_and_a_new_view(project):
    _outfitted(project)
    wc.ensure_wildcards(project)
    views = [v for v in (project.root / "wildcards" / "grow_view.txt").read_text().splitlines()
             if v and not v.startswith("#")]
    assert "from side" in views and "from behind" in views and "looking back" in views
    jobs = grow.plan(project, first=5, txt_count=3, img_count=4)
    assert [j.number for j in jobs] == [5, 6, 7, 8, 9, 10, 11]
    assert [j.seed for j in jobs] == [777 + n for n in range(5, 12)]
    for j in jobs[:5]:
        assert j.prompt.startswith("zq_tester, girl, red dress, boots, ")  # no trait, no framing
        assert any(v in j.prompt for v in views)
    # img2img: largest crop first, each also mirrored; a crop's prompt carries its own tags
    assert [(j.mode, j.crop, j.flipped) for j in jobs[3:]] == [
        ("img2img", "full", False), ("img2img", "full", True),
        ("img2img", "face", False), ("img2img", "face", True)]
    assert jobs[5].prompt.startswith("zq_tester, girl, smile, ") and "red dress" not in jobs[5].prompt
    # the same numbers give the same prompts (a resumed run draws what it planned)
    assert [j.prompt for j in grow.plan(project, 5, 3, 4)] == [j.prompt for j in jobs]


def test_grow_caption_prunes_the_characters_traits_trigger_first_class_second(project):
    text = grow.caption(project, "zq_tester, girl, masterpiece, red dress, (blue eyes:1.2), "
                                 "from side, long hair", tagger_tags=["sitting", "blonde_hair"])
    assert text == "zq_tester, girl, red dress, from side, sitting"


def test_grow_keep_and_discard_are_saved_and_only_kept_ones_join_the_dataset(project, capsys):
    _outfitted(project)
    for n in (1, 2, 3):
        _fake_candidate(project, n, f"zq_tester, girl, red dress, view {n}")
    assert cd.next_number(project) == 4
    assert main(["grow", str(project.root), "--keep", "1,3", "--discard", "2", "--json"]) == 0
    again = pj.load(project.root)
    assert (again.grow.kept, again.grow.discarded) == ([1, 3], [2])
    assert main(["grow", str(project.root), "--discard", "3"]) == 0  # a change of mind
    again = pj.load(project.root)
    assert (again.grow.kept, again.grow.discarded) == ([1], [2, 3])
    rows = [i for i in kohya.dataset_items(again) if i.folder.endswith("grown")]
    assert [(i.name, i.repeats, i.caption) for i in rows] == [
        ("grow/0001.png", 2, "zq_tester, girl, red dress, view 1")]
    assert main(["grow", str(project.root), "--keep", "9"]) == 2
    assert "0009.png" in capsys.readouterr().err


def test_grow_list_shows_state_and_similarity_to_the_nearest_crop(project, capsys):
    _outfitted(project)
    _fake_candidate(project, 1, "zq_tester, girl, a", colour=(200, 40, 40))
    _fake_candidate(project, 2, "zq_tester, girl, b", colour=(20, 20, 220))
    main(["grow", str(project.root), "--keep", "2"])
    capsys.readouterr()
    assert main(["grow", str(project.root), "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["number"], c["state"]) for c in listed["candidates"]] == [(1, "undecided"),
                                                                        (2, "kept")]
    assert listed["folder"] == "2_zq_tester girl grown"
    assert all(c["similarity"] is not None for c in listed["candidates"])
    assert main(["grow", str(project.root), "--list"]) == 0
    assert "kept" in capsys.readouterr().out


def test_grow_export_has_the_grown_folder_with_its_own_repeats(project, tmp_path):
    _outfitted(project)
    _fake_candidate(project, 1, "zq_tester, girl, red dress, from behind")
    _fake_candidate(project, 2, "zq_tester, girl, red dress, sitting")
    cd.decide(project, [2], "kept")
    project.grow.repeats = 5  # equal to the crops' repeats: the folders still differ
    pj.save(project)
    kohya.export(project, tmp_path / "out")
    img = tmp_path / "out" / "img"
    assert sorted(p.name for p in img.iterdir()) == ["5_zq_tester girl", "5_zq_tester girl grown"]
    assert sorted(p.name for p in (img / "5_zq_tester girl grown").iterdir()) == ["0002.png",
                                                                                 "0002.txt"]
    conf = tomllib.loads((tmp_path / "out" / "dataset_config.toml").read_text())
    assert [s["num_repeats"] for s in conf["datasets"][0]["subsets"]] == [5, 5]


def test_grow_preview_prints_prompts_without_drawing(project, capsys):
    _outfitted(project)
    assert main(["grow", str(project.root), "--preview", "2", "--json"]) == 0
    prompts = json.loads(capsys.readouterr().out)["prompts"]
    assert len(prompts) == 4 and all(p.startswith("zq_tester, girl, red dress") for p in prompts)
    assert not cd.candidates_dir(project).exists()


def test_grow_set_saves_a_grow_setting_and_refuses_a_bad_one(project, capsys):
    _outfitted(project)
    assert main(["grow", str(project.root), "--set", "prompt=from behind, sitting",
                 "--set", "steps=3", "--preview", "1", "--json"]) == 0
    prompts = json.loads(capsys.readouterr().out)["prompts"]
    assert prompts[0] == "zq_tester, girl, red dress, boots, from behind, sitting"
    assert pj.load(project.root).grow.steps == 3
    assert main(["grow", str(project.root), "--set", "strength=2"]) == 2
    assert "grow.strength" in capsys.readouterr().err


def test_grow_prompt_with_an_unknown_wildcard_is_one_line_and_not_saved(project, capsys):
    assert main(["grow", str(project.root), "--set", "img2img_prompt=__nosuch__"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nosuch" in err[0] and "grow.img2img_prompt" in err[0]
    assert pj.load(project.root).grow.img2img_prompt == "__grow_view__, __grow_expression__"


def test_grow_caption_adds_the_taggers_tags_through_the_trait_rules(project, tmp_path):
    import pytest

    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tests.test_tagger_onnx import build_wd14_like

    build_wd14_like(tmp_path / "wd14")
    project.tags.tagger_model = str(tmp_path / "wd14")
    tagger, note = grow.general_tagger(project)
    assert tagger is not None and "tagging with" in note
    found = tagger(Image.new("RGB", (64, 64), (10, 10, 240)))  # blue: blue_hair (a trait)
    assert "blue_hair" in found
    text = grow.caption(project, "zq_tester, girl, red dress, from side", found)
    assert text.startswith("zq_tester, girl, red dress, from side") and "blue hair" not in text
    assert "^_^" in text  # a kept tagger tag (kaomoji keep their underscores)


def test_grow_export_then_import_kohya_brings_kept_candidates_back(project, tmp_path):
    _outfitted(project)
    for n in (1, 2):
        _fake_candidate(project, n, f"zq_tester, girl, red dress, view {n}")
    cd.decide(project, [2], "kept")
    project.grow.repeats = 3
    pj.save(project)
    kohya.export(project, tmp_path / "out")
    back = kohya.import_kohya(tmp_path / "out", tmp_path / "again")
    assert [c.name for c in back.crops.items] == ["face", "full"]  # the grown folder is no crop
    assert (back.grow.kept, back.grow.repeats) == ([1], 3)
    assert cd.caption_of(cd.candidate_path(back, 1)) == "zq_tester, girl, red dress, view 2"
    assert cd.read_info(cd.candidate_path(back, 1))["prompt"] == "zq_tester, girl, red dress, view 2"
    kohya.export(pj.load(back.root), tmp_path / "out2")
    assert sorted(p.name for p in (tmp_path / "out2" / "img").iterdir()) == [
        "3_zq_tester girl grown", "5_zq_tester girl"]
    assert not any("different repeats" in w for w in back.warnings)


def test_grow_draws_with_the_picked_lora_or_a_chosen_run_epoch_or_file(project, tmp_path):
    import pytest

    from engine import runs
    from engine.errors import UserError

    with pytest.raises(UserError, match="no picked LoRA"):
        grow.resolve_lora(project)
    picked = project.root / "output" / "zq_tester.safetensors"
    picked.parent.mkdir()
    picked.write_bytes(b"x")
    assert grow.resolve_lora(project) == picked
    run_dir = runs.start_run(project, "train", detach=False)
    (run_dir / "zq_tester-000002.safetensors").write_bytes(b"x")
    project.grow.epoch, project.grow.run = 2, run_dir.name
    assert grow.resolve_lora(project) == run_dir / "zq_tester-000002.safetensors"
    project.grow.epoch = 3
    with pytest.raises(UserError, match="grow.epoch = 3"):
        grow.resolve_lora(project)
    project.grow.epoch = 0
    project.grow.lora = str(tmp_path / "other.safetensors")
    with pytest.raises(UserError, match="grow.lora"):
        grow.resolve_lora(project)
