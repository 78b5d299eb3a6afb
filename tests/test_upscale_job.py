"""The model upscaler runs as its own job (run kind "upscale") in a worker process: prep through
engine.upscale_job gives what engine.images.prepare gives, with events and progress, and a refused
model is one line with nothing recorded (issue 12: torch only in the heavy processes)."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from engine import events, runs, upscale_job
from engine import project as pj
from engine.errors import UserError
from upscale_helpers import fake_spandrel


def test_only_a_model_upscale_that_grows_the_image_needs_the_worker(project, tmp_path):
    assert not upscale_job.needs_worker(project)                       # Lanczos: stays in process
    weights = tmp_path / "4x.pth"
    assert upscale_job.needs_worker(project, upscaler_model=str(weights))
    # 96×160 is already 100 px on the long side: nothing to upscale
    assert not upscale_job.needs_worker(project, upscaler_model=str(weights), upscale_to=100)
    assert project.prep.upscaler_model == ""                          # asking changes nothing
    with pytest.raises(UserError, match="upscale_to"):
        upscale_job.needs_worker(project, upscale_to=-5)


@pytest.mark.slow
def test_model_upscale_runs_in_a_worker_process_with_progress(project, tmp_path, monkeypatch):
    site, weights = fake_spandrel(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(site))  # found here (never imported here), loaded by the worker
    said: list[str] = []
    result = upscale_job.prepare(project, upscale_to=640, upscaler_model=str(weights), progress=said.append)
    assert result.size == (384, 640) and Image.open(result.prepared).size == (384, 640)
    assert said[0] == "starting the upscaler process" and "upscaling with 2x-nearest.pth" in said
    saved = pj.load(project.root)
    assert (saved.prep.upscale_to, saved.prep.upscaler_model) == (640, str(weights))
    assert project.prep.upscale_to == 640                              # the caller's project follows
    [info] = [r for r in runs.list_runs(project.root) if r.id.endswith("-upscale")]
    kinds = [e["kind"] for e in events.read_events(info.path)]
    assert kinds[:2] == ["loading", "started"] and "progress" in kinds and kinds[-1] == "finished"
    assert upscale_job.load_prepared(project).size == (384, 640)      # up to date: no second job
    assert len([r for r in runs.list_runs(project.root) if r.id.endswith("-upscale")]) == 1


def test_a_missing_upscaler_model_is_refused_here_in_one_line_and_records_nothing(project, tmp_path):
    with pytest.raises(UserError, match=r"upscaler_model = .*nope.pth.* not found"):
        upscale_job.prepare(project, upscale_to=640, upscaler_model=str(tmp_path / "nope.pth"))
    assert pj.load(project.root).prep.upscaler_model == "" and project.prep.upscaler_model == ""
    assert not runs.runs_root(project.root).exists()  # no worker was started for it
    project.prep.upscaler_model = str(tmp_path / "nope.pth")  # e.g. project.toml edited by hand
    with pytest.raises(UserError, match="not found"):
        upscale_job.load_prepared(project)
    assert not runs.runs_root(project.root).exists()


@pytest.mark.slow
def test_a_model_the_worker_cannot_load_fails_the_job_in_one_line(project, tmp_path, monkeypatch):
    site, weights = fake_spandrel(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(site))  # found here (never imported here), loaded by the worker
    weights.write_text("not a model")
    with pytest.raises(UserError, match="could not be loaded by spandrel"):
        upscale_job.prepare(project, upscale_to=640, upscaler_model=str(weights))
    # as in one process: the choice was recorded before the build failed; memory and disk agree
    assert project.prep == pj.load(project.root).prep
    [run_dir] = runs.runs_root(project.root).glob("*-upscale")
    last = events.read_events(run_dir)[-1]
    assert last["kind"] == "failed" and "could not be loaded" in last["reason"]
    assert "Traceback" not in (run_dir / "worker.log").read_text()


def _undo_prep_and_save(project, upscale_to: int) -> int:
    """What the Crops screen's undo does after a prep step: put the old choice back in memory and
    save through the project store (engine.store, as App.save_project); what the file says."""
    from engine import store

    project.prep.upscale_to = upscale_to
    store.save(project)
    return pj.load(project.root).prep.upscale_to


def test_undoing_an_in_process_prep_step_lands_on_disk(project):
    from engine import store

    project = store.load(project.root)  # the TUI's project, read through its store
    old = project.prep.upscale_to
    upscale_job.prepare(project, upscale_to=old * 2)
    assert pj.load(project.root).prep.upscale_to == old * 2
    assert _undo_prep_and_save(project, old) == old  # was merged back to old * 2 (store not told)
    assert project.prep.upscale_to == old


@pytest.mark.slow
def test_undoing_a_worker_prep_step_lands_on_disk(project, tmp_path, monkeypatch):
    from engine import store

    site, weights = fake_spandrel(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(site))
    project = store.load(project.root)  # the TUI's project, read through its store
    project.prep.upscaler_model = str(weights)
    store.save(project)
    old = project.prep.upscale_to
    upscale_job.prepare(project, upscale_to=640)
    assert pj.load(project.root).prep.upscale_to == 640 and old != 640
    assert _undo_prep_and_save(project, old) == old
    assert project.prep.upscale_to == old
