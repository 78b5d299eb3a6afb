"""The footer keeps its keys across focus changes that do not change them: Tab through the
settings form must not rebuild it (each rebuild laid the whole screen out again, ~150 ms per
Tab on a 2-core server), and it still changes when the keys do."""

from __future__ import annotations

from textual.widgets import Input

from engine import crops as ec
from tui.app import OneloraApp
from tui.widgets.key_footer import KeyFooter, shown_keys
from tui_journey import SIZE


async def test_tabbing_through_the_settings_form_keeps_the_footer(project):
    ec.auto_crops(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")  # the settings form
        await pilot.pause(0.2)
        footer = app.screen.query_one(KeyFooter)
        steps = []
        for _ in range(12):
            before = (type(app.focused), list(footer.children))
            await pilot.press("tab")
            steps.append((before, (type(app.focused), list(footer.children))))
            assert footer._shown == shown_keys(app.screen)
        same_kind = [(b, a) for b, a in steps if b[0] is a[0] is Input]
        assert len(same_kind) >= 6
        for before, after in same_kind:  # Input to Input: the very same key widgets
            assert after[1] == before[1] and all(x is y for x, y in zip(after[1], before[1]))


async def test_the_footer_follows_the_keys_of_a_new_screen(project):
    ec.auto_crops(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        crops_keys = app.screen.query_one(KeyFooter)._shown
        await pilot.press("2")
        await pilot.pause(0.3)
        footer = app.screen.query_one(KeyFooter)
        assert footer._shown == shown_keys(app.screen) != crops_keys
        labels = " ".join(str(k.render()) for k in footer.children)
        assert "Help" in labels or "help" in labels
