"""Runs: start, list, attach to and control training/sampling/generation processes.

A run lives in ``<project>/runs/<run-id>/`` (DESIGN.md §Boundaries 3):

- ``config.toml``  the frozen project settings the run started with (plus ``[run]``)
- ``events.jsonl`` append-only event log (engine/events.py)
- ``control``      the latest command from a UI, JSON ``{"seq": n, "command": "stop"}``
- ``pid``          the run process id; ``heartbeat`` is touched every few seconds
- ``state/``       resumable training state; ``*.safetensors`` LoRAs per epoch

This module imports no torch: the TUI uses it to start and watch runs.  The run itself is
a separate process (``python -m engine.cli run-worker RUN_DIR``) started in its own session
so that closing the terminal or the TUI never stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import tomli_w

from engine import events as ev
from engine.errors import UserError
from engine.project import Project, atomic_write_text, to_dict

RUNS_DIR = "runs"
CONTROL_COMMANDS = ("stop", "pause", "resume", "sample-now")
HEARTBEAT_EVERY = 2.0
HEARTBEAT_STALE = 30.0


@dataclass
class RunInfo:
    """What a reader can tell about a run from its directory alone."""

    id: str
    path: Path
    kind: str
    status: str
    """running, paused, finished, failed, stopped, crashed or starting."""
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    epochs: int = 0
    loss: float | None = None
    reason: str = ""
    hint: str = ""


def runs_root(project_root: str | os.PathLike) -> Path:
    return Path(project_root) / RUNS_DIR


def new_run_dir(project: Project, kind: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{kind}"
    root = runs_root(project.root)
    root.mkdir(parents=True, exist_ok=True)
    path, n = root / base, 1
    while path.exists():
        n += 1
        path = root / f"{base}-{n}"
    path.mkdir()
    return path


def freeze_config(project: Project, run_dir: Path, kind: str, **run: object) -> Path:
    """Write the settings the run uses, so later edits to project.toml don't change it."""
    data = to_dict(project)
    data["run"] = {"kind": kind, "project": str(Path(project.root).resolve()),
                   **{k: v for k, v in run.items() if v is not None}}
    path = run_dir / "config.toml"
    atomic_write_text(path, tomli_w.dumps(data))
    return path


def read_config(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "config.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found: {run_dir} is not a run directory")


def start_run(project: Project, kind: str, *, detach: bool = True, resume: str | None = None,
              **run: object) -> Path:
    """Create a run directory and start its worker process in a new session."""
    if resume:
        run_dir = find_run(project.root, resume)
        info = run_info(run_dir)
        if info.status in ("running", "paused", "starting"):
            raise UserError(f"run {info.id} is still running; stop it first "
                            f"(onelora stop {project.root} {info.id})")
        (run_dir / "control").unlink(missing_ok=True)
    else:
        run_dir = new_run_dir(project, kind)
        freeze_config(project, run_dir, kind, **run)
    # absolute: the worker runs in the project folder, not in the caller's cwd
    cmd = [sys.executable, "-m", "engine.cli", "run-worker", str(run_dir.resolve())]
    if resume:
        cmd.append("--resume")
    if not detach:
        return run_dir
    log = open(run_dir / "worker.log", "ab")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env, cwd=str(project.root))
    log.close()
    (run_dir / "pid").write_text(str(proc.pid))
    return run_dir


# ---------------------------------------------------------------------------------------
# The worker's side: pid, heartbeat, control
# ---------------------------------------------------------------------------------------

class RunControl:
    """Used inside the run process: heartbeat and commands from the UI."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._seq = self._read()[0]  # commands written before we started are stale
        self._last_beat = 0.0
        (self.run_dir / "pid").write_text(str(os.getpid()))
        self.beat(force=True)

    def beat(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_beat >= HEARTBEAT_EVERY:
            (self.run_dir / "heartbeat").write_text(f"{now:.3f}")
            self._last_beat = now

    def _read(self) -> tuple[int, str]:
        try:
            data = json.loads((self.run_dir / "control").read_text())
            return int(data.get("seq", 0)), str(data.get("command", ""))
        except (FileNotFoundError, ValueError, json.JSONDecodeError):
            return 0, ""

    def poll(self) -> str | None:
        """The newest unseen command, or None."""
        self.beat()
        seq, command = self._read()
        if seq > self._seq and command in CONTROL_COMMANDS:
            self._seq = seq
            return command
        return None


def send_command(run_dir: str | os.PathLike, command: str) -> None:
    """Write a control command atomically (the UI's side)."""
    if command not in CONTROL_COMMANDS:
        raise UserError(f"unknown command {command!r}; use one of {', '.join(CONTROL_COMMANDS)}")
    path = Path(run_dir) / "control"
    seq = 0
    try:
        seq = int(json.loads(path.read_text()).get("seq", 0))
    except (FileNotFoundError, ValueError, json.JSONDecodeError):
        pass
    atomic_write_text(path, json.dumps({"seq": seq + 1, "command": command, "t": time.time()}))


# ---------------------------------------------------------------------------------------
# The reader's side: status of a run
# ---------------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def process_alive(run_dir: Path) -> bool:
    try:
        pid = int((run_dir / "pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    if not pid_alive(pid):
        return False
    try:
        beat = float((run_dir / "heartbeat").read_text())
    except (FileNotFoundError, ValueError):
        return True  # started, no heartbeat yet
    return time.time() - beat < HEARTBEAT_STALE


def summarize(run_dir: Path, events: list[dict], alive: bool | None = None) -> RunInfo:
    """Fold a run's events into a RunInfo (used by `onelora runs` and the dashboard)."""
    try:
        kind = read_config(run_dir).get("run", {}).get("kind", "train")
    except UserError:
        kind = "?"
    info = RunInfo(id=run_dir.name, path=run_dir, kind=kind, status="starting")
    paused = False
    for e in events:
        k = e.get("kind")
        if k == "started":
            info.status = "running"
            info.total_steps = int(e.get("total_steps", 0) or 0)
            info.epochs = int(e.get("epochs", 0) or 0)
        elif k in ("step", "progress"):
            info.step = int(e.get("step", info.step) or 0)
            info.epoch = int(e.get("epoch", info.epoch) or 0)
            info.total_steps = int(e.get("total_steps", info.total_steps) or 0)
            if "loss" in e:
                info.loss = ev.as_float(e.get("loss"))
        elif k == "epoch_end":
            info.epoch = int(e.get("epoch", info.epoch) or 0)
        elif k == "paused":
            paused = True
        elif k == "resumed":
            paused = False
        elif k in ev.END_KINDS:
            info.status = k
            info.reason = str(e.get("reason", ""))
            info.hint = str(e.get("hint", ""))
    if info.status in ("starting", "running"):
        if alive is None:
            alive = process_alive(run_dir)
        if not alive:
            info.status = "crashed" if (events or (run_dir / "pid").exists()) else "starting"
            if info.status == "crashed":
                info.reason = "the run process ended without a finished or failed event"
                info.hint = "resume it (onelora train DIR --resume RUN) or look at worker.log"
        elif paused:
            info.status = "paused"
    return info


def run_info(run_dir: str | os.PathLike) -> RunInfo:
    run_dir = Path(run_dir)
    return summarize(run_dir, ev.read_events(run_dir))


def list_runs(project_root: str | os.PathLike) -> list[RunInfo]:
    root = runs_root(project_root)
    if not root.is_dir():
        return []
    dirs = sorted(p for p in root.iterdir() if (p / "config.toml").exists())
    return [run_info(p) for p in dirs]


def find_run(project_root: str | os.PathLike, run_id: str | None = None) -> Path:
    """A run by id (or unique prefix); without an id, the newest run."""
    root = runs_root(project_root)
    runs = sorted(p for p in root.iterdir() if (p / "config.toml").exists()) if root.is_dir() else []
    if not runs:
        raise UserError(f"no runs in {root}; start one with 'onelora train {project_root}'")
    if not run_id or run_id == "latest":
        return runs[-1]
    exact = [p for p in runs if p.name == run_id]
    if exact:
        return exact[0]
    matches = [p for p in runs if p.name.startswith(run_id) or run_id in p.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(f"no run {run_id!r} in {root}; runs: {', '.join(p.name for p in runs)}")
    raise UserError(f"{run_id!r} matches several runs: {', '.join(p.name for p in matches)}")


def run_foreground(run_dir: Path, work: Callable[[], None],
                   on_event: Callable[[dict], None]) -> None:
    """Run a run's worker function in a thread of this process while passing each new event to
    ``on_event``; Ctrl-C asks the run to stop (a second Ctrl-C abandons it).  An exception in
    the worker is raised here once its events are shown."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as e:  # re-raised in the calling thread
            errors.append(e)

    worker = threading.Thread(target=target, name=f"onelora-{run_dir.name}", daemon=True)
    worker.start()
    reader = ev.EventReader.for_run(run_dir)
    stop_sent = False
    while worker.is_alive():
        try:
            for e in reader.read_new():
                on_event(e)
            worker.join(0.25)
        except KeyboardInterrupt:
            if stop_sent:
                raise
            send_command(run_dir, "stop")
            stop_sent = True
            print("# stopping (Ctrl-C again to abandon the run)", flush=True)
    for e in reader.read_new():
        on_event(e)
    if errors:
        raise errors[0]


def stop_run(project_root: str | os.PathLike, run_id: str) -> Path:
    run_dir = find_run(project_root, run_id)
    info = run_info(run_dir)
    if info.status not in ("running", "paused", "starting"):
        raise UserError(f"run {info.id} is not running (it is {info.status})")
    send_command(run_dir, "stop")
    return run_dir
