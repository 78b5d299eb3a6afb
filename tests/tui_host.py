"""A stand-in for OneloraApp in screen tests: .project, .engine, .save_project() and one screen."""

from __future__ import annotations

from typing import Callable

from textual.app import App
from textual.screen import Screen

from engine import project as pj
from engine.api import Engine


class ScreenHost(App):
    """Mounts one screen over a project, with the App attributes screens rely on."""

    def __init__(self, project: pj.Project, screen: Callable[[], Screen],
                 engine: Engine | None = None) -> None:
        super().__init__()
        self.project = project
        self.engine = engine if engine is not None else Engine()
        self.saves = 0
        self._make_screen = screen

    def save_project(self) -> bool:
        pj.save(self.project)
        self.saves += 1
        return True

    def on_mount(self) -> None:
        self.push_screen(self._make_screen())
