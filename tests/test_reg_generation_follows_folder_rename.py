"""A user walk: a reg generation was running when the reg folder got renamed (reg repeats or
the class changed, so engine/store.py moved reg/<repeats>_<class>); the images drawn after that
landed in a re-made old folder the project no longer names.  The running job now writes each
image where the set lives at that moment."""

from __future__ import annotations

from engine import events, runs, sample
from engine import project as pj
from engine import reg as rg
from test_sample_epochs import base  # noqa: F401 (fixture)


class RenameDuringImage:
    """A control file that never stops; at the ``n``th denoising step the user changes the
    reg repeats (a save through the project store, as the Reg screen does)."""

    def __init__(self, root, n: int) -> None:
        self.root, self.n, self.peeks = root, n, 0

    def peek(self):
        self.peeks += 1
        if self.peeks == self.n:
            project = pj.load(self.root)
            project.reg.repeats = 3
            pj.save(project)
        return None

    def poll(self):
        return None

    def beat(self) -> None:
        pass


def test_reg_images_drawn_after_a_folder_rename_land_in_the_renamed_folder(base, project):
    project.train.model = "builtin:tiny"
    project.reg.count, project.reg.steps, project.reg.repeats = 3, 4, 1
    project.reg.width = project.reg.height = 64
    pj.save(project)
    old = rg.reg_folder(project)
    run_dir = runs.start_run(project, "reg", detach=False, batch_size=1)
    control = RenameDuringImage(project.root, 4 + 2)  # image 0 written; renamed during image 1
    try:
        with events.EventWriter(run_dir) as writer:
            sample.reg_job(run_dir, writer, control)
    finally:
        runs.release(run_dir)
    assert control.peeks == 12  # every image drawn
    now = pj.load(project.root)
    new = rg.reg_folder(now)
    assert new.name == "3_girl" and old.name == "1_girl"
    assert not old.exists()  # not made again by the images drawn after the rename
    assert sorted(p.name for p in new.iterdir()) == ["0000.png", "0000.txt", "0001.png",
                                                     "0001.txt", "0002.png", "0002.txt"]
    assert [p.name for p in rg.images(now)] == ["0000.png", "0001.png", "0002.png"]
    evs = events.read_events(run_dir)
    assert evs[-1]["kind"] == "finished" and evs[-1]["path"] == str(new)
    assert any("moved to" in e.get("message", "") for e in evs if e["kind"] == "log")
