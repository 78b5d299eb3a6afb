"""Page keys typed before a list has a size (a burst of keys right after a dialog or screen
opens) never end the app: every option list on our screens pages safely."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.widgets.paging import SafePaging

TUI = Path(__file__).resolve().parent.parent / "tui"


class Host(App):
    def __init__(self, kind) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        lst = self.kind(*[Option(f"option {i}") for i in range(30)], id="l")
        lst.display = False  # no size yet: Textual has mapped no option to a line
        yield lst


async def test_page_down_on_a_list_without_a_size_moves_the_highlight_instead_of_crashing():
    app = Host(SafePaging)
    async with app.run_test(size=(80, 24)) as pilot:
        lst = app.query_one("#l", OptionList)
        lst.highlighted = 3
        lst.action_page_down()
        await pilot.pause()
        assert app.is_running and app._exception is None
        assert lst.highlighted == 29
        lst.action_page_up()
        assert lst.highlighted == 0


def test_every_option_list_on_our_screens_pages_safely():
    plain = [f"{p.relative_to(TUI)}" for p in TUI.rglob("*.py")
             if "yield OptionList(" in p.read_text(encoding="utf-8")]
    assert plain == [], f"use tui.widgets.paging.SafePaging in {plain}"
