"""Samples screen — placeholder until its feature lands (the owning helper replaces this file)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static


class SamplesScreen(Screen):
    """Samples (not built yet)."""

    HELP_TITLE = "Samples"

    def compose(self) -> ComposeResult:
        yield Static("Samples", classes="screen-title")
        yield Static("Samples: not built yet.", classes="placeholder")
        yield Footer()
