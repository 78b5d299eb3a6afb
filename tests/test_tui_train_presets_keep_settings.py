"""Training settings and presets (ctrl+l / ctrl+s on the Training screen's settings): a user
walk found that ctrl+l then enter (the first entry is the built-in seed preset) put every tuned
training setting back to the defaults on disk with no way back, and that saving a preset under
an existing name replaced it without a word."""

from __future__ import annotations

import tomllib

from engine.api import Engine
from tui.app import OneloraApp
from tui_journey import SIZE, on_disk


async def _epochs_field(app, pilot, open_settings=True) -> None:
    if open_settings:  # ctrl+o switches between the dashboard and the settings
        await pilot.press("ctrl+o")
        await pilot.pause()
    for _ in range(8):  # output_name, model, dims, alphas, train_text_encoder, epochs
        await pilot.press("tab")
    assert app.screen.focused.id.endswith("epochs")


async def test_loading_a_preset_keeps_the_replaced_settings_as_preset_previous(project):
    app = OneloraApp(project.root, start_mode="train", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _epochs_field(app, pilot)
        await pilot.press("3", "escape")
        await pilot.pause()
        app.flush_project()
        assert on_disk(project.root)["train"]["epochs"] == 3
        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("enter")  # the built-in seed preset: the defaults
        await pilot.pause()
        app.flush_project()
        assert on_disk(project.root)["train"]["epochs"] == 10
        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("down", "enter")  # "previous": the settings the load replaced
        await pilot.pause()
        await pilot.press("q")
    assert on_disk(project.root)["train"]["epochs"] == 3


async def test_saving_a_preset_under_an_existing_name_asks_first(project):
    preset = project.root / "presets" / "fast.toml"
    app = OneloraApp(project.root, start_mode="train", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _epochs_field(app, pilot)
        await pilot.press("3", "escape")
        await pilot.press("ctrl+s", *"fast", "enter")
        await pilot.pause()
        assert tomllib.loads(preset.read_text())["train"]["epochs"] == 3
        await _epochs_field(app, pilot, open_settings=False)
        await pilot.press("4", "escape")
        await pilot.press("ctrl+s", *"fast", "enter")
        await pilot.pause()
        await pilot.press("n")  # keep the saved one
        await pilot.pause()
        assert tomllib.loads(preset.read_text())["train"]["epochs"] == 3
        await pilot.press("ctrl+s", *"fast", "enter")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("q")
    assert tomllib.loads(preset.read_text())["train"]["epochs"] == 4


async def test_saving_a_preset_shows_the_names_already_in_use_at_80_columns(project):
    from screen_text import joined
    from tui.widgets.train_dialogs import PresetNameScreen

    presets = project.root / "presets"
    presets.mkdir()
    names = ["fast", "slow and careful", "style (v2)", "lr-1e-4", "many epochs", "bf16 batch 2"]
    for name in names:
        (presets / f"{name}.toml").write_text("[train]\nepochs = 3\n")
    app = OneloraApp(project.root, start_mode="train", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, PresetNameScreen)
        shown = joined(app)
        for name in names:  # every name whole on the 80×24 screen (wrapped, not cut)
            assert name in shown, (name, shown)
        assert "single image (seed)" not in shown  # not a name a user can save under
        await pilot.press(*"fast", "enter")  # a name in use: it still asks first
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
    assert (presets / "fast.toml").read_text() == "[train]\nepochs = 3\n"
