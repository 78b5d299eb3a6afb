"""Following a run directory from the TUI: fold events into a model, post coalesced updates.

The run directory is the only contract with the run process (docs/architecture.md, "The run folder").  A
:class:`RunFollower` thread reads ``events.jsonl`` — first the whole history in one pass, then
whatever is appended — folds every event into a :class:`RunModel` under a lock, and posts a
:class:`RunUpdated` message.  ``RunUpdated.can_replace`` lets Textual drop a stale update that
is still queued when a newer one arrives (toolong's ``PendingLines`` pattern), so a run writing
hundreds of events a second costs the screen one redraw per frame, not one per event.  Nothing
is lost by replacing: the model, not the message, holds the data.

This module imports textual only for the message class; the folding is plain Python so the
benchmark and the tests can drive it directly.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message

from engine import events as ev
from engine import runs
from engine.errors import UserError
from tui.wording import in_tui_terms

RECENT_EVENTS = 200
HISTORY_STEPS = 4096
_NOT_STEP = re.compile(rb'"kind":"(?!step")')
NAN_KEEP = 100


_f = ev.as_float


def format_event(e: dict) -> str:
    """One line per event for the dashboard's event list: its time and engine.events.describe
    (the same words as `onelora watch` and the demo), with CLI advice put in TUI terms."""
    return f"{ev.stamp(e)} {in_tui_terms(ev.describe(e))}"


@dataclass
class NanRecord:
    """One non-finite event as the NaN panel shows it."""

    step: int
    what: str
    files: list[str]
    captions: list[str]
    action: str
    t: float = 0.0


@dataclass
class RunModel:
    """Everything the dashboard shows about one run: where it stands (the shared
    engine.events.RunStatus fold) plus the chart's history and the NaN panel's records."""

    run_dir: Path
    status: ev.RunStatus = field(default_factory=ev.RunStatus)
    steps: array = field(default_factory=lambda: array("d"))
    loss: array = field(default_factory=lambda: array("d"))
    loss_ema: array = field(default_factory=lambda: array("d"))
    lr: dict[str, float] = field(default_factory=dict)
    it_s: float = math.nan
    vram_mb: float = math.nan
    first_step_t: float = 0.0
    first_step: int = 0
    last_step_t: float = 0.0
    epoch_tails: list[float] = field(default_factory=list)
    """Seconds from each closed epoch's last step to its ``epoch_end``: saving and sampling."""
    tail_since: float = 0.0
    """When the open epoch's tail began (its last step), 0 while steps are still coming."""
    epochs_closed: int = 0
    nonfinite: list[NanRecord] = field(default_factory=list)
    recent: deque = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    events_seen: int = 0
    version: int = 0

    # the fold's numbers, under the names the dashboard has always used
    step = property(lambda self: self.status.step)
    total_steps = property(lambda self: self.status.total_steps)
    epoch = property(lambda self: self.status.epoch)
    epochs = property(lambda self: self.status.epochs)
    steps_per_epoch = property(lambda self: self.status.steps_per_epoch)
    device = property(lambda self: self.status.device)
    precision = property(lambda self: self.status.precision)
    last_t = property(lambda self: self.status.last_t)
    paused = property(lambda self: self.status.state == "paused")
    end_kind = property(lambda self: self.status.state if self.status.ended else "")
    final_path = property(lambda self: self.status.path)
    last_checkpoint = property(lambda self: self.status.last_checkpoint)
    samples = property(lambda self: self.status.samples)
    rollbacks = property(lambda self: self.status.rollbacks)
    nonfinite_total = property(lambda self: self.status.nonfinite)

    def fold(self, e: dict) -> None:
        """Apply one event (any order of kinds is tolerated; unknown kinds are listed only,
        unreadable ones are counted by the status and skipped)."""
        try:
            event = ev.parse(e)
        except ev.BadEvent:
            self.status.apply(e)  # counts it
            return
        self.events_seen += 1
        self.status.apply(event)
        if isinstance(event, ev.Step):
            self.last_step_t, self.tail_since = event.t, 0.0
            if not self.first_step_t:
                self.first_step_t, self.first_step = event.t, event.step
            self.steps.append(event.step)
            self.loss.append(event.loss)
            self.loss_ema.append(event.loss_ema)
            if event.lr:
                self.lr = dict(event.lr)
            if "it_s" in e:
                self.it_s = event.it_s
            if "vram_mb" in e:
                self.vram_mb = event.vram_mb
            return  # steps are too many for the event list; the chart shows them
        self.recent.append(e)
        if isinstance(event, (ev.Checkpoint, ev.Sample)) and self.last_step_t \
                and not self.tail_since:
            self.tail_since = self.last_step_t  # the epoch's steps are done: saving, sampling
        elif isinstance(event, ev.EpochEnd):
            self.epochs_closed += 1
            if self.last_step_t and event.t >= self.last_step_t:
                self.epoch_tails.append(event.t - self.last_step_t)
            self.tail_since = 0.0
        if isinstance(event, ev.Nonfinite):
            self.nonfinite.append(NanRecord(
                step=event.step, what=event.what, files=list(event.files),
                captions=list(event.captions), action=event.action, t=event.t))
            del self.nonfinite[:-NAN_KEEP]

    def fold_all(self, batch: list[dict]) -> None:
        for e in batch:
            self.fold(e)
        if batch:
            self.version += 1

    # --- derived numbers --------------------------------------------------------------

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left (see :meth:`eta`)."""
        return self.eta(now)[0]

    def eta(self, now: float | None = None) -> tuple[float | None, bool]:
        """(seconds left, whether the per-epoch tail is in them).

        The steps left at the trainer's rate, plus each epoch still to close times the mean
        tail (save + samples) of the epochs closed so far, less the time the open tail has
        already taken (so the ETA counts down while samples are drawn).  Before any epoch has
        closed, the tail is the samples still to draw × the seconds per image of the first
        batch drawn; until that batch is done it is not known (False)."""
        if self.end_kind or not self.total_steps:
            return None, True
        steps = self._steps_left_s()
        if steps is None:
            return None, True
        now = time.time() if now is None else now
        if not self.epochs:
            return steps, True
        if not self.epoch_tails:
            left = self._sampling_left_s(now)
            return (steps, False) if left is None else (steps + left, True)
        tail = sum(self.epoch_tails) / len(self.epoch_tails)
        extra = tail * max(self.epochs - self.epochs_closed, 0)
        if self.tail_since:
            extra -= min(tail, max(now - self.tail_since, 0.0))
        return steps + max(extra, 0.0), True

    def _sampling_left_s(self, now: float) -> float | None:
        """Before any epoch has closed: seconds of samples still to draw in this run (the
        sampled epochs left × images × the seconds per image measured in the current pass),
        None while the time of an image is not known yet."""
        st = self.status
        images, every, p = st.sample_images, st.sample_every, st.sampling
        if images == 0 or (images is not None and not every):
            return 0.0  # the run draws no samples
        per = p.per_image_s if p is not None else None
        if images is None or per is None:
            return None
        epochs = [e for e in range(self.epochs_closed + 1, self.epochs + 1)
                  if e % every == 0 or e == self.epochs]
        steps_done = self.step >= min(p.epoch * (self.steps_per_epoch or 0), self.total_steps)
        if p.epoch in epochs and steps_done and p.started_t >= self.last_step_t:
            epochs.remove(p.epoch)  # the epoch's own pass, after its steps: drawing or drawn
        current = max((p.total - p.done) * per - max(now - p.last_t, 0.0), 0.0) if p.active else 0.0
        return current + len(epochs) * images * per

    def _steps_left_s(self) -> float | None:
        left = max(self.total_steps - self.step, 0)
        if math.isfinite(self.it_s) and self.it_s > 0:
            return left / self.it_s  # the trainer's own recent rate follows speed changes
        if self.step <= self.first_step:
            return None
        rate = (self.step - self.first_step) / max(self.last_step_t - self.first_step_t, 1e-6)
        return left / rate if rate > 0 else None


def train_runs_after(project_root: str | os.PathLike, after: str = "",
                     other_kinds: set[str] | None = None) -> list[Path]:
    """The project's training-run folders whose names sort after ``after``, oldest first.

    A run folder is named by its start time (engine.runs.new_run_dir), so a later name is a
    later run.  Only names past ``after`` are looked into, so a look costs one directory
    listing while nothing new starts.  A folder whose config.toml is not written yet is left
    for a later look; one of another kind (samples, reg, upscale) is added to ``other_kinds``
    and not read again."""
    root = runs.runs_root(project_root)
    try:
        names = sorted(p.name for p in root.iterdir() if p.name > after)
    except OSError:
        return []
    skip = other_kinds if other_kinds is not None else set()
    found = []
    for name in names:
        if name in skip or not (root / name / "config.toml").is_file():
            continue
        try:
            kind = runs.read_config(root / name).get("run", {}).get("kind", "train")
        except (UserError, ValueError, OSError):
            continue
        if kind == "train":
            found.append(root / name)
        else:
            skip.add(name)
    return found


def status_of(model: RunModel, alive: bool) -> tuple[str, str, str]:
    """(status, reason, hint) for a run: engine.runs.status_of, with the TUI's resume key."""
    status, reason, hint = runs.status_of(model.status, alive, model.run_dir)
    if status == "crashed" and _train_without_state(model.run_dir):
        hint = "no saved state to resume (it ended before its first epoch did): ctrl+g starts a new run"
    elif status == "crashed":
        hint = "press u to resume it from its last saved state, or read worker.log"
    return status, reason, hint


def _train_without_state(run_dir) -> bool:
    try:
        return runs.run_kind(run_dir) == "train" and not runs.has_saved_state(run_dir)
    except UserError:
        return False


def _parse_lines(lines: list[bytes]) -> list[dict]:
    """Parse event lines, in one ``json.loads`` when they are all valid, else one by one
    (skipping malformed lines: a crashed writer must not make the log unreadable)."""
    if not lines:
        return []
    try:
        parsed = json.loads(b"[" + b",".join(lines) + b"]")
        if all(isinstance(x, dict) and "kind" in x for x in parsed):
            return parsed
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    events = []
    for line in lines:
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(obj, dict) and "kind" in obj:
            events.append(obj)
    return events


def read_history(path: Path, keep_steps: int = HISTORY_STEPS) -> tuple[list[dict], int, bytes]:
    """Read the complete event lines of ``path`` for a first view of a run, fast.

    Every event that is not a ``step`` is parsed, and so is every step line carrying a
    non-finite number; of the plain step lines only an even sample of about ``keep_steps``
    (by byte position; always the first and the last) is parsed — the chart cannot show more
    points than that, and the latest step carries every current number.  Returns the events in file order, the
    byte offset read up to and the pending partial last line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0, b""
    cut = data.rfind(b"\n") + 1
    body, pending = data[:cut], data[cut:]
    if not body:
        return [], len(data), pending
    starts: set[int] = set()

    def line_start(pos: int) -> None:
        starts.add(body.rfind(b"\n", 0, pos) + 1)

    for m in _NOT_STEP.finditer(body):  # every event that is not a step
        line_start(m.start())
    for token in (b'nan"', b'inf"'):  # steps with a NaN/inf in them
        pos = body.find(token)
        while pos >= 0:
            line_start(pos)
            pos = body.find(token, body.find(b"\n", pos) + 1)
    for k in range(keep_steps):  # an even sample of the rest, by byte position
        line_start(len(body) * k // keep_steps)
    for pos in (body.find(b'"kind":"step"'), body.rfind(b'"kind":"step"')):
        if pos >= 0:
            line_start(pos)
    keep = [body[s:body.find(b"\n", s)] for s in sorted(starts)]
    keep = [ln for ln in keep if ln.strip()]
    return _parse_lines(keep), len(data), pending


def _thinned(m: RunModel, keep: int = 2048) -> dict:
    """Every n-th point of the whole history (plus the newest), so a chart of a 100k-step run
    costs the same to draw as a short one."""
    n = len(m.loss)
    stride = max(1, -(-n // keep))
    steps, loss, ema = m.steps[::stride], m.loss[::stride], m.loss_ema[::stride]
    if n and (n - 1) % stride:
        steps.append(m.steps[-1]); loss.append(m.loss[-1]); ema.append(m.loss_ema[-1])
    return {"steps": steps, "loss": loss, "loss_ema": ema}


def _eta_fields(m: RunModel) -> dict:
    eta, tail_known = m.eta()
    return {"eta_s": eta, "eta_tail_known": tail_known}


class RunUpdated(Message):
    """The followed run's model changed; read it with :meth:`RunFollower.snapshot`.

    Coalescable: a newer update for the same follower replaces a queued older one."""

    def __init__(self, follower: "RunFollower", version: int) -> None:
        super().__init__()
        self.follower = follower
        self.version = version

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated) and message.follower is self.follower


class RunFollower:
    """Reads a run's events in a background thread and posts :class:`RunUpdated` to a target."""

    def __init__(self, run_dir: str | os.PathLike, target: Any, poll: float = 0.1) -> None:
        self.run_dir = Path(run_dir)
        self.target = target
        self.poll = poll
        self.model = RunModel(self.run_dir)
        self.lock = threading.Lock()
        self.alive = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reader = ev.EventReader.for_run(self.run_dir)
        self.history_s = 0.0

    # Thread side ------------------------------------------------------------------------

    def load_history(self) -> None:
        """Read and fold the whole file in one pass (fast path for long runs)."""
        t0 = time.perf_counter()
        batch, offset, pending = read_history(self.reader.path)
        self.reader.offset, self.reader._pending = offset, pending
        with self.lock:
            self.model.fold_all(batch)
            self.model.version += 1
        self.alive = runs.process_alive(self.run_dir)
        self.history_s = time.perf_counter() - t0

    def poll_once(self) -> bool:
        """Fold newly appended events; True when something changed."""
        batch = self.reader.read_new()
        alive = runs.process_alive(self.run_dir)
        changed = bool(batch) or alive != self.alive
        self.alive = alive
        if batch:
            with self.lock:
                self.model.fold_all(batch)
        elif changed:
            with self.lock:
                self.model.version += 1
        return changed

    def run(self) -> None:
        self.load_history()
        self._post()
        while not self._stop.wait(self.poll):
            if self.poll_once():
                self._post()

    def _post(self) -> None:
        self.target.post_message(RunUpdated(self, self.model.version))

    # UI side ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"follow {self.run_dir.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def eta(self) -> tuple[float | None, bool]:
        """The run's ETA now and whether its tail is known (see RunModel.eta), without a
        whole snapshot."""
        with self.lock:
            return self.model.eta()

    def snapshot(self) -> dict:
        """A consistent copy of what the dashboard draws (taken under the lock)."""
        with self.lock:
            m = self.model
            status, reason, hint = status_of(m, self.alive)
            return {
                "run": self.run_dir.name, "status": status, "reason": reason, "hint": hint,
                **_thinned(m),
                "n_points": len(m.loss), "lr": dict(m.lr), "step": m.step,
                "total_steps": m.total_steps, "epoch": m.epoch, "epochs": m.epochs,
                "it_s": m.it_s, "vram_mb": m.vram_mb, "device": m.device,
                "precision": m.precision, **_eta_fields(m), "paused": m.paused,
                "final_path": m.final_path, "last_checkpoint": m.last_checkpoint,
                "samples": m.samples, "rollbacks": m.rollbacks,
                "nonfinite": list(m.nonfinite), "nonfinite_total": m.nonfinite_total,
                "recent": [format_event(e) for e in list(m.recent)[-40:]],
                "version": m.version,
            }
