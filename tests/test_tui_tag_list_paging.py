"""pageup/pagedown on a tag list squeezed to no height do nothing (Textual's page move read
a line map built only for a visible list and raised KeyError: random-key walk, seed 2)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets.option_list import Option

from tui.widgets.tag_checklist import FrequencyList, TagChecklist


class Squeezed(App):
    CSS = "OptionList { height: 0; }"

    def __init__(self, cls) -> None:
        super().__init__()
        self.cls = cls

    def compose(self) -> ComposeResult:
        yield self.cls([Option("header", disabled=True), Option("smile", id="smile"),
                        Option("hat", id="hat")])


async def test_page_keys_on_a_tag_list_with_no_room_keep_the_app_running():
    for cls in (TagChecklist, FrequencyList):
        app = Squeezed(cls)
        async with app.run_test(size=(40, 10)) as pilot:
            lst = app.query_one(cls)
            lst.focus()
            lst.highlighted = 1
            await pilot.pause()
            before = lst.highlighted
            await pilot.press("pagedown", "pageup", "pagedown")
            await pilot.pause()
            assert app.is_running and app._exception is None
            assert lst.highlighted == before  # nothing to page through: the cursor stays
