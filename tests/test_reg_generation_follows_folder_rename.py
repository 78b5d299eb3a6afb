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


def test_reg_generation_resumed_after_a_rename_draws_only_the_missing_images_there(base, project):
    """The run's settings were frozen under the old name (a `--resume` of a stopped run):
    it must find the set, its drawn images and its removals under the new name."""
    from PIL import Image

    project.train.model = "builtin:tiny"
    project.reg.count, project.reg.steps, project.reg.repeats = 3, 2, 1
    project.reg.width = project.reg.height = 64
    pj.save(project)
    run_dir = runs.start_run(project, "reg", detach=False, batch_size=1)  # frozen: 1_girl
    old = rg.reg_folder(project)
    old.mkdir(parents=True)
    for i in (0, 1):
        Image.new("RGB", (64, 64), (i * 90, 40, 40)).save(old / f"{i:04d}.png")
        (old / f"{i:04d}.txt").write_text("1girl, solo\n")
    planted = (old / "0000.png").read_bytes()
    rg.remove(project, ["0001.png"])  # pruned by the user
    project.reg.repeats = 3
    pj.save(project)  # the set moves to reg/3_girl
    new = rg.reg_folder(project)
    try:
        with events.EventWriter(run_dir) as writer:
            sample.reg_job(run_dir, writer, RenameDuringImage(project.root, 0), resume=True)
    finally:
        runs.release(run_dir)
    assert not old.exists()
    assert sorted(p.name for p in new.glob("*.png")) == ["0000.png", "0002.png"]
    assert (new / "0000.png").read_bytes() == planted  # not drawn again
    started = next(e for e in events.read_events(run_dir) if e["kind"] == "started")
    assert started["todo"] == 1 and started["folder"] == str(new)
