"""Grow screen (Pilot, 80×24, no torch): keep 2 of 4 candidates by keyboard, compare with the
source crop, zoom, and ctrl+g starts a "grow" run only when there is a LoRA to draw with."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, PngImagePlugin

from engine import candidates as cd
from engine import events, runs
from engine import project as pj
from engine.api import Engine
from tui.screens.grow import GrowScreen
from tui.widgets.image_view import ImageView
from tui_host import ScreenHost


class FakeEngine(Engine):
    def __init__(self) -> None:
        self.started: list[tuple[Path, dict]] = []

    def start_run(self, project, kind="train", **run):
        pj.save(project)
        run_dir = runs.start_run(project, kind, detach=False, **run)
        (run_dir / "pid").write_text(str(os.getpid()))
        with events.EventWriter(run_dir) as w:
            w.emit("started", total_steps=4)
        self.started.append((run_dir, run))
        return run_dir


def planted(project: pj.Project) -> pj.Project:
    (project.root / "crops").mkdir()
    Image.new("RGB", (32, 48), (200, 40, 40)).save(project.root / "crops" / "full.png")
    project.crops.items.append(pj.Crop(name="full", box=[0, 0, 32, 48], preset="full_body",
                                       image="crops/full.png", tags=[pj.Tag(tag="red dress")]))
    pj.save(project)
    for n in (1, 2, 3, 4):
        path = cd.candidate_path(project, n)
        path.parent.mkdir(parents=True, exist_ok=True)
        info = PngImagePlugin.PngInfo()
        for k, v in {"prompt": f"zq_tester, girl, red dress, view {n}", "seed": str(777 + n),
                     "weight": "0.7", "mode": "img2img" if n > 2 else "txt2img",
                     "strength": "0.55", "source_crop": "full (flipped)" if n == 4 else
                     ("full" if n == 3 else "")}.items():
            info.add_text(k, v)
        Image.new("RGB", (32, 32), (n * 50, 90, 90)).save(path, pnginfo=info)
        path.with_suffix(".txt").write_text(f"zq_tester, girl, red dress, view {n}\n")
    return project


async def test_tui_grow_keep_two_of_four_by_keyboard(project):
    planted(project)
    app = ScreenHost(project, GrowScreen, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("k", "d", "k")  # keep 1, discard 2, keep 3
        await pilot.pause()
        saved = pj.load(project.root).grow
        assert (saved.kept, saved.discarded) == ([1, 3], [2])
        await pilot.press("left", "u")  # change of mind on 3
        await pilot.pause()
        assert pj.load(project.root).grow.kept == [1]
        await pilot.press("k", "right")  # keep 3 again → on 4
        await pilot.pause()
        assert pj.load(project.root).grow.kept == [1, 3]
        assert [p.name for p in cd.kept_files(pj.load(project.root))] == ["0001.png",
                                                                              "0003.png"]


async def test_tui_grow_compare_puts_the_source_crop_beside_and_zoom_shows_the_head(project):
    planted(project)
    app = ScreenHost(project, GrowScreen, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("right", "right", "right")  # candidate 4: img2img from the flipped crop
        view = app.screen.query_one(ImageView)
        assert view.image.size == (32, 32) and view.view_region is None
        await pilot.press("c")
        await pilot.pause()
        w, h = view.image.size
        assert h == 48 and w == 32 + 4 + 48  # crop (32×48) | gap | candidate scaled to 48×48
        assert view.image.getpixel((2, 2)) == (200, 40, 40)
        await pilot.press("z")
        await pilot.pause()
        assert view.view_region == (w // 4, 0, w // 2, h // 2)


async def test_tui_grow_draw_needs_a_lora_then_starts_a_grow_run(project):
    planted(project)
    engine = FakeEngine()
    app = ScreenHost(project, GrowScreen, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert engine.started == []  # no picked LoRA yet
        lora = project.root / "output" / "zq_tester.safetensors"
        lora.parent.mkdir()
        lora.write_bytes(b"stand-in")  # only its presence is checked before the run starts
        await pilot.press("ctrl+g")
        await pilot.pause()
        (run_dir, run), = engine.started
        assert runs.read_config(run_dir)["run"]["kind"] == "grow"
        assert run == {"first": 5, "txt2img": 8, "img2img": 8}


async def test_tui_grow_settings_save_weight_and_strength_and_refuse_a_bad_value(project):
    from textual.widgets import Input, Static

    planted(project)
    app = ScreenHost(project, GrowScreen, FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        screen = app.screen
        assert "txt2img: zq_tester, girl, red dress" in str(
            screen.query_one("#grow-preview", Static).render())
        screen.query_one("#grow-weight", Input).value = "0.8"
        screen.query_one("#grow-strength", Input).value = "0.4"
        await pilot.pause()
        saved = pj.load(project.root).grow
        assert (saved.weight, saved.strength) == (0.8, 0.4)
        screen.query_one("#grow-strength", Input).value = "1.5"  # refused: the old value stays
        await pilot.pause()
        assert "grow.strength" in str(screen.query_one("#grow-status", Static).render())
        assert pj.load(project.root).grow.strength == 0.4
        await pilot.press("k")  # typed into the field, not a keep
        await pilot.pause()
        assert pj.load(project.root).grow.kept == []
        await pilot.press("ctrl+o", "k")
        await pilot.pause()
        assert pj.load(project.root).grow.kept == [1]
