"""At 80×24 (a user over SSH) the essential part of each message is on screen: the number,
the file, what to do.  Each test reads the composed screen rows (tests/screen_text.py), not a
widget's own text, so a word cut by a container, a scrollbar or a one-row slot fails it."""

from __future__ import annotations

from textual.widgets import Input

from engine import project as pj
from engine import tags as tg
from screen_text import joined, rows_with, screen_lines
from tui.screens.tags import TagsScreen
from tui.widgets.tag_checklist import TagChecklist
from tui_host import ScreenHost

SIZE = (80, 24)

MANY_TAGS = ["1girl", "solo", "standing", "looking_at_viewer", "closed_mouth", "white_headwear",
             "hat_bow", "green_bow", "white_capelet", "striped", "black_corset", "long_skirt",
             "white_skirt", "long_sleeves", "wrist_cuffs", "boots", "simple_background",
             "white_background", "brown_hair", "long_hair", "blue_eyes", "blunt_bangs"]


async def test_tags_pruned_header_shows_its_count_beside_the_scrollbar(project):
    """Walk: the list of a crop with many tags has a scrollbar; the pruned header read
    "── pruned — left to the trigger · space keeps" and its "(4)" was under the scrollbar."""
    project.crops.items = [pj.Crop(name="full_body", box=[0, 0, 96, 160], preset="full_body")]
    tg.tag_crops(project, MANY_TAGS)
    pj.save(project)
    crop = project.crop("full_body")
    kept = sum(1 for t in crop.tags if t.kept and t.source != "crop")
    pruned = sum(1 for t in crop.tags if not t.kept)
    assert pruned >= 3
    app = ScreenHost(project, TagsScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        checklist = app.screen.query_one(TagChecklist)
        checklist.focus()
        await pilot.press("end")
        await pilot.pause()
        assert checklist.max_scroll_y > 0  # the list scrolls: a scrollbar narrows it
        assert rows_with(app, f"pruned ({pruned})"), screen_lines(app)
        checklist.scroll_home(animate=False)
        await pilot.pause()
        assert rows_with(app, f"kept ({kept})"), "\n".join(screen_lines(app))


async def test_train_settings_refused_value_shows_its_limit_at_80_columns(project):
    """Walk: epochs 0 showed "too small: the minimum" beside the field; "is 1" was on a
    second row the one-row slot hides.  Now the slot says the limit and the help line under
    the form gives the whole refusal while the field has focus."""
    from test_tui_train_dashboard import FakeEngine
    from test_tui_train_dashboard import Host as TrainHost
    from tui.widgets.settings_form import SettingsForm

    app = TrainHost(project, FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        form = app.screen.query_one(SettingsForm)
        epochs = form.query_one("#train--epochs", Input)
        epochs.focus()
        await pilot.press("ctrl+u", "0")
        await pilot.pause()
        assert pj.load(project.root).train.epochs == project.train.epochs != 0
        row = next(r for r in screen_lines(app) if r.lstrip().startswith("epochs "))
        assert "min 1" in row, row
        assert "✗ epochs: too small: the minimum is 1" in joined(app), screen_lines(app)
        await pilot.press("ctrl+u", "x")
        await pilot.pause()
        row = next(r for r in screen_lines(app) if r.lstrip().startswith("epochs "))
        assert "use a whole number" in row, row
        await pilot.press("ctrl+u", "4")
        await pilot.pause()
        assert pj.load(project.root).train.epochs == 4
        assert "epochs: Number of" in joined(app)  # the help line is the docstring again
