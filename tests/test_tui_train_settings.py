"""Training screen, settings tab: every setting present, inline validation blocks a run,
presets save and load."""

from __future__ import annotations

import dataclasses

from textual.widgets import Input, TabbedContent

from engine import project as pj
from test_tui_train_dashboard import FakeEngine, Host
from tui.widgets.settings_form import CycleField, SettingsForm, all_groups
from tui.widgets.train_dialogs import SEED_PRESET, load_preset, preset_names, save_preset


def test_every_train_setting_is_in_a_group():
    keys = {k for _, ks in all_groups() for k in ks}
    for f in dataclasses.fields(pj.TrainSettings):
        assert f"train.{f.name}" in keys
    titles = [t for t, _ in all_groups()]
    assert titles[:7] == ["Network", "Learning rates & schedule", "Block weights",
                          "Data & buckets", "Augmentation", "Precision & memory", "Samples"]


async def wait_group(app, group: str) -> None:
    """Wait for the screen's thread workers of ``group`` (e.g. the run-start check)."""
    for worker in [w for w in app.workers if w.group == group]:
        await worker.wait()


async def open_settings(pilot):
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert pilot.app.screen.query_one(TabbedContent).active == "settings"


async def test_bad_value_shows_beside_the_field_and_blocks_the_run(project):
    engine = FakeEngine()
    app = Host(project, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(pilot)
        form = app.screen.query_one(SettingsForm)
        epochs = form.query_one("#train--epochs", Input)
        epochs.focus()
        await pilot.press("ctrl+u", "x", "y")
        await pilot.pause()
        err = str(form.query_one("#err-train--epochs").render())
        assert "whole number" in err and epochs.has_class("-invalid")
        assert project.train.epochs == 10  # the project keeps the last good value
        await pilot.press("ctrl+g")
        await pilot.pause()
        await wait_group(app, "run-start")
        await pilot.pause()
        assert engine.started == []  # the run cannot start
        assert "epochs" in str(form.query_one("#form-status").render())
        await pilot.press("ctrl+u", "3")
        await pilot.pause()
        assert project.train.epochs == 3 and not form.problems()
        assert pj.load(project.root).train.epochs == 3  # saved
        await pilot.press("ctrl+g")
        await pilot.pause()
        await wait_group(app, "run-start")
        await pilot.pause()
        assert len(engine.started) == 1
        assert "epochs = 3" in (engine.started[0] / "config.toml").read_text()


async def test_range_and_cross_field_rules_are_checked(project):
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(pilot)
        form = app.screen.query_one(SettingsForm)
        assert form.apply("train.network_dim", "0") is False
        assert "minimum is 1" in form.errors["train.network_dim"]
        assert form.apply("train.network_dim", "32") and project.train.network_dim == 32
        assert form.apply("train.down_lr_weight", "1, 0.5, 0")  # wrong length: cross rule
        assert any("exactly 12" in p for p in form.problems())
        assert form.apply("train.down_lr_weight", ", ".join(["0.5"] * 12))
        assert not form.problems() and project.train.down_lr_weight == [0.5] * 12


async def test_choice_and_bool_fields_cycle_with_keys(project):
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(pilot)
        form = app.screen.query_one(SettingsForm)
        form.query_one("#train--mixed_precision", CycleField).focus()
        await pilot.press("space")
        await pilot.pause()
        assert project.train.mixed_precision == "bf16"
        form.query_one("#train--flip_aug", CycleField).focus()
        await pilot.press("space")
        await pilot.pause()
        assert project.train.flip_aug is True
        assert pj.load(project.root).train.mixed_precision == "bf16"


def test_presets_save_load_and_keep_the_model(project):
    project.train.network_dim = 8
    project.train.model = "/models/anything.safetensors"
    save_preset(project, "small rank")
    assert (project.root / "presets" / "small rank.toml").exists()
    assert preset_names(project) == [SEED_PRESET, "small rank"]
    load_preset(project, SEED_PRESET)
    assert project.train.network_dim == 16 and project.train.model == "/models/anything.safetensors"
    load_preset(project, "small rank")
    assert project.train.network_dim == 8


async def test_loading_a_preset_by_keys_refreshes_the_form(project):
    project.train.network_dim = 4
    pj.save(project)
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(pilot)
        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("enter")  # the built-in seed preset is first
        await pilot.pause()
        form = app.screen.query_one(SettingsForm)
        assert project.train.network_dim == 16
        assert form.query_one("#train--network_dim", Input).value == "16"
        assert pj.load(project.root).train.network_dim == 16


async def test_optimizer_adamw8bit_warns_beside_the_field_without_a_gpu(project, monkeypatch):
    import tui.widgets.settings_form as sf

    monkeypatch.setattr(sf, "cuda_gpu_visible", lambda: False)
    project.train.optimizer = "AdamW8bit"
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(pilot)
        form = app.screen.query_one(SettingsForm)
        note = form.query_one("#err-train--optimizer")
        assert "no CUDA GPU" in str(note.render()) and note.has_class("-note")
        assert "AdamW" in str(form.query_one("#form-status").render())
        assert not form.problems()  # a warning, not a blocker
        opt = form.query_one("#train--optimizer", CycleField)
        opt.focus()
        while project.train.optimizer != "AdamW":
            await pilot.press("right")
            await pilot.pause()
        assert str(note.render()).strip() == "" and not note.has_class("-note")
        assert "✓ valid" in str(form.query_one("#form-status").render())


def test_optimizer_note_only_for_adamw8bit_and_only_without_gpu():
    from tui.widgets.settings_form import optimizer_note

    assert optimizer_note("AdamW", gpu=False) == ""
    assert "GPU" in optimizer_note("AdamW8bit", gpu=False)


async def test_opening_the_settings_form_saves_nothing_and_bad_text_stays_visible(project):
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(pilot)
        await pilot.pause(0.3)
        assert app.saves == 0  # building the form is not an edit (it used to save ~40 times)
        form = app.screen.query_one(SettingsForm)
        epochs = form.query_one("#train--epochs", Input)
        epochs.focus()
        await pilot.press("ctrl+u", "x")
        await pilot.pause()
        assert epochs.has_class("-invalid")
        assert epochs.styles.border_top[0] in ("", "none")  # one row: a border would hide "x"
        assert epochs.content_region.height == 1
