"""Train settings: each valid value reaches project.toml at once, whatever other field holds
text it refused, and quitting with refused text on screen asks first (found in a walk: one
invalid epochs held back every other edit, and q dropped them all without a word)."""

from __future__ import annotations

import pytest

from engine import crops as ec
from engine import project as pj
from tui.app import OneloraApp
from tui.widgets.train_dialogs import ConfirmScreen
from tui_journey import SIZE, on_disk


@pytest.fixture
def cropped(project):
    ec.auto_crops(project)
    pj.save(project)
    return project


async def open_settings_and_refuse_epochs(pilot, app) -> None:
    await pilot.press("4")
    await pilot.pause(0.2)
    await pilot.press("ctrl+o")
    await pilot.pause(0.2)
    await pilot.press(*["tab"] * 8, "0")  # ... train_text_encoder, epochs: 0 is refused
    await pilot.pause()
    assert app.focused.id == "train--epochs"


async def test_a_valid_field_saves_while_another_is_refused(cropped):
    project = cropped
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await open_settings_and_refuse_epochs(pilot, app)
        await pilot.press(*["shift+tab"] * 4, "8", "enter")  # network_alpha
        await pilot.pause()
        assert app.focused.id == "train--network_alpha"
        data = on_disk(project.root)["train"]
        assert data["network_alpha"] == 8 and data["epochs"] == 10
        await pilot.press("escape", "q")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, ConfirmScreen)  # epochs 0 is on screen only
        await pilot.press("y")
        await pilot.pause()
    assert not app.is_running
    data = on_disk(project.root)["train"]
    assert data["network_alpha"] == 8 and data["epochs"] == 10


async def test_no_as_the_answer_keeps_the_app_open_to_fix_the_field(cropped):
    project = cropped
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await open_settings_and_refuse_epochs(pilot, app)
        await pilot.press("escape", "q")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        app.screen.query_one("#train--epochs").focus()
        await pilot.press("tab", "shift+tab", "4")  # Tab selects the value: typing replaces
        await pilot.pause()
        await pilot.press("escape", "q")
        await pilot.pause()
    assert not app.is_running
    assert on_disk(project.root)["train"]["epochs"] == 4
