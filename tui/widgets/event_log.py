"""The dashboard's event list: the newest run events, each wrapped under its text.

A line of the list is ``HH:MM:SS text``; a long one (the model note of ``started``, a LoRA's
path in ``FINISHED``) wraps with its continuation under the text, not under the time, so at 80
columns nothing is cut.  The list shows as many whole events as its rows hold, newest at the
bottom, and lays itself out again on every resize (it wraps when it renders).
"""

from __future__ import annotations

import textwrap
from typing import Sequence

from rich.text import Text
from textual.widgets import Static

STAMP = len("00:00:00 ")
"""Columns of the time that starts each event line; continuation rows are indented by it."""


def fit_events(lines: Sequence[str], width: int, rows: int) -> list[str]:
    """The rows that show the newest of ``lines`` whole in ``rows`` rows of ``width`` columns.
    An event too long for all the rows alone keeps its first rows, the last one ending in …"""
    if width <= STAMP + 4 or rows <= 0:
        return [line[:max(0, width)] for line in lines[-rows:]] if rows > 0 else []
    shown: list[str] = []
    for line in reversed(lines):
        wrapped = textwrap.wrap(line, width, subsequent_indent=" " * STAMP,
                                break_on_hyphens=False) or [""]
        if len(shown) + len(wrapped) <= rows:
            shown[:0] = wrapped
            continue
        if not shown:
            head = wrapped[:rows]
            head[-1] = head[-1][:width - 1] + "…"
            shown = head
        break
    return shown


class EventLog(Static):
    """The newest events of a run, wrapped to the width it has (see :func:`fit_events`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.lines: list[str] = []

    def show(self, lines: Sequence[str]) -> None:
        if list(lines) != self.lines:
            self.lines = list(lines)
            self.refresh()

    def render(self) -> Text:
        size = self.content_size
        return Text("\n".join(fit_events(self.lines, size.width, size.height)), no_wrap=True,
                    overflow="ellipsis")
