"""Mode keys from a user walk at 80×24, keyboard only: they work over the help and over the
project picker (closing it, never leaving it stacked under another mode), and every mode key
that works is in the footer, Grow (6) included."""

from __future__ import annotations

from engine import crops as ec
from test_tui_app_shell import footer_text
from tui.app import MODE_TABLE, OneloraApp
from tui_journey import SIZE, on_disk


async def test_a_mode_key_pressed_in_the_help_closes_it_and_switches(project):
    from tui.screens.help import HelpScreen

    ec.auto_crops(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        for mode, _, cls, _, _, digit, _ in [*MODE_TABLE[1:], MODE_TABLE[0]]:
            await pilot.press("question_mark")
            await pilot.pause(0.1)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press(digit)
            await pilot.pause(0.2)
            assert app.current_mode == mode and type(app.screen).__name__ == cls, digit
            assert len(app.screen_stack) == 1  # the help is gone, not stacked in the old mode
        # the key of the mode the help was opened on closes it too
        await pilot.press("question_mark", "1")
        await pilot.pause(0.2)
        assert app.current_mode == "crops" and type(app.screen).__name__ == "CropsScreen"
        # an F-key too, and going back to the mode the help was open on shows that mode
        await pilot.press("2", "question_mark", "f3")
        await pilot.pause(0.2)
        assert app.current_mode == "reg"
        await pilot.press("2")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "TagsScreen"


async def test_every_mode_key_is_in_the_footer_at_80_columns(project):
    ec.auto_crops(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        for mode, _, _, title, _, digit, _ in MODE_TABLE:
            await pilot.press(digit)
            await pilot.pause(0.3)
            text = footer_text(app)
            for other, _, _, _, short, d, _ in MODE_TABLE:
                if other != mode:  # the mode on screen is named by its title
                    assert f"{d} {short}" in text, (mode, text)
            assert "6 Grow" in text or mode == "grow", text
            assert "? Help" in text, (mode, text)


async def test_mode_keys_over_the_project_picker_close_it_and_switch(project, tmp_path,
                                                                      monkeypatch):
    from tui.screens.picker import PickerScreen

    ec.auto_crops(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("2")
        await pilot.pause(0.2)
        app._show_picker(can_cancel=True)  # "project: open another" in the palette
        await pilot.pause(0.2)
        assert isinstance(app.screen, PickerScreen)
        assert "4 Train" in footer_text(app)  # offered there ...
        await pilot.press("4")  # ... and it works: the picker closes, Train shows
        await pilot.pause(0.3)
        assert app.current_mode == "train" and type(app.screen).__name__ == "TrainScreen"
        await pilot.press("2")  # back on Tags: no picker left stacked there
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "TagsScreen"
        assert not any(isinstance(s, PickerScreen) for s in app.screen_stack)
        # the key of the mode under it is not offered (esc Back is) and changes nothing
        app._show_picker(can_cancel=True)
        await pilot.pause(0.3)
        text = footer_text(app)
        assert "2 Tags" not in text and "esc Back" in text and "6 Grow" in text, text
        assert "? Help" in text, text
        await pilot.press("2")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "TagsScreen" and len(app.screen_stack) == 1
