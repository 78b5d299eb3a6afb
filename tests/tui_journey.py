"""Helpers for journey tests: what project.toml holds, and whether the app has gone idle."""

from __future__ import annotations

import tomllib
from pathlib import Path

SIZE = (80, 24)


def on_disk(root) -> dict:
    return tomllib.loads((Path(root) / "project.toml").read_text())


def disk_tags(root) -> dict[str, set[str]]:
    """crop name → the tags project.toml holds for it (kept or pruned)."""
    return {c["name"]: {t["tag"] for t in c.get("tags", [])}
            for c in on_disk(root)["crops"]["items"]}


def disk_box(root, name: str) -> list[int]:
    return next(c["box"] for c in on_disk(root)["crops"]["items"] if c["name"] == name)


class FrameCounter:
    """Counts the frames the app composes (headless too): a refresh loop keeps it climbing."""

    def __init__(self, app) -> None:
        self.frames = 0
        display = app._display

        def counted(screen, renderable):
            if renderable is not None:
                self.frames += 1
            return display(screen, renderable)

        app._display = counted


async def settle(app, pilot) -> None:
    """Let workers (image loading) and the messages they post finish."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def frames_while_idle(pilot, counter: FrameCounter, seconds: float) -> int:
    """Frames composed during ``seconds`` without input, after the keys' own frames."""
    await pilot.pause(0.2)
    start = counter.frames
    await pilot.pause(seconds)
    return counter.frames - start


async def select_crop(pilot, screen, name: str) -> None:
    for _ in range(len(screen.items()) + 1):
        if screen.selected_name() == name:
            return
        await pilot.press("tab")
    raise AssertionError(f"crop {name!r} not reachable with tab; at {screen.selected_name()!r}")
