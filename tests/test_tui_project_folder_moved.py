"""A user walk: with the TUI open, the project folder was moved away (`mv DIR DIR2`).  The next
edit re-made DIR holding nothing but a project.toml (a half project at the old path), and `q`
quit without a word.  Now nothing is written there: the user is told the folder is gone (by
name), the edits stay in memory, `q` asks before dropping them, and moving the folder back
saves them."""

from __future__ import annotations

import os

import pytest

from engine import project as pj
from engine.api import Engine
from engine.store import ProjectStore
from tui.app import OneloraApp
from tui.widgets.train_dialogs import ConfirmScreen
from tui_journey import SIZE


async def test_folder_moved_while_open_keeps_edits_asks_on_quit_and_saves_when_back(project):
    root = project.root
    moved = root.with_name("proj-moved")
    app = OneloraApp(root, start_mode="tags", engine=Engine())
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (said.append(str(message)), notify(message, **kw))[1]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        os.rename(root, moved)
        await pilot.pause(1.2)  # the watcher looks twice a second
        await pilot.press("t", *"zq_newname", "enter")
        await pilot.pause()
        assert not root.exists()  # no half project made at the old path
        assert pj.load(moved).trigger == "zq_tester"  # nor written into the moved one
        assert any(str(root) in s and "gone" in s for s in said)
        await pilot.press("escape", "q")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # stay
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmScreen)
        assert app.project.trigger == "zq_newname"  # the edit is still in memory
        os.rename(moved, root)  # the user moves it back
        await pilot.pause(1.2)
        assert pj.load(root).trigger == "zq_newname"  # saved once the folder was back
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


def test_store_refuses_to_save_into_a_moved_folder_but_rewrites_a_deleted_project_toml(project):
    from engine.store import ProjectGone

    store = ProjectStore(project.root)
    loaded = store.load()
    (project.root / "project.toml").unlink()  # deleted in its own folder: written back
    loaded.trigger = "zq_again"
    store.save(loaded)
    assert pj.load(project.root).trigger == "zq_again"
    moved = project.root.with_name("elsewhere")
    os.rename(project.root, moved)
    loaded.trigger = "zq_third"
    with pytest.raises(ProjectGone, match=str(project.root)):
        store.save(loaded)
    assert not project.root.exists()
    project.root.mkdir()  # another, empty folder made at the same path: still not this project
    with pytest.raises(ProjectGone):
        store.save(loaded)
    assert list(project.root.iterdir()) == []
