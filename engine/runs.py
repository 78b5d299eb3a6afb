"""Runs: start, list, attach to and control training/sampling/generation processes.

A run lives in ``<project>/runs/<run-id>/`` (docs/architecture.md, "The run folder"):

- ``config.toml``  the frozen project settings the run started with (plus ``[run]``)
- ``events.jsonl`` append-only event log (engine/events.py)
- ``control``      the latest command from a UI, JSON ``{"seq": n, "command": "stop"}``
- ``lock``         held (``flock``) by the run's process for as long as it lives: the OS
                   releases it when the process dies, even by ``kill -9``
- ``pid``, ``heartbeat``  the process id and a time touched every 2 s (secondary signals)
- ``state/``       resumable training state; ``*.safetensors`` LoRAs per epoch

Liveness rests on the lock, not on the pid (a reused pid must not keep a crashed run
"running").  One job of each kind runs at a time per project: a second start raises
:class:`JobRunning` unless ``force``.  The run's process (engine/supervisor.py) is started in
its own session so that closing the terminal or the TUI never stops it.  This module imports
no torch: the TUI uses it to start and watch runs.
"""

from __future__ import annotations

import fcntl
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

import tomli_w

from engine import events as ev
from engine.errors import UserError
from engine.project import Project, atomic_write_text, project_from_dict, to_dict

RUNS_DIR = "runs"
LOCK_FILE = "lock"
START_LOCK = ".start.lock"
CONTROL_COMMANDS = ("stop", "pause", "resume", "sample-now")
ACTIVE = ("starting", "running", "paused")
HEARTBEAT_EVERY = 2.0
HEARTBEAT_STALE = 30.0
DETACH_WAIT = 10.0
"""Longest a detached start waits for the worker's first event (it comes in well under 1 s)."""


class JobRunning(UserError):
    """A job of this kind already runs on the project (start it anyway with ``force``)."""

    def __init__(self, message: str, run_id: str, kind: str):
        super().__init__(message)
        self.run_id, self.kind = run_id, kind


@dataclass
class RunInfo:
    """What a reader can tell about a run from its directory alone."""

    id: str
    path: Path
    kind: str
    status: str
    """starting, running, paused, finished, failed, stopped, crashed or unreadable."""
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    epochs: int = 0
    loss: float | None = None
    reason: str = ""
    hint: str = ""
    phase: str = ""
    """What a starting worker is doing (loading model, caching latents, compiling)."""
    note: str = ""
    """Something odd but not fatal: unreadable event lines, a missing heartbeat."""
    sampling: str = ""
    """"sampling epoch N: k/M images" while the live run draws samples, else ""."""


def runs_root(project_root: str | os.PathLike) -> Path:
    return Path(project_root) / RUNS_DIR


def new_run_dir(project: Project, kind: str) -> Path:
    """A fresh ``runs/<stamp>-<kind>[-n]`` folder; ``mkdir`` decides, so two runs started in the
    same second (in two processes) never share one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{kind}"
    root = runs_root(project.root)
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UserError(f"{root} has 10000 runs named {base}-*; remove some")


def freeze_config(project: Project, run_dir: Path, kind: str, **run: object) -> Path:
    """Write the settings the run uses, so later edits to project.toml don't change it.

    On builtin:tiny, sample and reg sizes still at the seed's 512² defaults become the tiny
    model's own size here, and ``[run] sizes`` says so (engine/tiny_sizes.py)."""
    from engine.tiny_sizes import fit_to_model

    data = to_dict(project)
    data["run"] = {"kind": kind, "project": str(Path(project.root).resolve()),
                   **{k: v for k, v in run.items() if v is not None}}
    note = fit_to_model(data, run.get("model") or project.train.model)
    if note:
        data["run"]["sizes"] = note
    path = run_dir / "config.toml"
    atomic_write_text(path, tomli_w.dumps(data))
    return path


def read_config(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / "config.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found: {run_dir} is not a run directory") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as e:
        raise UserError(f"{path} is damaged ({e}); this run cannot be read") from None


def project_root_of(run_dir: str | os.PathLike) -> Path:
    """The project a run belongs to: ``runs/<id>/../..`` (so a moved project still resumes);
    the path frozen in config.toml only for a run folder outside a project."""
    run_dir = Path(run_dir).resolve()
    if run_dir.parent.name == RUNS_DIR:
        return run_dir.parent.parent
    frozen = read_config(run_dir).get("run", {}).get("project")
    return Path(frozen) if frozen else run_dir.parent.parent


def load_run_project(run_dir: str | os.PathLike) -> tuple[Project, dict]:
    """The frozen project of a run (rooted where the run folder is now) and its ``[run]``."""
    data = read_config(run_dir)
    run = dict(data.pop("run", {}) or {})
    return project_from_dict(data, project_root_of(run_dir)), run


def run_kind(run_dir: str | os.PathLike) -> str:
    return str(read_config(run_dir).get("run", {}).get("kind", "train"))


# ---------------------------------------------------------------------------------------
# Locks: held by a run's process, released by the OS when it dies
# ---------------------------------------------------------------------------------------

_HELD: dict[str, int] = {}
"""Run locks this process holds (foreground runs), by run folder."""


def lock_held(run_dir: str | os.PathLike) -> bool | None:
    """True when a live process holds the run's lock, False when not, None when the run has no
    lock file (made by an older onelora)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing releases a probe's lock
    return False


def take_lock(run_dir: str | os.PathLike, wait: float = 2.0) -> int:
    """Hold the run's lock (returns its descriptor); a UserError when another process has it."""
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    end = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= end:  # a reader's probe lasts microseconds; a worker, longer
                os.close(fd)
                raise UserError(f"run {Path(run_dir).name} is already running in another "
                                "process") from None
            time.sleep(0.02)


def hold(run_dir: Path, wait: float = 2.0) -> None:
    """Hold the lock of a run this process runs itself (no-op when it holds it already)."""
    key = str(Path(run_dir).resolve())
    if key not in _HELD:
        _HELD[key] = take_lock(run_dir, wait)


def adopt(run_dir: Path, fd: int) -> None:
    """Count a lock descriptor this process inherited (the detached worker) as held."""
    _HELD[str(Path(run_dir).resolve())] = fd


def release(run_dir: Path) -> None:
    fd = _HELD.pop(str(Path(run_dir).resolve()), None)
    if fd is not None:
        os.close(fd)


class _StartLock:
    """Serialises the check-then-start of runs across processes (held for milliseconds)."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(root / START_LOCK, os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self) -> "_StartLock":
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def running_jobs(project_root: str | os.PathLike, kind: str | None = None) -> list[RunInfo]:
    """The runs of ``kind`` whose process is alive (by their lock)."""
    out = []
    for path in _run_dirs(project_root):
        if lock_held(path) is not True:
            continue
        info = run_info(path, excerpt=True)  # ended (an end event) but still exiting: not a job
        if info.status in ACTIVE and (kind is None or info.kind == kind):
            out.append(info)
    return out


def check_no_job(project: Project, kind: str) -> None:
    """Raise :class:`JobRunning` when a ``kind`` job already runs on the project."""
    busy = running_jobs(project.root, kind)
    if busy:
        r = busy[-1]
        at = f" at step {r.step}/{r.total_steps}" if r.total_steps else ""
        raise JobRunning(f"a {kind} job is already running on this project: run {r.id}{at}; "
                         f"stop it with 'onelora stop {project.root} {r.id}' or start another "
                         "anyway with --force", r.id, kind)


def start_run(project: Project, kind: str, *, detach: bool = True, resume: str | None = None,
              force: bool = False, **run: object) -> Path:
    """Create a run directory and start its worker process in a new session.

    With ``detach=False`` the folder is made and its lock held by this process; the caller
    runs the job itself (engine.supervisor.run_here).  ``force`` starts a second job of a kind
    that already runs (it is not part of the run's settings)."""
    with _StartLock(runs_root(project.root)):
        if resume:
            run_dir = find_run(project.root, resume)
            info = run_info(run_dir, excerpt=True)
            if info.status in ACTIVE:
                raise UserError(f"run {info.id} is still running; stop it first "
                                f"(onelora stop {project.root} {info.id})")
            if run_kind(run_dir) == "train" and not has_saved_state(run_dir):
                # refused here, not by a worker that loads the model first and then turns the
                # crashed run into a failed one with a hint about settings
                raise UserError(no_state_message(run_dir))
            if not force:
                check_no_job(project, run_kind(run_dir))
            (run_dir / "control").unlink(missing_ok=True)
        else:
            if not force:
                check_no_job(project, kind)
            run_dir = new_run_dir(project, kind)
            freeze_config(project, run_dir, kind, **run)
        wait = 15.0 if resume else 2.0  # a stopped run's process may still be exiting
        if not detach:
            hold(run_dir, wait)
            return run_dir
        fd = take_lock(run_dir, wait)
        try:
            proc = _spawn(run_dir, fd, bool(resume), Path(project.root))
        finally:
            os.close(fd)  # the worker holds its own copy now
    atomic_write_text(run_dir / "pid", str(proc.pid))
    _wait_first_event(run_dir, proc)
    return run_dir


def _spawn(run_dir: Path, lock_fd: int, resume: bool, cwd: Path) -> subprocess.Popen:
    # absolute: the worker runs in the project folder, not in the caller's cwd
    cmd = [sys.executable, "-m", "engine.supervisor", str(run_dir.resolve())]
    if resume:
        cmd.append("--resume")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["ONELORA_LOCK_FD"] = str(lock_fd)
    with open(run_dir / "worker.log", "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                cwd=str(cwd), pass_fds=(lock_fd,))


def _wait_first_event(run_dir: Path, proc: subprocess.Popen, timeout: float | None = None) -> None:
    """Return once the worker has said something (its ``loading`` event) or has ended."""
    path = run_dir / ev.EVENTS_FILE
    end = time.monotonic() + (DETACH_WAIT if timeout is None else timeout)
    size = path.stat().st_size if path.exists() else 0
    while time.monotonic() < end and proc.poll() is None:
        try:
            if path.stat().st_size > size:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------
# The worker's side: pid, heartbeat, control
# ---------------------------------------------------------------------------------------

def write_heartbeat(run_dir: Path, now: float | None = None) -> None:
    """Replace ``heartbeat`` with the time (a reader never sees it half written); a full disk
    is ignored here: the lock says the run lives."""
    path = Path(run_dir) / "heartbeat"
    tmp = path.with_name(f".heartbeat.{os.getpid()}.{threading.get_ident()}")
    try:
        tmp.write_text(f"{time.time() if now is None else now:.3f}")
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


class RunControl:
    """Used inside the run process: heartbeat and commands from the UI."""

    def __init__(self, run_dir: str | os.PathLike, since: float | None = None):
        """Commands written before the run started are stale; ``since`` is when its process
        started, so a stop sent while the worker was still importing is not lost."""
        self.run_dir = Path(run_dir)
        self._seq = self._read()[0]
        if since is not None and self._seq and self._sent_at() >= since:
            self._seq -= 1  # the pending command is this run's: poll() returns it
        self._last_beat = 0.0
        (self.run_dir / "pid").write_text(str(os.getpid()))
        self.beat(force=True)

    def beat(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_beat >= HEARTBEAT_EVERY:
            write_heartbeat(self.run_dir, now)
            self._last_beat = now

    def _sent_at(self) -> float:
        try:
            return float(json.loads((self.run_dir / "control").read_text()).get("t", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0.0

    def _read(self) -> tuple[int, str]:
        try:
            data = json.loads((self.run_dir / "control").read_text())
            return int(data.get("seq", 0)), str(data.get("command", ""))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0, ""

    def peek(self) -> str | None:
        """The newest unseen command, left for :meth:`poll` (no heartbeat)."""
        seq, command = self._read()
        return command if seq > self._seq and command in CONTROL_COMMANDS else None

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
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    atomic_write_text(path, json.dumps({"seq": seq + 1, "command": command, "t": time.time()}))


# ---------------------------------------------------------------------------------------
# The reader's side: status of a run
# ---------------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    if not 0 < pid < 2 ** 22:  # no such pid on Linux (pid_max ≤ 4194304)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    # A zombie (our own exited child not yet reaped) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _read_number(path: Path) -> float | None:
    try:
        return float(path.read_text(encoding="utf-8", errors="replace").strip())
    except (OSError, ValueError, OverflowError):
        return None


def heartbeat_age(run_dir: Path) -> float | None:
    beat = _read_number(run_dir / "heartbeat")
    return None if beat is None else time.time() - beat


def process_alive(run_dir: Path) -> bool:
    """Is the run's process there?  The lock decides; for a run without a lock file (an older
    onelora) a live pid with a fresh heartbeat."""
    held = lock_held(run_dir)
    if held is not None:
        return held
    pid = _read_number(run_dir / "pid")
    if pid is None or not pid_alive(int(pid)):
        return False
    age = heartbeat_age(run_dir)
    return age is None or age < HEARTBEAT_STALE


STATE_FILE = Path("state") / "state.pt"
"""A training run's resumable state (engine.train writes it at each epoch end and on stop)."""


def has_saved_state(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / STATE_FILE).is_file()


def no_state_message(run_dir: str | os.PathLike) -> str:
    return (f"run {Path(run_dir).name} has no saved state to resume: it ended before its first "
            "epoch did (the state is written at each epoch end and on stop); start a new run")


def resume_hint(run_dir: Path) -> str:
    """What to do about a crashed run of this kind (the command that resumes it, if any)."""
    run_id = Path(run_dir).name
    try:
        kind, root = run_kind(run_dir), project_root_of(run_dir)
    except (UserError, OSError, ValueError):  # a damaged folder: say only what is certain
        kind, root = "?", "DIR"
    if kind == "train" and not has_saved_state(run_dir):
        return no_state_message(run_dir) + f" (onelora train {root})"
    if kind in ("train", "grow"):
        return f"resume it (onelora {kind} {root} --resume {run_id}) or look at worker.log"
    if kind == "reg":
        return f"start reg again (onelora reg {root}): it draws only the missing images"
    return f"look at {Path(run_dir) / 'worker.log'}"


def status_of(status: ev.RunStatus, alive: bool, run_dir: Path) -> tuple[str, str, str]:
    """(status, reason, hint) of a run: an end event wins; a dead process without one is a
    crash.  Used by `runs`, `watch` and the TUI dashboard."""
    if status.ended:
        return status.state, status.reason, status.hint
    if not alive:
        if status.events or (run_dir / "pid").exists() or (run_dir / LOCK_FILE).exists():
            return ("crashed", "the run process ended without a finished or failed event",
                    resume_hint(run_dir))
        return "starting", "", ""
    return status.state, "", ""


def summarize(run_dir: Path, events: list[dict], alive: bool | None = None) -> RunInfo:
    """Fold a run's events into a RunInfo (kept for callers that already hold the events)."""
    return _info(run_dir, ev.RunStatus.fold(events), alive)


def _info(run_dir: Path, status: ev.RunStatus, alive: bool | None = None) -> RunInfo:
    kind = run_kind(run_dir)  # a damaged config.toml makes the run unreadable (run_info)
    if alive is None:
        alive = process_alive(run_dir)
    state, reason, hint = status_of(status, alive, run_dir)
    info = RunInfo(id=run_dir.name, path=run_dir, kind=kind, status=state, step=status.step,
                   total_steps=status.total_steps, epoch=status.epoch, epochs=status.epochs,
                   loss=status.loss, reason=reason, hint=hint,
                   phase=status.phase if state == "starting" else "",
                   sampling=status.sampling_now if alive and state in ACTIVE else "")
    notes = []
    if status.bad_events:
        notes.append(f"{status.bad_events} unreadable event line(s): {status.problem}")
    if alive and state in ACTIVE:
        age = heartbeat_age(run_dir)
        if age is not None and age > HEARTBEAT_STALE:
            notes.append(f"no heartbeat for {age:.0f} s (the process may hang)")
    info.note = "; ".join(notes)
    return info


def run_info(run_dir: str | os.PathLike, excerpt: bool = False) -> RunInfo:
    """A run's status: from all its events, or (``excerpt``) from the head and the tail of a
    long log only.  A run folder that cannot be read is ``unreadable`` with the reason."""
    run_dir = Path(run_dir)
    try:
        path = run_dir / ev.EVENTS_FILE
        if excerpt:
            try:
                ex = ev.read_excerpt(path)
                events, bad = ex.events, ex.bad
            except FileNotFoundError:
                events, bad = [], []
        else:
            reader = ev.EventReader(path)
            events = reader.read_new()
            bad = ["a line that is not an event"] * reader.bad_lines
        status = ev.RunStatus.fold(events)
        status.bad_events += len(bad)
        status.problem = status.problem or (bad[0] if bad else "")
        return _info(run_dir, status)
    except (OSError, UserError, ValueError) as e:
        return RunInfo(id=run_dir.name, path=run_dir, kind="?", status="unreadable",
                       reason=str(e) or type(e).__name__,
                       hint=f"look at {run_dir}; remove the folder if it is of no use")


def _run_dirs(project_root: str | os.PathLike) -> list[Path]:
    root = runs_root(project_root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.toml").exists())


def list_runs(project_root: str | os.PathLike) -> list[RunInfo]:
    """Every run of a project, each from config.toml and the ends of its event log (fast for
    long runs; one damaged run folder shows as ``unreadable`` and hides none of the others)."""
    return [run_info(p, excerpt=True) for p in _run_dirs(project_root)]


def find_run(project_root: str | os.PathLike, run_id: str | None = None) -> Path:
    """A run by id (or unique prefix); without an id, the newest run."""
    root = runs_root(project_root)
    runs = _run_dirs(project_root)
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


def stop_run(project_root: str | os.PathLike, run_id: str | None = None) -> Path:
    """Ask a run to stop; without an id, the project's one active run."""
    if not run_id:
        active = [r for r in list_runs(project_root) if r.status in ACTIVE]
        if not active:
            raise UserError(f"no run of {project_root} is running; 'onelora runs "
                            f"{project_root}' lists them")
        if len(active) > 1:
            raise UserError(f"{len(active)} runs are running ({', '.join(r.id for r in active)});"
                            f" name one: onelora stop {project_root} RUN")
        run_id = active[0].id
    run_dir = find_run(project_root, run_id)
    info = run_info(run_dir, excerpt=True)
    if info.status not in ACTIVE:
        raise UserError(f"run {info.id} is not running (it is {info.status})")
    send_command(run_dir, "stop")
    return run_dir
