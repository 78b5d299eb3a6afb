"""A crop too small for the training resolution: on the crops screen the warning names the key
that fixes it (e, pressed as many times as it takes), never the CLI's `onelora prep --upscale`;
the CLI keeps its own wording.  Pressing what the panel says fixes the crop in project.toml."""

from __future__ import annotations

import tomllib

from textual.widgets import Static

from engine import crops as ec
from engine import images
from tui.app import OneloraApp
from tui.widgets import crop_info

SIZE = (80, 24)


def _small_cuff(project) -> None:
    images.prepare(project)  # 2048 px long side
    ec.auto_crops(project)
    ec.set_crop(project, "cuff", [100, 100, 300, 300])


async def _settle(app, pilot) -> None:
    for _ in range(2):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def _panel(screen) -> str:
    return str(screen.query_one("#crop-info", Static).render())


async def test_short_crop_warning_on_the_crops_screen_names_e_and_pressing_it_fixes_the_crop(project):
    _small_cuff(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        screen = app.screen
        while screen.selected_name() != "cuff":
            await pilot.press("tab")
        panel = " ".join(_panel(screen).split())
        assert "short side 300 px < 512" in panel
        assert "onelora" not in panel and "--upscale" not in panel
        assert "press e twice (upscale to 4096 px)" in panel  # 2048 → 3072 is not enough
        for _ in range(2):
            await pilot.press("e")
            await _settle(app, pilot)
        app.flush_project()
        data = tomllib.loads(project.path.read_text())
        assert data["prep"]["upscale_to"] == 4096
        cuff = next(c for c in data["crops"]["items"] if c["name"] == "cuff")
        assert min(cuff["box"][2:]) >= 512
        assert "short side" not in _panel(screen)


async def test_short_crop_warning_follows_the_training_resolution(project):
    _small_cuff(project)
    project.train.resolution = 256  # a 300 px crop is large enough for 256 px training
    project.crops.items[-1].box = [100, 100, 300, 300]
    from engine import project as pj
    pj.save(project)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        screen = app.screen
        while screen.selected_name() != "cuff":
            await pilot.press("tab")
        assert "short side" not in _panel(screen)


def test_short_crop_facts_are_worded_for_the_cli_and_for_the_crops_screen():
    from engine.project import Crop

    crop = Crop(name="cuff", box=[0, 0, 100, 120])
    fact = ec.short_crop(crop, (960, 1600))
    assert fact == ec.ShortCrop(short=100, side=512, upscale_to=8192)
    cli = ec.crop_warnings(crop, (960, 1600))[0]
    assert "onelora prep DIR --upscale 8192" in cli
    tui = crop_info.short_crop_text(fact, 2048)
    assert "onelora" not in tui and "8192 px" in tui and "shift+" in tui  # e cannot reach it
    near = ec.short_crop(Crop(name="cuff", box=[0, 0, 400, 400]), (1229, 2048))
    assert crop_info.short_crop_text(near, 2048).startswith("short side 400 px < 512: press e ")
    assert "(upscale to 3072 px)" in crop_info.short_crop_text(near, 2048)
