"""One supervisor for every kind of run (train, reg, sample; room for upscale, grow).

:data:`JOBS` maps a run kind to its job function ``job(run_dir, writer, control, resume)``,
named as ``module:function`` so this module stays light: the job's module (and torch) is
imported only after the worker has written its first event.

:func:`supervise` wraps a job the same way in every process: a heartbeat thread from the
start (so a 45 s model load never looks like a crash), a ``failed`` event with reason and hint
for every way a job can end badly (a full disk included, best effort), and the exit code:
0 finished or stopped, 2 a mistake the user can fix (bad settings, a diagnosed failed run, no
space left), 1 an internal error (the traceback goes to worker.log).

Two ways to run a job:

- detached: ``python -m engine.supervisor RUN_DIR [--resume]`` (engine.runs.start_run spawns
  it with the run's lock already held); :func:`main` writes a ``loading`` event before any
  heavy import, turns SIGTERM into a stop command and exits with the job's code;
- in the foreground: :func:`run_here` runs the job in a thread of this process and prints
  each event as it lands (a line every few seconds while a worker is quiet); Ctrl-C stops
  the run cleanly after the current step.  ``train``, ``reg``, ``sample`` and the demo use it.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

from engine import events as ev

JOBS: dict[str, str] = {
    "train": "engine.train:train_job",
    "reg": "engine.sample:reg_job",
    "sample": "engine.sample:sample_job",
    "grow": "engine.grow:grow_job",
    "upscale": "engine.upscale_job:upscale_job",
}
"""Run kind → job function."""

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2
STARTED_AT = time.time()
"""When this process imported the supervisor (the detached worker: its start)."""
QUIET_SAY = 15.0
"""Seconds without an event before the foreground runner says what the worker is still doing."""


def job_for(kind: str) -> Callable:
    from engine.errors import UserError

    target = JOBS.get(kind)
    if target is None:
        raise UserError(f"run kind {kind!r} is not known to this onelora "
                        f"(known: {', '.join(JOBS)})")
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


class Heartbeat:
    """Touches ``run_dir/heartbeat`` every HEARTBEAT_EVERY seconds from a thread.  Re-entrant
    per run folder: the worker's main starts it before importing anything heavy and the
    wrapper around the job finds it already beating."""

    _active: dict[str, "Heartbeat"] = {}
    _guard = threading.Lock()

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._done = threading.Event()
        self._users = 0

    @classmethod
    def start(cls, run_dir: Path) -> "Heartbeat":
        key = str(Path(run_dir).resolve())
        with cls._guard:
            beat = cls._active.get(key)
            if beat is None:
                beat = cls._active[key] = cls(run_dir)
                beat._beat()
                threading.Thread(target=beat._loop, name="onelora-heartbeat", daemon=True).start()
            beat._users += 1
        return beat

    def _beat(self) -> None:
        from engine import runs

        runs.write_heartbeat(self.run_dir)

    def _loop(self) -> None:
        from engine import runs

        while not self._done.wait(runs.HEARTBEAT_EVERY):
            self._beat()

    def stop(self) -> None:
        with self._guard:
            self._users -= 1
            if self._users <= 0:
                self._done.set()
                self._active.pop(str(self.run_dir.resolve()), None)


def _no_space(e: BaseException | None) -> bool:
    """A full disk, also when a library wrapped the OSError (torch.save raises RuntimeError)."""
    seen = 0
    while e is not None and seen < 5:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(e):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def supervise(run_dir: str | Path, job: Callable | str, *, resume: bool = False,
              reraise: bool = False, since: float | None = None,
              stop_while_starting: bool = False) -> int:
    """Run ``job`` (a function or a run kind) on a run folder; returns the exit code.

    The job writes its own ``started``/progress/end events; an exception becomes a ``failed``
    event (an exception with ``reason``/``hint`` attributes, such as engine.train.RunFailed,
    gives them; a UserError gives its message).  With ``reraise`` a UserError or an internal
    error is raised again after its event (engine.train.train keeps its old contract).

    ``stop_while_starting`` (the detached worker): a ``stop`` that arrives before the job has
    written ``started`` — while it imports torch or loads a model, when it polls no commands
    and has nothing to save — ends the process at once with a ``stopped`` event."""
    from engine import runs
    from engine.errors import UserError

    run_dir = Path(run_dir)
    try:
        runs.hold(run_dir)  # no-op under start_run(detach=False) and in the detached worker
    except UserError as e:  # another process runs this run: its log is not ours to write
        if reraise:
            raise
        print(f"onelora: {e}", file=sys.stderr)
        return EXIT_USER
    beat = Heartbeat.start(run_dir)
    writer: ev.EventWriter | None = None
    try:
        writer = ev.EventWriter(run_dir)
        control = runs.RunControl(run_dir, since=since)  # since: a stop sent while starting counts
        if stop_while_starting:
            threading.Thread(target=_stop_while_starting, args=(writer, control, beat),
                             name="onelora-early-stop", daemon=True).start()
        if isinstance(job, str):
            job = job_for(job)
        job(run_dir, writer, control, resume)
        if writer.last_kind not in ev.END_KINDS:
            writer.emit_event(ev.Finished())
        return EXIT_OK
    except BaseException as e:  # noqa: BLE001 — every end is an event
        code, reason, hint = _classify(e)
        if code == EXIT_INTERNAL:
            traceback.print_exc()
        _best_effort_failed(run_dir, writer, reason, hint)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        if reraise and (isinstance(e, UserError) or code == EXIT_INTERNAL):
            raise
        return code
    finally:
        if writer is not None:
            writer.close()
        beat.stop()
        runs.release(run_dir)  # the lock start_run(detach=False) took for this process


STARTING_KINDS = ("", "loading", "log")


def _hard_exit(code: int) -> None:
    os._exit(code)  # the job's thread is inside a C call (a model load); nothing to save


def _stop_while_starting(writer: ev.EventWriter, control, beat: Heartbeat) -> None:
    """Watch for ``stop`` until the job writes ``started`` (from then on the job polls)."""
    while writer.last_kind in STARTING_KINDS and not beat._done.wait(0.2):
        if control.peek() != "stop":
            continue
        if writer.last_kind not in STARTING_KINDS:
            return  # started meanwhile: the job will see the stop itself
        try:
            writer.emit_event(ev.Stopped(reason="stopped by the user while the run was starting"))
        except OSError:
            pass
        _hard_exit(EXIT_OK)
        return


def _classify(e: BaseException) -> tuple[int, str, str]:
    from engine.errors import UserError

    from engine.files import NoSpaceError

    if isinstance(e, NoSpaceError):  # engine.files already named the folder and the file
        return EXIT_USER, str(e), "free some space, then resume the run"
    if _no_space(e):
        where = getattr(e, "filename", None) or "the disk"
        return (EXIT_USER, f"no space left on {where}",
                "free some space, then resume the run")
    if hasattr(e, "reason"):  # a diagnosed failure (engine.train.RunFailed)
        return EXIT_USER, str(getattr(e, "reason")), str(getattr(e, "hint", ""))
    if isinstance(e, UserError):
        return EXIT_USER, str(e), "fix the setting named above and start the run again"
    if isinstance(e, KeyboardInterrupt):
        return EXIT_USER, "interrupted", "resume it with --resume"
    return (EXIT_INTERNAL, f"{type(e).__name__}: {e}",
            "an internal error; worker.log in the run folder has the traceback")


def _best_effort_failed(run_dir: Path, writer: ev.EventWriter | None, reason: str,
                        hint: str) -> None:
    """Write ``failed`` unless the run already ended; never raise (the disk may be full)."""
    try:
        if writer is None:
            writer = ev.EventWriter(run_dir)
        if writer.last_kind in ev.END_KINDS:
            return
        writer.emit_event(ev.Failed(reason=reason, hint=hint))
    except OSError:
        print(f"onelora: could not write the failed event ({reason})", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# The detached worker process
# ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m engine.supervisor RUN_DIR [--resume]``: the detached run process."""
    argv = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in argv
    args = [a for a in argv if a != "--resume"]
    if len(args) != 1:
        print("usage: python -m engine.supervisor RUN_DIR [--resume]", file=sys.stderr)
        return EXIT_USER
    run_dir = Path(args[0]).resolve()
    lock_fd = _own_lock(run_dir)  # before writing: a second worker must not touch this log
    if lock_fd is None:
        return EXIT_USER
    try:  # first words before anything slow: a detached start returns as soon as it sees them
        with ev.EventWriter(run_dir) as w:
            w.emit_event(ev.Loading(phase="starting"))
    except OSError as e:
        print(f"onelora: cannot write to {run_dir}: {e}", file=sys.stderr)
        return EXIT_USER if _no_space(e) else EXIT_INTERNAL
    beat = Heartbeat.start(run_dir)
    try:
        import signal

        from engine import offline_env, runs

        offline_env()
        runs.adopt(run_dir, lock_fd)
        # `kill PID` (SIGTERM) asks the run to stop like the UI's stop: it saves state and ends
        signal.signal(signal.SIGTERM, lambda *_: runs.send_command(run_dir, "stop"))
        try:
            kind = runs.run_kind(run_dir)
        except Exception as e:  # noqa: BLE001
            _best_effort_failed(run_dir, None, str(e), "the run folder is damaged")
            return EXIT_USER
        return supervise(run_dir, kind, resume=resume, since=STARTED_AT,
                         stop_while_starting=True)
    finally:
        beat.stop()


def _own_lock(run_dir: Path) -> int | None:
    """The run's lock: inherited from engine.runs.start_run, or taken here (a worker started
    by hand).  None when another process runs this run."""
    fd_text = os.environ.pop("ONELORA_LOCK_FD", "")
    if fd_text.isdigit():
        fd = int(fd_text)
        try:
            os.fstat(fd)
            os.set_inheritable(fd, False)  # the job's own subprocesses must not keep it alive
            return fd
        except OSError:
            pass
    from engine import runs
    from engine.errors import UserError

    try:
        return runs.take_lock(run_dir)
    except UserError as e:
        print(f"onelora: {e}", file=sys.stderr)
        return None


# ---------------------------------------------------------------------------------------
# The foreground runner
# ---------------------------------------------------------------------------------------

class Printer:
    """Turns events into lines for a terminal: every event but steps and progress, which are
    shown at most every ``every`` seconds (0: all of them); the last one is always shown."""

    def __init__(self, say: Callable[[str], None] = print, every: float = 0.0,
                 stamps: bool = True):
        self.say, self.every, self.stamps = say, every, stamps
        self._last_progress = 0.0
        self._held: dict | None = None

    def __call__(self, e: dict) -> None:
        if e.get("kind") in ("step", "progress"):
            now = time.monotonic()
            if self.every and now - self._last_progress < self.every:
                self._held = e
                return
            self._last_progress, self._held = now, None
        else:
            self.flush_held()
        self._line(e)

    def flush_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._line(held)

    def _line(self, e: dict) -> None:
        text = ev.describe(e)
        self.say(f"{ev.stamp(e)} {text}" if self.stamps else text)


def run_here(run_dir: Path, kind: str | None = None, *, resume: bool = False,
             on_event: Callable[[dict], None] | None = None,
             say: Callable[[str], None] = print, job: Callable | None = None) -> int:
    """Run a run's job in a thread of this process (the run folder was made, and its lock
    taken, by ``engine.runs.start_run(..., detach=False)``), passing each event to
    ``on_event`` and saying what a quiet worker is still doing every QUIET_SAY seconds.
    Ctrl-C asks the run to stop (a second Ctrl-C abandons it).  Returns the exit code."""
    from engine import runs

    run_dir = Path(run_dir)
    since = time.time()
    on_event = on_event or Printer(say)
    if job is None:
        job = job_for(kind or runs.run_kind(run_dir))
    result: list[int] = []
    errors: list[BaseException] = []

    done = threading.Event()

    def target() -> None:
        try:
            result.append(supervise(run_dir, job, resume=resume, since=since))
        except BaseException as e:  # noqa: BLE001 — re-raised in the calling thread
            errors.append(e)
        finally:
            done.set()

    runs.hold(run_dir)
    reader = ev.EventReader.for_run(run_dir)
    reader.read_new()  # a resumed run's history is not news
    status = ev.RunStatus()
    worker = threading.Thread(target=target, name=f"onelora-{run_dir.name}", daemon=True)
    t0 = last = time.monotonic()
    worker.start()
    stop_sent = False
    try:
        # not worker.is_alive()/join(): a Ctrl-C that lands inside Thread.join() can leave the
        # thread looking finished while it still trains (CPython 3.11), and this loop then
        # returned with the job running: no stop, no saved state, an abort at exit
        while not done.is_set():
            try:
                batch = reader.read_new()
                for e in batch:
                    status.apply(e)
                    on_event(e)
                now = time.monotonic()
                if batch:
                    last = now
                elif now - last >= QUIET_SAY:
                    doing = status.phase or ("working" if status.state == "running" else "starting")
                    say(f"# still {doing} ({now - t0:.0f} s since start)")
                    last = now
                done.wait(0.2)
            except KeyboardInterrupt:
                if stop_sent:
                    raise
                runs.send_command(run_dir, "stop")
                stop_sent = True
                say("# stopping (Ctrl-C again to abandon the run)")
        for e in reader.read_new():
            on_event(e)
        if isinstance(on_event, Printer):
            on_event.flush_held()
    finally:
        runs.release(run_dir)
    if errors:
        raise errors[0]
    return result[0] if result else EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
