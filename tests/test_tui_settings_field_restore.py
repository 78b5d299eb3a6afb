"""Reg and train settings: Tab into a field selects its value and every change is saved at
once, so one key typed by mistake replaced a long prompt on disk with no way back (a user walk:
Tab Tab `x` on the Reg screen left ``negative = "x"``).  ctrl+z in the field puts back the
value it had when it was entered, and that is what project.toml holds again."""

from __future__ import annotations

from engine.api import Engine
from tui.app import OneloraApp
from tui_journey import SIZE, on_disk


async def test_reg_negative_replaced_by_one_key_comes_back_with_ctrl_z(project):
    negative = on_disk(project.root)["reg"]["negative"]
    assert len(negative) > 40
    app = OneloraApp(project.root, start_mode="reg", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("tab", "tab")
        assert app.screen.focused.id == "reg-negative"
        await pilot.press("x")
        await pilot.pause()
        app.flush_project()
        assert on_disk(project.root)["reg"]["negative"] == "x"
        await pilot.press("ctrl+z")
        await pilot.pause()
        app.flush_project()
        assert on_disk(project.root)["reg"]["negative"] == negative
        await pilot.press("escape", "q")
    assert on_disk(project.root)["reg"]["negative"] == negative


async def test_train_setting_typed_over_comes_back_with_ctrl_z(project):
    app = OneloraApp(project.root, start_mode="train", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        for _ in range(8):  # output_name, model, dims..., train_text_encoder, epochs
            await pilot.press("tab")
        assert app.screen.focused.id.endswith("epochs")
        await pilot.press("3")
        await pilot.pause()
        app.flush_project()
        assert on_disk(project.root)["train"]["epochs"] == 3
        await pilot.press("ctrl+z")
        await pilot.pause()
        await pilot.press("escape", "q")
    assert on_disk(project.root)["train"]["epochs"] == 10
