"""The yes/no dialog (tui.widgets.train_dialogs.ConfirmScreen) at 80×24: a question longer than
the dialog wraps instead of being cut."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Label

from tui.widgets.train_dialogs import ConfirmScreen

QUESTION = ("Run 20261127-172058-train of this project is still training.\n"
            "Start a second training run at the same time?")


def shown_text(widget) -> str:
    """The widget's text as far as its container lets it be seen."""
    visible = widget.region.intersection(widget.parent.content_region)
    lines = widget.render_lines(widget.region.reset_offset)
    width = visible.right - widget.region.x
    return " ".join("".join(seg.text for seg in line)[:width].strip() for line in lines)


async def test_a_second_run_question_is_shown_whole_at_80_columns():
    """Found in a walk: ctrl+g during a run asked "…of this project is still tra" — the
    dialog cut the first line at its width."""
    answers = []

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ConfirmScreen(QUESTION), answers.append)

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        label = app.screen.query(Label).first()
        text = shown_text(label)
        for word in QUESTION.split():
            assert word in text, (word, text)
        await pilot.press("n")
        await pilot.pause()
    assert answers == [False]
