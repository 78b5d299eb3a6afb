"""Round two, then a trigger renamed on the Tags screen: the kept grow candidates' captions
were written with the trigger of the day they were drawn, so the export's grown folder (and
the training rows) still said the old word while the crops said the new one; the candidates
trained a trigger nobody would prompt (a user walk: grow, keep 1,3, `t` zq_rosie, export)."""

from __future__ import annotations

from PIL import Image, PngImagePlugin

from engine import candidates as cd
from engine import crops as ec
from engine import project as pj
from engine.api import Engine
from engine.cli import main as cli
from tui.app import OneloraApp
from tui_journey import SIZE


def _kept_candidate(project, n: int, caption: str,
                    prompt: str = "zq_tester, girl, red dress") -> None:
    path = cd.candidate_path(project, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", prompt + ", from side")
    info.add_text("mode", "txt2img")
    Image.new("RGB", (32, 32), (20, 180, 20)).save(path, pnginfo=info)
    path.with_suffix(".txt").write_text(caption + "\n")
    project.grow.kept.append(n)


async def test_trigger_renamed_after_growing_reaches_the_grown_captions(project, tmp_path):
    ec.auto_crops(project)
    _kept_candidate(project, 1, "zq_tester, girl, red dress, from side")
    _kept_candidate(project, 2, "my own caption, no trigger here")  # edited by hand: kept
    pj.save(project)
    app = OneloraApp(project.root, start_mode="tags", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t", *"zq_newname", "enter")
        await pilot.pause()
        await pilot.press("c", *"woman", "enter")
        await pilot.pause()
        app.flush_project()
        await pilot.press("escape", "q")
    project = pj.load(project.root)
    assert (project.trigger, project.class_name) == ("zq_newname", "woman")
    dest = tmp_path / "kohya"
    assert cli(["export", str(project.root), str(dest)]) == 0
    grown = dest / "img" / "2_zq_newname woman grown"
    assert (grown / "0001.txt").read_text() == "zq_newname, woman, red dress, from side\n"
    assert (grown / "0002.txt").read_text() == "my own caption, no trigger here\n"
    rows = {r.image.name: r.caption for r in cd.dataset_items(project)}
    assert rows["0001.png"].startswith("zq_newname, woman, red dress")
    # the candidate's own files are the user's: left as drawn
    assert cd.caption_of(cd.candidate_path(project, 1)).startswith("zq_tester, girl")
