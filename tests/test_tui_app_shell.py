"""The TUI shell: starts at 80×24 on a project, switches every mode by keyboard, shows help,
the picker without a project, the command palette and the theme toggle (Textual Pilot)."""

from __future__ import annotations

import time


from tui.app import FOOTER_MODES, MODE_TABLE, OneloraApp

SIZE = (80, 24)


async def test_tui_starts_at_80x24_and_switches_every_mode_by_digit_keys(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_mode == "crops"
        assert app.project.trigger == "zq_tester"
        for mode, _, cls, _, _, digit, _ in MODE_TABLE:
            await pilot.press(digit)
            await pilot.pause()
            assert app.current_mode == mode
            assert type(app.screen).__name__ == cls
        await pilot.press("1")
        await pilot.pause()
        assert app.current_mode == "crops"


async def test_function_keys_switch_modes_even_from_a_text_field(project):
    from textual.widgets import Input

    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # a focused text field keeps the digit; the F-key (a priority binding) still switches
        field = Input()
        await app.screen.mount(field)
        field.focus()
        await pilot.press("3")
        assert app.current_mode == "crops" and field.value == "3"
        await pilot.press("f3")
        await pilot.pause()
        assert app.current_mode == "reg"
        await pilot.press("f1")
        await pilot.pause()
        assert app.current_mode == "crops"
        fkeys = {b.key: b.action for b in OneloraApp.BINDINGS if b.priority}
        for mode, *_, fkey in MODE_TABLE:
            assert fkeys[fkey] == f"app.mode('{mode}')"


async def test_mode_bindings_have_ids_and_show_in_the_footer(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        ids = {b.id for b in OneloraApp.BINDINGS}
        for mode, *_ in MODE_TABLE:
            assert f"mode-{mode}" in ids
        footer_text = " ".join(str(w.render()) for w in app.screen.query("FooterKey"))
        for mode, *_, short, digit, _ in FOOTER_MODES:
            assert (short in footer_text) == (mode != app.current_mode)  # not the one shown


async def test_question_mark_opens_help_listing_the_screen_keys(project):
    from tui.screens.help import HelpScreen

    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        descriptions = [d for _, d, _ in app.screen._rows]
        assert "Crops" in descriptions and "Quit" in descriptions
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_picker_appears_without_a_project_and_opens_one(project, monkeypatch):
    from textual.widgets import OptionList

    from tui.screens.picker import PickerScreen

    monkeypatch.chdir(project.root.parent)
    app = OneloraApp(None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("1")  # modes are off until a project is open
        assert app.current_mode == "_default"
        assert app.screen.query_one(OptionList).option_count == 2  # + "new project"
        await pilot.press("enter")
        await pilot.pause()
        assert app.project is not None and app.project.trigger == "zq_tester"
        assert app.current_mode == "crops"


async def test_picker_rejects_a_folder_without_project_file(tmp_path, monkeypatch):
    from textual.widgets import Input, Static

    monkeypatch.chdir(tmp_path)
    app = OneloraApp(None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        field = app.screen.query_one(Input)
        await pilot.press("tab")  # from the list (the picker's main widget) to the path
        assert field.has_focus
        field.value = str(tmp_path)
        await pilot.press("enter")
        await pilot.pause()
        assert "project.toml not found" in str(app.screen.query_one("#picker-error", Static).render())
        assert app.project is None


async def test_theme_toggles_between_registered_dark_and_light(project):
    import themes

    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == themes.DARK.name
        await pilot.press("ctrl+t")
        assert app.theme == themes.LIGHT.name
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "theme: toggle dark/light" in commands
        assert "mode: tags" in commands


async def test_save_project_reports_errors_instead_of_crashing(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.project.class_name = "girl, boy"  # invalid: validation refuses to save it
        assert app.save_project() is False
        await pilot.pause()
        assert any("class_name" in n.message for n in app._notifications)


async def test_q_quits(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code in (0, None)


def test_tui_app_imports_fast():
    import subprocess
    import sys

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tui.app"], check=True)
    assert time.perf_counter() - start < 3.0


def footer_text(app) -> str:
    """The footer row as a user sees it: the keys whose cells lie inside the 80 columns."""
    from textual.widgets._footer import FooterKey

    footer = app.screen.query_one("Footer")
    right = footer.region.right
    for key in footer.query(FooterKey).filter(".-command-palette"):
        right = min(right, key.region.x)  # docked on the right, it covers what runs under it
    shown = []
    for key in footer.query(FooterKey).exclude(".-command-palette"):
        region = key.region
        if region.width and region.right <= right:
            shown.append(f"{key.key_display} {key.description}".strip())
    return " ".join(shown)


async def test_every_screen_footer_shows_mode_keys_and_help_at_80_columns(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for mode, _, _, _, short, digit, _ in MODE_TABLE:
            await pilot.press(digit)
            await pilot.pause(0.3)
            text = footer_text(app)
            for shown, _, _, _, other, d, _ in FOOTER_MODES:
                if shown != mode:  # the mode on screen is named by its title instead
                    assert f"{d} {other}" in text, (mode, text)
            assert "? Help" in text, (mode, text)


async def test_in_a_text_field_the_footer_shows_the_f_keys_for_modes(project):
    from textual.widgets import Input

    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause(0.3)
        app.screen.query_one("#trigger", Input).focus()
        await pilot.pause(0.3)
        text = footer_text(app)
        assert "f1 Crops" in text and "f6 Grow" in text, text


async def test_help_box_keeps_its_hint_line_on_screen_at_80x24(project):
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        hint = app.screen.query_one("#help-hint")
        box = app.screen.query_one("#help-box")
        assert hint.region.height == 1
        assert box.region.contains_region(hint.region)
        assert box.region.bottom <= SIZE[1]


async def test_open_draws_the_frame_first_then_the_start_screen(project):
    """``onelora open`` (run_app) defers building the first screen until a frame is up."""
    app = OneloraApp(project.root, defer_first_screen=True)
    async with app.run_test(size=SIZE) as pilot:
        frame = app.screen_stack[0]
        title = str(frame.query_one(".screen-title").render())
        assert "opening" in title and str(project.root) in title
        assert frame.query("Footer")
        await pilot.pause(0.3)
        assert app.current_mode == "crops"
        assert type(app.screen).__name__ == "CropsScreen"


async def test_samples_help_lists_only_onelora_keys_screen_first(project):
    from tui.screens.help import HelpScreen

    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("5")
        await pilot.pause(0.3)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Arrows move" in str(app.screen.query_one("#help-intro").render())  # its HELP
        descriptions = [d for _, d, _ in app.screen._rows]
        assert descriptions.index("Pick epoch") < descriptions.index("Crops")
        # Textual's generic bindings (a table's cursor keys, copy, palette) are not listed
        generic = {"Cursor down", "Cursor up", "Page down", "Copy selected text", "palette"}
        assert not generic & set(descriptions), descriptions
