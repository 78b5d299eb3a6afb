"""Closing a dialog with keys typed faster than the screen redraws (a key held down over SSH,
a burst from a paste): the dialog closes once and the screen under it stays."""

from __future__ import annotations

import pytest

from test_tui_random_keys import send_burst
from tui.app import OneloraApp
from tui.widgets.preset_picker import PresetPicker
from tui.widgets.train_dialogs import ConfirmScreen

SIZE = (80, 24)


@pytest.mark.parametrize("burst", [["escape", "escape", "escape"], ["q", "escape"], ["enter", "escape"]])
async def test_a_burst_of_close_keys_in_the_preset_picker_closes_only_the_picker(project, burst):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        crops = app.screen
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PresetPicker)
        send_burst(app, burst)
        await pilot.pause()
        await pilot.pause()
        assert app.is_running and app._exception is None
        assert app.screen is crops
        await pilot.press("p")  # the screen under it still works
        await pilot.pause()
        assert isinstance(app.screen, PresetPicker)


async def test_answering_a_dialog_and_cancelling_it_in_one_burst_answers_once(project):
    app = OneloraApp(project.root)
    answers = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        crops = app.screen
        app.push_screen(ConfirmScreen("Remove it?"), answers.append)
        await pilot.pause()
        send_burst(app, ["y", "n", "escape"])
        await pilot.pause()
        await pilot.pause()
        assert app.is_running and app._exception is None
        assert app.screen is crops
        assert answers == [True]
