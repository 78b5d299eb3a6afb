"""The model upscaler as its own job (run kind ``upscale``): torch and spandrel run in a worker
process, never in the TUI's.

``prep`` with a model upscaler (``prep.upscaler_model``) loads an ESRGAN-family network through
spandrel, i.e. torch. The TUI must never import torch (docs: DESIGN §Boundaries 1), so the TUI
calls :func:`prepare` / :func:`load_prepared` here instead of ``engine.images``: when no model
upscale is needed they are ``engine.images``' own functions, in this process; when one is, the
whole prep step runs in a child process with a run folder (``runs/<id>-upscale/``: config.toml,
events.jsonl with ``started``/``progress``/``finished``|``failed``), and this process waits in
its (worker) thread, passing the progress on, then takes the recorded choices back from
``project.toml``.

:func:`upscale_worker` is the job itself, self-contained (the run supervisor's registry maps the
kind ``upscale`` to it). Until it is registered there, :func:`start` runs it through this
module's ``__main__``.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from engine import events as ev
from engine import images
from engine import project as pj
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
    pj.save(project)  # the worker starts from what this process holds
    try:
        result = run(project, changes, progress)
    finally:  # what the worker recorded (images.prepare saves before it builds), as in-process
        fresh = pj.load(project.root)
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
        pj.save(project)
        run(project, {}, progress)
    return images.load_prepared(project)


# ---------------------------------------------------------------------------------------
# Starting the job and waiting for it
# ---------------------------------------------------------------------------------------

def start(project: pj.Project, changes: dict) -> tuple[Path, subprocess.Popen]:
    """A run folder for the job and its process (``python -m engine.upscale_job RUN_DIR``)."""
    from engine import runs

    run_dir = runs.new_run_dir(project, KIND)
    runs.freeze_config(project, run_dir, KIND, **changes)
    log = open(run_dir / "worker.log", "ab")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    try:
        proc = subprocess.Popen([sys.executable, "-m", "engine.upscale_job", str(run_dir.resolve())],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env, cwd=str(project.root))
    finally:
        log.close()
    (run_dir / "pid").write_text(str(proc.pid))
    return run_dir, proc


def run(project: pj.Project, changes: dict, progress: Callable[[str], None] | None = None,
        poll: float = 0.2) -> dict:
    """Start the job and wait for it, passing each progress message on; its ``finished``
    result, or ``UserError`` with the reason it failed."""
    say = progress or (lambda _msg: None)
    run_dir, proc = start(project, changes)
    reader = ev.EventReader.for_run(run_dir)
    end: dict = {}
    say("starting the upscaler process")
    while True:
        done = proc.poll() is not None
        for e in reader.read_new():
            if e.get("kind") == "progress" and e.get("message"):
                say(str(e["message"]))
            elif e.get("kind") in ev.END_KINDS:
                end = e
        if done:
            break
        time.sleep(poll)
    if end.get("kind") == "finished" and isinstance(end.get("result"), dict):
        return end["result"]
    if end.get("kind") == "failed":
        raise UserError(str(end.get("reason") or "the upscaler failed"))
    raise UserError(f"the upscaler process ended (exit code {proc.returncode}) without a result; "
                    f"see {run_dir / 'worker.log'}")


# ---------------------------------------------------------------------------------------
# The job (in its own process)
# ---------------------------------------------------------------------------------------

def upscale_worker(run_dir: str | os.PathLike) -> int:
    """Run kind ``upscale``: apply the ``[run]`` prep choices to the project and rebuild
    ``source/prepared.png`` (model upscaler included), as ``images.prepare`` does. Events:
    ``started``, ``progress`` (step, total_steps, message) per phase, ``finished`` with
    ``result`` (the PrepResult as JSON). A refused choice raises ``UserError`` (nothing recorded)."""
    from engine import runs

    run_dir = Path(run_dir).resolve()
    run = runs.read_config(run_dir).get("run", {})
    project = pj.load(run_dir.parent.parent)  # <project>/runs/<id>: the project the run belongs to
    changes = {k: run[k] for k in _PREP_KEYS if k in run}
    with ev.EventWriter(run_dir) as w:
        w.emit("started", total_steps=len(STEPS), epochs=0, model=project.prep.upscaler_model)
        seen: list[str] = []

        def progress(text: str) -> None:
            seen.append(text)
            w.emit("progress", step=min(len(seen), len(STEPS)), total_steps=len(STEPS), message=text)

        result = images.prepare(project, progress=progress, **changes)
        w.emit("progress", step=len(STEPS), total_steps=len(STEPS))
        w.emit("finished", path=str(result.prepared),
               result={**result.to_json(), "warnings": list(result.warnings)})
    return 0


def _beat(run_dir: Path, stop: threading.Event, every: float = 2.0) -> None:
    while not stop.is_set():
        (run_dir / "heartbeat").write_text(f"{time.time():.3f}")
        stop.wait(every)


def main(run_dir: str) -> int:
    """The process around :func:`upscale_worker` until the supervisor owns it: pid, heartbeat,
    a ``failed`` event for any error, exit code 2 for a user mistake and 1 for a bug."""
    import traceback

    path = Path(run_dir)
    (path / "pid").write_text(str(os.getpid()))
    stop = threading.Event()
    threading.Thread(target=_beat, args=(path, stop), daemon=True).start()
    try:
        return upscale_worker(path)
    except BaseException as e:  # noqa: BLE001 — the run must end with an event
        user = isinstance(e, UserError)
        if not user:
            traceback.print_exc()
        with ev.EventWriter(path) as w:
            w.emit("failed", reason=str(e) if user else f"{type(e).__name__}: {e}",
                   hint="fix the setting and try again" if user else
                   "see worker.log in the run folder; this is a bug")
        return 2 if user else 1
    finally:
        stop.set()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
