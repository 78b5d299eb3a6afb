"""Tags screen — placeholder until its feature lands (the owning helper replaces this file)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static


class TagsScreen(Screen):
    """Tags (not built yet)."""

    HELP_TITLE = "Tags"

    def compose(self) -> ComposeResult:
        yield Static("Tags", classes="screen-title")
        yield Static("Tags: not built yet.", classes="placeholder")
        yield Footer()
