"""Keys in dialogs and on the project picker, found in a keyboard-only walk at 80×24:
q closes a dialog as escape does (never quits from under it, never answers it), and the picker's
footer shows only keys that work."""

from __future__ import annotations

import asyncio
import json
import tomllib

import pytest
from textual.app import App

from test_tui_train_dashboard import FakeEngine, fake_run
from test_tui_train_dashboard import Host as TrainHost
from tui.app import OneloraApp
from tui.commands import screen_commands
from tui.screens.picker import PickerScreen
from tui.widgets.key_footer import shown_keys
from tui.widgets.preset_picker import PresetPicker
from tui.widgets.train_dialogs import ConfirmScreen, PickScreen, PresetNameScreen

SIZE = (80, 24)


def stored_crops(app) -> dict:
    app.flush_project()
    data = tomllib.loads(app.project.path.read_text())
    return {c["name"]: (c["box"], c.get("preset", "")) for c in data["crops"]["items"]}


async def test_q_in_the_preset_picker_closes_it_and_leaves_the_crop_as_it_was(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        crops = app.screen
        before = stored_crops(app)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PresetPicker)
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen is crops
        assert stored_crops(app) == before
        await pilot.press("p", "u")  # the dialog still works after a q
        await pilot.pause()
        assert app.screen is crops
        assert stored_crops(app)[crops.selected_name()][1] == "upper_body"


async def test_q_in_the_stop_dialog_cancels_and_the_run_goes_on(project):
    run_dir = fake_run(project)
    w = open(run_dir / "events.jsonl", "a")
    w.write(json.dumps({"t": 1.0, "kind": "started", "total_steps": 10, "epochs": 1,
                        "steps_per_epoch": 10, "device": "cpu", "precision": "no"}) + "\n")
    w.close()
    engine = FakeEngine()
    app = TrainHost(project, engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for _ in range(60):
            await pilot.pause(0.05)
            if screen.snapshot.get("status") == "running":
                break
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen is screen
        assert not (run_dir / "control").exists() and engine.sent == []
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert engine.sent == [(run_dir, "stop")]


DIALOGS = {
    "confirm": (lambda: ConfirmScreen("Stop run x?"), False),
    "pick a run": (lambda: PickScreen("Runs", [("a", "run a"), ("b", "run b")]), None),
    "preset": (PresetPicker, None),
}


@pytest.mark.parametrize("name", list(DIALOGS))
async def test_q_closes_each_dialog_like_escape(name):
    make, cancelled = DIALOGS[name]
    answers = []

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(make(), answers.append)

    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert answers == [cancelled]
        assert app.is_running


async def test_q_typed_in_a_dialogs_text_field_is_text_not_close():
    answers = []

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(PresetNameScreen(), answers.append)

    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q", "u", "i", "c", "k", "enter")
        await pilot.pause()
    assert answers == ["quick"]


def footer_keys(app) -> dict[str, str]:
    """key → description of what the footer shows now."""
    return {key: desc for key, _, desc, *_ in shown_keys(app.screen)}


async def test_picker_without_a_project_shows_quit_not_back_and_escape_says_why(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = OneloraApp(None)
    exits = []
    real_exit = app.exit
    app.exit = lambda *a, **k: (exits.append(a), real_exit(*a, **k))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        keys = footer_keys(app)
        assert "escape" not in keys, keys  # nothing to go back to: no "esc Back"
        assert keys.get("q") == "Quit", keys
        titles = [t for t, _, _ in screen_commands(app.screen)]
        assert "picker: back" not in titles and "picker: quit" in titles
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, PickerScreen) and not exits
        assert any("nothing to go back to" in n.message for n in app._notifications)
        await pilot.press("tab")  # into the path field: escape leaves it
        await pilot.pause()
        assert footer_keys(app).get("escape") == "Leave field"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen) and app.screen.focused.id == "picker-list"
        await pilot.press("q")
        await pilot.pause()
    assert exits


async def test_picker_opened_over_a_project_goes_back_with_escape(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        crops = app.screen
        app._show_picker(can_cancel=True)
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        keys = footer_keys(app)
        assert keys.get("escape") == "Back" and "q" not in keys, keys
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is crops and app.project is not None


async def press_and_look(app, table, key: str, done) -> None:
    """Send ``key`` as the terminal does and return as soon as the help has handled it, without
    waiting for animations (Pilot's press waits for them; a user does not)."""
    from textual import events

    app.post_message(events.Key(key, None))
    for _ in range(2000):
        await asyncio.sleep(0.001)
        if done():
            return
    raise AssertionError(f"{key} was not handled")


async def test_help_end_shows_the_last_key_at_once_and_home_the_first(project):
    from tui.screens.help import HelpScreen

    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "full"  # as in a real terminal
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table")
        bottom = table.max_scroll_y
        assert bottom > 0  # the crops keys do not fit at 80×24: there is something to scroll
        await press_and_look(app, table, "end", lambda: table.scroll_target_y == bottom)
        assert table.scroll_y == bottom
        await press_and_look(app, table, "home", lambda: table.scroll_target_y == 0)
        assert table.scroll_y == 0
        await press_and_look(app, table, "pagedown", lambda: table.scroll_target_y > 0)
        assert 0 < table.scroll_y == table.scroll_target_y
        await pilot.press("ctrl+end")
        assert table.scroll_y == bottom
        await pilot.press("pageup", "pageup")
        assert table.scroll_y == 0
