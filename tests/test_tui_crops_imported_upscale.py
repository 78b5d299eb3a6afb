"""An imported kohya dataset, then an upscale on the Crops screen: an imported crop's box is in
the pixels of its own image, but the upscale scaled it with the prepared image, so a box the
user had narrowed inside its image (here the face's left half) came out as a different cut."""

from __future__ import annotations

from PIL import Image

from engine.cli import main as cli
from tui.app import OneloraApp
from tui_journey import SIZE, disk_box, on_disk


def _kohya_folder(tmp_path, full: str = "a_full", face: str = "b_face"):
    """A kohya dataset of two images, a tall one named ``full`` and a square one ``face``."""
    sub = tmp_path / "kohya" / "img" / "3_zq_tester girl"
    sub.mkdir(parents=True)
    Image.new("RGB", (300, 600), (10, 200, 30)).save(sub / f"{full}.png")
    Image.new("RGB", (400, 400), (200, 10, 10)).save(sub / f"{face}.png")
    (sub / f"{full}.txt").write_text("zq_tester, girl, hat\n")
    (sub / f"{face}.txt").write_text("zq_tester, girl, smile\n")
    return tmp_path / "kohya"


async def test_upscale_keeps_the_box_of_a_crop_cut_from_its_own_image(tmp_path):
    root = tmp_path / "proj"
    assert cli(["import-kohya", str(_kohya_folder(tmp_path)), str(root)]) == 0
    assert cli(["crops", str(root), "--set", "b_face=0,0,200,400"]) == 0
    app = OneloraApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("e")  # upscale the prepared image 2048 -> 3072 px
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        app.flush_project()
        assert on_disk(root)["prep"]["upscale_to"] == 3072
        await pilot.press("q")
    assert disk_box(root, "b_face") == [0, 0, 200, 400]


async def test_auto_crops_leave_an_imported_crop_named_like_a_preset_as_it_is(tmp_path):
    root = tmp_path / "proj"
    assert cli(["import-kohya", str(_kohya_folder(tmp_path, "full_body", "face")), str(root)]) == 0
    assert cli(["crops", str(root), "--set", "face=100,50,200,300"]) == 0
    before = {c["name"]: c for c in on_disk(root)["crops"]["items"]}
    app = OneloraApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("A")  # auto crops: all presets
        await pilot.pause()
        app.flush_project()
        await pilot.press("q")
    after = {c["name"]: c for c in on_disk(root)["crops"]["items"]}
    for name in ("face", "full_body"):
        assert after[name]["box"] == before[name]["box"], name
        assert after[name]["image"] == before[name]["image"] and after[name]["preset"] == ""
    assert "bangs" in after and after["bangs"]["preset"] == "bangs"  # the other presets made
