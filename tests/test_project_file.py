"""Step 1 of the workflow: a project made from one image, stored in project.toml."""

from __future__ import annotations

import hashlib
import tomllib

import pytest

from engine import project as pj
from engine.cli import main
from engine.errors import UserError


def test_new_project_round_trips_through_toml(project):
    text = project.path.read_text()
    assert tomllib.loads(text)["trigger"] == "zq_tester"
    loaded = pj.load(project.root)
    assert loaded == project
    pj.save(loaded)
    assert pj.load(project.root) == loaded
    assert project.path.read_text() == text


def test_new_project_has_the_seed_defaults(project):
    t = project.train
    assert (t.network_dim, t.network_alpha) == (16, 16.0)
    assert (t.learning_rate, t.text_encoder_lr, t.unet_lr) == (1e-3, 5e-4, 1e-3)
    assert (t.lr_scheduler, t.lr_warmup_steps, t.optimizer) == ("constant_with_warmup", 0.05, "AdamW8bit")
    assert (t.batch_size, t.mixed_precision, t.save_precision, t.resolution) == (1, "fp16", "fp16", 512)
    assert (t.keep_tokens, t.clip_skip, t.shuffle_caption, t.color_aug, t.flip_aug) == (2, 2, True, True, False)
    assert (t.noise_offset, t.epochs, t.save_every_n_epochs, t.repeats) == (0.1, 10, 1, 5)
    assert project.reg.repeats == 1 and project.reg.count == 60
    assert t.block_weight_preset == "none" and not t.down_lr_weight


def test_new_project_copies_the_image_and_never_touches_the_original(small_image, tmp_path):
    before = hashlib.sha256(small_image.read_bytes()).hexdigest()
    p = pj.create(small_image, tmp_path / "p2", trigger="abc")
    assert (p.root / p.source.image).read_bytes() == small_image.read_bytes()
    assert p.source.sha256 == before
    assert hashlib.sha256(small_image.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("trigger", ["", "two words", "a,b", " "])
def test_new_refuses_a_bad_trigger(small_image, tmp_path, capsys, trigger):
    rc = main(["new", str(small_image), str(tmp_path / "p"), "--trigger", trigger])
    assert rc == 2
    err = capsys.readouterr().err
    assert "trigger" in err and "Traceback" not in err


def test_new_refuses_a_non_empty_folder_unless_forced(small_image, tmp_path, capsys):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert main(["new", str(small_image), str(target), "--trigger", "abc"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["new", str(small_image), str(target), "--trigger", "abc", "--force"]) == 0
    assert (target / "notes.txt").read_text() == "mine"


def test_new_refuses_a_missing_image(tmp_path, capsys):
    assert main(["new", str(tmp_path / "nope.png"), str(tmp_path / "p"), "--trigger", "abc"]) == 2
    assert "nope.png" in capsys.readouterr().err


def test_new_json_names_the_project_file(small_image, tmp_path, capsys):
    import json

    assert main(["new", str(small_image), str(tmp_path / "p"), "--trigger", "abc", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["project"].endswith("project.toml")


BAD_VALUES = [
    ("[train]\nnetwork_dim = -4\n", "train.network_dim", "minimum"),
    ("[train]\noptimizer = \"Adamm\"\n", "train.optimizer", "AdamW"),
    ("[train]\nlearning_rate = \"fast\"\n", "train.learning_rate", "number"),
    ("[train]\nshuffle_caption = 1\n", "train.shuffle_caption", "true or false"),
    ("[train]\ndown_lr_weight = [1, 0]\n", "down_lr_weight", "12"),
    ("[train]\nmixed_precision = \"fp8\"\n", "train.mixed_precision", "bf16"),
    ("[prep]\nupscale_to = 99999\n", "prep.upscale_to", "maximum"),
    ("[samples]\nweights = [\"high\"]\n", "samples.weights", "number"),
]


@pytest.mark.parametrize("snippet,key,hint", BAD_VALUES)
def test_a_bad_value_in_project_toml_names_the_key_and_what_is_allowed(project, snippet, key, hint):
    base = pj.dumps(project)
    data = tomllib.loads(base)
    data.update({k: {**data.get(k, {}), **v} for k, v in tomllib.loads(snippet).items()})
    import tomli_w

    project.path.write_text(tomli_w.dumps(data))
    with pytest.raises(UserError) as e:
        pj.load(project.root)
    msg = str(e.value)
    assert key in msg and hint in msg and "project.toml" in msg


def test_unknown_keys_warn_instead_of_crashing(project):
    project.path.write_text(project.path.read_text() + "\n[extra]\nfoo = 1\n")
    loaded = pj.load(project.root)
    assert any("extra" in w for w in loaded.warnings)


def test_a_newer_project_file_is_refused_with_an_upgrade_hint(project):
    text = project.path.read_text().replace("format_version = 1", "format_version = 99")
    project.path.write_text(text)
    with pytest.raises(UserError, match="newer"):
        pj.load(project.root)


def test_a_file_without_format_version_is_read_as_version_1(project):
    text = project.path.read_text().replace("format_version = 1\n", "")
    project.path.write_text(text)
    assert any("format_version" in w for w in pj.load(project.root).warnings)


def test_broken_toml_is_a_clear_error(project):
    project.path.write_text("trigger = \n")
    with pytest.raises(UserError, match="not valid TOML"):
        pj.load(project.root)


def test_set_setting_parses_cli_values(project):
    pj.set_setting(project, "epochs", "3")
    pj.set_setting(project, "down_lr_weight", "1,0,0,0,0,0,0,1,1,1,1,1")
    pj.set_setting(project, "train.optimizer", "AdamW")
    assert project.train.epochs == 3 and project.train.optimizer == "AdamW"
    assert project.train.down_lr_weight[:2] == [1.0, 0.0]
    with pytest.raises(UserError, match="train.epochs"):
        pj.set_setting(project, "epochs", "0")
    with pytest.raises(UserError, match="unknown setting"):
        pj.set_setting(project, "epochz", "3")


def test_every_setting_has_help_text():
    for cls in (pj.PrepSettings, pj.TagSettings, pj.RegSettings, pj.TrainSettings, pj.SampleSettings):
        docs = pj.field_help(cls)
        import dataclasses

        missing = [f.name for f in dataclasses.fields(cls) if f.name not in docs]
        assert not missing, f"{cls.__name__} fields without a docstring: {missing}"


def test_saving_is_atomic_and_leaves_no_temp_files(project):
    for i in range(5):
        project.train.epochs = i + 1
        pj.save(project)
    assert sorted(p.name for p in project.root.iterdir()) == ["project.toml", "source", "wildcards"]
