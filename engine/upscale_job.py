"""The model upscaler as its own job (run kind ``upscale``): torch and spandrel run in a worker
process, never in the TUI's.

``prep`` with a model upscaler (``prep.upscaler_model``) loads an ESRGAN-family network through
spandrel, i.e. torch. The TUI must never import torch (docs/architecture.md, boundaries), so the TUI
calls :func:`prepare` / :func:`load_prepared` here instead of ``engine.images``: when no model
upscale is needed they are ``engine.images``' own functions, in this process; when one is, the
whole prep step runs in a child process with a run folder (``runs/<id>-upscale/``: config.toml,
events.jsonl with ``started``/``progress``/``finished``|``failed``), and this process waits in
its (worker) thread, passing the progress on, then takes the recorded choices back from
``project.toml``.

:func:`upscale_job` is the job itself; engine.supervisor's registry maps the kind ``upscale`` to
it, so the worker gets the same heartbeat, lock, ``failed`` event and exit codes as every run.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Callable

from engine import events as ev
from engine import images
from engine import project as pj
from engine import store
from engine.errors import UserError

KIND = "upscale"
STEPS = ("finding stray-colour islands", "fixing", "flattening the background", "upscaling")
"""The prep phases ``images.build_prepared`` reports, in order (progress counts them)."""
_PREP_KEYS = ("upscale_to", "fix_artifacts", "flatten_background", "upscaler_model")


def _with_changes(project: pj.Project, changes: dict) -> pj.Project:
    """A shallow copy of ``project`` whose prep settings have ``changes`` applied (checked)."""
    prep = copy.deepcopy(project.prep)
    for name, value in changes.items():
        if value is not None:
            setattr(prep, name, pj.check_value(pj.PrepSettings, name, value, "prep."))
    trial = copy.copy(project)
    trial.prep = prep
    return trial


def needs_worker(project: pj.Project, **changes) -> bool:
    """Whether prep with ``changes`` applied would run the model upscaler (torch): a model is set
    and the long side must grow. Light: looks at settings and the source image's header only."""
    trial = _with_changes(project, changes)
    if images._model_file(trial) is None:
        return False
    size = images.image_size(images.source_path(trial))
    return images.upscaled_size(size, trial.prep.upscale_to) != size


def prepare(project: pj.Project, *, progress: Callable[[str], None] | None = None,
            **changes) -> images.PrepResult:
    """``engine.images.prepare`` for a process that must not import torch: a model upscale runs
    in a worker process (see the module doc). Same result, same ``UserError``s."""
    changes = {k: v for k, v in changes.items() if k in _PREP_KEYS and v is not None}
    if not needs_worker(project, **changes) or _refused_before_torch(project, changes):
        return images.prepare(project, progress=progress, **changes)
    the_store = store.store_of(project)
    the_store.save(project)  # the worker starts from what this process holds
    try:
        result = run(project, changes, progress)
    finally:  # what the worker recorded (images.prepare saves it), as in-process; read through
        # the store so that it becomes the base of this process's next save (else an undo back
        # to the old choices would look unchanged and the worker's would be merged back in)
        fresh = the_store.load()
        project.prep, project.crops = fresh.prep, fresh.crops
    return images.PrepResult(
        prepared=Path(result["prepared"]), size=tuple(result["size"]),
        artifacts=[images.Artifact(box=tuple(a["box"]), pixels=a["pixels"], color=tuple(a["color"]),
                                   around=tuple(a["around"])) for a in result["artifacts"]],
        fixed=result["fixed"], warnings=list(result.get("warnings", [])))


def _refused_before_torch(project: pj.Project, changes: dict) -> bool:
    """A missing model file or a missing spandrel: ``images.prepare`` refuses these in one line
    before it imports spandrel (so no torch), and no worker or run folder is needed for that."""
    import importlib.util

    path = images._model_file(_with_changes(project, changes))
    return path is None or not path.is_file() or importlib.util.find_spec("spandrel") is None


def load_prepared(project: pj.Project, progress: Callable[[str], None] | None = None):
    """``engine.images.load_prepared`` for a process that must not import torch: a stale
    prepared image that needs the model upscaler is rebuilt by the worker first."""
    if needs_worker(project) and not images.is_prepared(project) \
            and not _refused_before_torch(project, {}):
        store.save(project)
        run(project, {}, progress)
    return images.load_prepared(project)


# ---------------------------------------------------------------------------------------
# Starting the job and waiting for it
# ---------------------------------------------------------------------------------------

def run(project: pj.Project, changes: dict, progress: Callable[[str], None] | None = None,
        poll: float = 0.2) -> dict:
    """Start the job as a detached run (engine.supervisor) and wait for it, passing each
    progress message on; its ``finished`` result, or ``UserError`` with the reason it failed."""
    from engine import runs

    say = progress or (lambda _msg: None)
    say("starting the upscaler process")
    run_dir = runs.start_run(project, KIND, detach=True, **changes)
    reader = ev.EventReader.for_run(run_dir)
    end: dict = {}
    while not end:
        for e in reader.read_new():
            if e.get("kind") == "progress" and e.get("message"):
                say(str(e["message"]))
            elif e.get("kind") in ev.END_KINDS:
                end = e
        if not end and runs.run_info(run_dir).status not in runs.ACTIVE:
            end = next((e for e in reader.read_new() if e.get("kind") in ev.END_KINDS), {})
            break
        time.sleep(poll)
    if end.get("kind") == "finished" and isinstance(end.get("result"), dict):
        return end["result"]
    if end.get("kind") == "failed":
        raise UserError(str(end.get("reason") or "the upscaler failed"))
    raise UserError(f"the upscaler process ended without a result; see {run_dir / 'worker.log'}")


# ---------------------------------------------------------------------------------------
# The job (in its own process)
# ---------------------------------------------------------------------------------------

def upscale_job(run_dir, writer: ev.EventWriter, control, resume: bool = False) -> None:
    """Run kind ``upscale`` (engine/supervisor.py): apply the ``[run]`` prep choices to the
    project and rebuild ``source/prepared.png`` (model upscaler included), as ``images.prepare``
    does. Events: ``started``, ``progress`` (step, total_steps, message) per phase, ``finished``
    with ``result`` (the PrepResult as JSON). A refused choice raises ``UserError`` (nothing
    recorded)."""
    from engine import runs

    run_dir = Path(run_dir).resolve()
    run = runs.read_config(run_dir).get("run", {})
    project = pj.load(runs.project_root_of(run_dir))
    changes = {k: run[k] for k in _PREP_KEYS if k in run}
    writer.emit("started", job=KIND, total_steps=len(STEPS), unit="phase",
                model=project.prep.upscaler_model)
    seen: list[str] = []

    def progress(text: str) -> None:
        seen.append(text)
        writer.emit("progress", step=min(len(seen), len(STEPS)), total_steps=len(STEPS),
                    message=text)

    result = images.prepare(project, progress=progress, **changes)
    writer.emit("progress", step=len(STEPS), total_steps=len(STEPS))
    writer.emit("finished", path=str(result.prepared),
                result={**result.to_json(), "warnings": list(result.warnings)})
