"""Regularization screen — placeholder until its feature lands (the owning helper replaces this file)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static


class RegScreen(Screen):
    """Regularization (not built yet)."""

    HELP_TITLE = "Regularization"

    def compose(self) -> ComposeResult:
        yield Static("Regularization", classes="screen-title")
        yield Static("Regularization: not built yet.", classes="placeholder")
        yield Footer()
