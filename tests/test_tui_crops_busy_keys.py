"""Crops keys while a prep step (upscale / fix / flatten) runs: a user walk found the editing
keys (x among them) did nothing and said nothing.  Each press now says what runs and what to do,
once per key (a held key does not stack notes), and changes nothing: the step replaces the crops
when it ends, so an edit let through meanwhile would be lost.  The edit made just before the step
is kept, and the keys work again once it is done."""

from __future__ import annotations

import threading

from engine import upscale_job
from tui.app import OneloraApp
from tui_journey import SIZE, disk_box, on_disk, select_crop, settle


def busy_notes(app) -> list[str]:
    return [n.message for n in app._notifications if n.message.startswith("busy: ")]


async def test_editing_keys_during_an_upscale_say_busy_and_lose_no_edit(project, monkeypatch):
    release = threading.Event()
    real_prepare = upscale_job.prepare

    def slow_prepare(*args, **kwargs):  # the step takes as long as the test wants
        assert release.wait(30)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(upscale_job, "prepare", slow_prepare)
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await select_crop(pilot, screen, "face")
        before_move = disk_box(project.root, "face")
        await pilot.press("j")  # an edit still waiting for its coalesced save ...
        moved = list(screen.selected_box())
        assert moved != before_move
        await pilot.press("e")  # ... when the upscale starts
        await pilot.pause(0.2)
        assert screen.busy.startswith("upscale")
        names = [c.name for c in app.project.crops.items]
        await pilot.press("x", "x", "x", "j", "j", "j", "j", "u")
        await pilot.pause(0.2)
        notes = busy_notes(app)
        assert len(notes) == 3, notes  # x, j and u: one note each, not one per press
        assert any("x (remove crop) did nothing" in n for n in notes), notes
        assert all("upscale to 3072 px" in n and "wait for it" in n for n in notes), notes
        assert [c.name for c in app.project.crops.items] == names
        assert list(screen.selected_box()) == moved
        release.set()
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert not screen.busy and max(screen.image_size()) == 3072
        app.flush_project()
        face = disk_box(project.root, "face")  # the move before the step, scaled with it
        assert all(abs(a - b * 1.5) <= 2 for a, b in zip(face, moved)), (face, moved)
        assert "face" in {c["name"] for c in on_disk(project.root)["crops"]["items"]}
        await pilot.press("x")  # the keys work again
        await pilot.pause(0.2)
        app.flush_project()
        assert "face" not in {c["name"] for c in on_disk(project.root)["crops"]["items"]}
        assert len(busy_notes(app)) == 3
