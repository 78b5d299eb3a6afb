"""Regularization screen (Pilot, 80×24, no torch): the form saves valid values and shows the
prompt preview, generate starts a "reg" run, and the gallery prunes and restores by keys."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from textual.widgets import Input, Static

from engine import events, runs
from engine import project as pj
from engine import reg as rg
from engine.api import Engine
from tui.screens.reg import RegScreen
from tui.widgets.image_view import ImageView
from tui_host import ScreenHost


class FakeEngine(Engine):
    """Starts no process: makes the run directory and writes the worker's first events."""

    def __init__(self) -> None:
        self.started: list[Path] = []
        self.sent: list[tuple[Path, str]] = []

    def start_run(self, project, kind="train", **run):
        pj.save(project)
        run_dir = runs.start_run(project, kind, detach=False, **run)
        (run_dir / "pid").write_text(str(os.getpid()))
        with events.EventWriter(run_dir) as w:
            w.emit("started", total_steps=project.reg.count)
            w.emit("progress", step=1, total_steps=project.reg.count)
        self.started.append(run_dir)
        return run_dir

    def send(self, run_dir, command):
        self.sent.append((Path(run_dir), command))


def Host(project: pj.Project, engine: Engine | None = None) -> ScreenHost:
    return ScreenHost(project, RegScreen, engine)


def planted_images(project, n=3):
    folder = rg.reg_folder(project)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (32, 32), (i * 80, 50, 50)).save(folder / f"{i:04d}.png")
        (folder / f"{i:04d}.txt").write_text(f"1woman, solo, pose{i}\n")


async def test_tui_reg_form_saves_and_previews_and_generate_starts_a_run(project):
    engine = FakeEngine()
    app = Host(project, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        preview = str(screen.query_one("#reg-preview", Static).render())
        assert "1girl, solo, clothes" in preview and "__" not in preview
        count = screen.query_one("#reg-count", Input)
        count.value = "12"
        await pilot.pause()
        assert pj.load(project.root).reg.count == 12
        count.value = "-3"  # refused: the old value stays
        await pilot.pause()
        assert "too small" in str(screen.query_one("#reg-status", Static).render())
        assert pj.load(project.root).reg.count == 12
        prompt = screen.query_one("#reg-prompt", Input)
        prompt.focus()
        prompt.value = "1woman, {red|blue} dress"
        await pilot.pause()
        await pilot.press("end", "g")  # typed into the field, not a command
        await pilot.pause()
        assert engine.started == []
        assert prompt.value.endswith("dressg")
        assert "dressg" in str(screen.query_one("#reg-preview", Static).render())
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert len(engine.started) == 1
        assert runs.read_config(engine.started[0])["run"]["kind"] == "reg"
        screen.poll_run()  # a thread worker: the head changes a moment later
        for _ in range(60):
            head = str(screen.query_one("#reg-head", Static).render())
            if "1/12" in head:
                break
            await pilot.pause(0.05)
        assert "running" in head and "1/12" in head
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert engine.sent and engine.sent[0][1] == "stop"


async def test_tui_reg_gallery_prunes_and_restores_by_keys(project):
    planted_images(project)
    app = Host(project, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert screen.in_gallery()
        assert "1/3 0000.png" in str(screen.query_one("#reg-caption", Static).render())
        await pilot.press("right")
        await pilot.pause()
        assert screen.query_one(ImageView).image.getpixel((5, 5)) == (80, 50, 50)
        await pilot.press("d")
        await pilot.pause()
        saved = pj.load(project.root)
        assert saved.reg.removed == ["reg/1_girl/0001.png"]
        assert [p.name for p in rg.images(saved)] == ["0000.png", "0002.png"]
        assert "kept 2 of" in str(screen.query_one("#reg-head", Static).render())
        await pilot.press("left")
        await pilot.pause()
        assert "REMOVED" in str(screen.query_one("#reg-caption", Static).render())
        await pilot.press("k")
        await pilot.pause()
        assert pj.load(project.root).reg.removed == []
        assert len(rg.images(project)) == 3
