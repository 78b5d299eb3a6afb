"""Regularization set, then a change of its folder name: reg images live in
``reg/<repeats>_<class>``, so changing reg repeats on the Reg screen or the class word on the
Tags screen renames the folder.  The generated and pruned images go along with it; they used to
stay behind in the old folder, and the gallery, the export and training silently lost them
(a user walk: 4 images generated, one pruned, repeats 1 → 2: "kept 0 of 4")."""

from __future__ import annotations

from PIL import Image

from engine import crops as ec
from engine import project as pj
from engine import reg as rg
from engine.api import Engine
from engine.cli import main as cli
from tui.app import OneloraApp
from tui_journey import SIZE, on_disk


def plant_reg_set(project, n=4) -> None:
    folder = rg.reg_folder(project)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (32, 32), (i * 60, 50, 50)).save(folder / f"{i:04d}.png")
        (folder / f"{i:04d}.txt").write_text(f"1woman, solo, pose{i}\n")
    rg.remove(project, ["0001.png"])  # pruned by the user


def kept_names(root) -> list[str]:
    return [p.name for p in rg.images(pj.load(root))]


async def test_reg_repeats_changed_on_the_reg_screen_keeps_the_generated_set(project):
    plant_reg_set(project)
    app = OneloraApp(project.root, start_mode="reg", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(9):  # prompt, negative, count, seed, steps, cfg, width, height, repeats
            await pilot.press("tab")
        assert app.screen.focused.id == "reg-repeats"
        await pilot.press("2", "escape")
        await pilot.pause()
        app.flush_project()
        await pilot.press("q")
    data = on_disk(project.root)
    assert data["reg"]["repeats"] == 2
    assert kept_names(project.root) == ["0000.png", "0002.png", "0003.png"]
    assert (project.root / "reg" / "2_girl" / "0002.txt").read_text().startswith("1woman")
    assert data["reg"]["removed"] == ["reg/2_girl/0001.png"]
    assert (project.root / "reg_removed" / "2_girl" / "0001.png").is_file()
    assert not (project.root / "reg" / "1_girl").exists()
    # the pruned image still comes back by its number in the renamed folder
    project = pj.load(project.root)
    assert rg.is_removed(project, 1)
    assert rg.restore(project, "0001.png")
    assert kept_names(project.root) == ["0000.png", "0001.png", "0002.png", "0003.png"]


async def test_class_word_changed_on_the_tags_screen_keeps_the_reg_set(project):
    ec.auto_crops(project)
    plant_reg_set(project)
    app = OneloraApp(project.root, start_mode="tags", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c", *"woman", "enter")
        await pilot.pause()
        app.flush_project()
        await pilot.press("q")
    assert on_disk(project.root)["class_name"] == "woman"
    assert kept_names(project.root) == ["0000.png", "0002.png", "0003.png"]
    assert (project.root / "reg" / "1_woman" / "0000.png").is_file()


def test_cli_export_after_a_class_change_has_the_reg_images(project, tmp_path):
    ec.auto_crops(project)
    plant_reg_set(project)
    project.class_name = "woman"
    pj.save(project)
    dest = tmp_path / "kohya"
    assert cli(["export", str(project.root), str(dest)]) == 0
    assert sorted(p.name for p in (dest / "reg" / "1_woman").glob("*.png")) == [
        "0000.png", "0002.png", "0003.png"]
