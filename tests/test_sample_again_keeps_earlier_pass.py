"""A user walk: `onelora sample DIR RUN` drew into the run's samples/epoch-NNN/ under the same
file names, replacing the samples drawn during training even when samples.prompts had changed
since (p00 became another prompt's image).  A later pass of an epoch now writes its own folder
(epoch-NNN-2, -3, ...); the earlier pass's files and index stay as they were, and the readers
(and the Samples screen) show the newest pass."""

from __future__ import annotations

import hashlib

from engine import epochs as ep
from engine import events, runs, sample
from test_sample_epochs import base, small_project, trained_network  # noqa: F401 (fixtures)


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_onelora_sample_after_prompts_changed_keeps_the_training_samples(base, small_project):
    project = small_project
    project.samples.prompts, project.samples.seeds = ["zq_tester, girl, smile"], [3]
    project.samples.weights = [1.0]
    train_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, train_dir, "train")
    net = trained_network(base, seed=2)
    try:
        with events.EventWriter(train_dir) as w:
            path = net.save(train_dir / "zq_tester-000001.safetensors", dtype="float")
            w.emit("checkpoint", epoch=1, path=str(path))
            sample.sample_epoch(base, net, project, train_dir, 1, w)  # what training draws
            w.emit("finished")
    finally:
        net.restore()
    first = ep.epoch_dir(train_dir, 1)
    before = _digest(first)
    assert "p00-s3-w1.00.png" in before

    project.samples.prompts = ["zq_tester, girl, from behind"]  # changed since training
    run_dir = runs.start_run(project, "sample", detach=False, source_run=train_dir.name)
    assert sample.sample_run_worker(run_dir) == 0

    assert _digest(first) == before  # the training samples, index and grid untouched
    again = ep.epoch_dir(train_dir, 1, 2)
    assert again.name == "epoch-001-2" and (again / "p00-s3-w1.00.png").is_file()
    assert [p.name for p in ep.sample_passes(train_dir, 1)] == ["epoch-001", "epoch-001-2"]
    shown = ep.read_epoch(train_dir, 1)  # the newest pass; the old prompt is not mixed in
    assert [(r.prompt, r.file) for r in shown] == [
        ("zq_tester, girl, from behind", "samples/epoch-001-2/p00-s3-w1.00.png")]
    assert ep.latest_pass_dir(train_dir, 1) == again and (again / ep.GRID_FILE).is_file()
    sample_events = [e for e in events.read_events(run_dir) if e["kind"] == "sample"]
    assert [e["path"] for e in sample_events] == [str(again / "p00-s3-w1.00.png")]


async def test_samples_screen_shows_the_newest_pass_of_an_epoch(project):
    from PIL import Image

    from test_tui_samples_grid import Host, sampled_run

    run_dir = sampled_run(project, epochs=(1,), colour=lambda e, wt, s: (10, 10, 10))
    folder = ep.next_pass_dir(run_dir, 1)
    assert folder.name == "epoch-001-2"
    recs = []
    for wt in (0.6, 1.0):
        for s in (1, 2):
            f = folder / ep.sample_file_name(0, s, wt)
            f.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (200, 30, 30)).save(f)
            recs.append(ep.SampleRecord(epoch=1, weight=wt, prompt_index=0,
                                        prompt="zq_tester, girl", seed=s,
                                        file=str(f.relative_to(run_dir))))
    ep.write_index(run_dir, 1, recs, folder)
    app = Host(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.shown.file.startswith("samples/epoch-001-2/")
        from tui.widgets.image_view import ImageView
        assert app.screen.query_one(ImageView).image.getpixel((16, 16)) == (200, 30, 30)
    assert len(ep.read_pass(ep.epoch_dir(run_dir, 1))) == 4  # the first pass is still there
