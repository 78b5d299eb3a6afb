"""App-wide messages (toolong/posting style: small dataclasses with a docstring each).

Screen-specific messages may live on their screen; these are the ones several screens use.
``post_message`` is thread-safe, so thread workers report through these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message


@dataclass
class ProjectChanged(Message):
    """The project was opened, reloaded or replaced; screens should re-read ``app.project``."""

    project: Any
    """The new :class:`engine.project.Project` (``None`` when the project was closed)."""
    reason: str = "opened"
    """Why: "opened", "reloaded", "prepared" ..."""


@dataclass
class ProjectSaved(Message):
    """``project.toml`` was written."""

    path: Path


@dataclass
class TaskProgress(Message):
    """Progress of a background task (prep step, export...).  Coalesces: only the latest
    progress of the same task is kept in the queue."""

    task: str
    """Short name of the task, e.g. "upscale"."""
    done: float
    """Fraction finished, 0..1."""
    text: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TaskProgress) and message.task == self.task


@dataclass
class TaskFinished(Message):
    """A background task finished; ``result`` is whatever the engine returned."""

    task: str
    result: Any = None
    text: str = ""


@dataclass
class TaskFailed(Message):
    """A background task failed; ``error`` is a message meant for the user."""

    task: str
    error: str
    hint: str = ""
    details: dict = field(default_factory=dict)
