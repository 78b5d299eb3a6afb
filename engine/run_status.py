"""Where a run stands, folded from its events: :class:`RunStatus` (engine/events.py has the
event kinds).  One fold for `runs`, `watch`, the TUI dashboard and the tests; liveness (is the
process still there?) is added by engine.runs from the run's lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from engine.events import (END_KINDS, BadEvent, Checkpoint, EpochEnd, Event, Failed, Finished,
                           Loading, Nonfinite, Paused, Progress, Resumed, Rollback, Sample,
                           Sampling, Started, Step, Stopped, parse)

# ---------------------------------------------------------------------------------------

@dataclass
class SamplingPass:
    """The latest pass of drawing an epoch's samples, from its ``sampling`` events."""

    epoch: int
    done: int
    total: int
    started_t: float
    """When the pass began (its ``done`` 0 event)."""
    last_t: float
    """When the latest count came."""
    active: bool = True
    """Still drawing: no later step, epoch end, progress or end event, and not all drawn."""

    @property
    def per_image_s(self) -> float | None:
        """Seconds per image so far (known once the first batch is drawn)."""
        if self.done <= 0 or self.last_t <= self.started_t:
            return None
        return (self.last_t - self.started_t) / self.done

    @property
    def text(self) -> str:
        return f"sampling epoch {self.epoch}: {self.done}/{self.total} images"



@dataclass
class RunStatus:
    """A run's position folded from its events (no liveness: see engine.runs.run_info).

    ``state`` is starting, running, paused, finished, failed or stopped; ``phase`` says what a
    starting worker is doing."""

    state: str = "starting"
    phase: str = ""
    job: str = ""
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    loss: float | None = None
    reason: str = ""
    hint: str = ""
    path: str = ""
    device: str = ""
    precision: str = ""
    started_t: float = 0.0
    last_t: float = 0.0
    last_checkpoint: str = ""
    samples: int = 0
    sample_images: int | None = None
    """Images drawn per sampled epoch (from ``started``; None = not said, an older run)."""
    sample_every: int = 0
    """Epochs between samples (the run also samples its last epoch); 0 = never."""
    sampling: SamplingPass | None = None
    nonfinite: int = 0
    rollbacks: int = 0
    events: int = 0
    bad_events: int = 0
    problem: str = ""
    """The first unreadable line's fault, when there was one."""

    @classmethod
    def fold(cls, events: Iterable[Event | dict]) -> "RunStatus":
        status = cls()
        for e in events:
            status.apply(e)
        return status

    def apply(self, e: Event | dict) -> None:
        if isinstance(e, dict):
            try:
                e = parse(e)
            except BadEvent as bad:
                self.bad_events += 1
                self.problem = self.problem or str(bad)
                return
        self.events += 1
        if e.t:
            self.last_t = e.t
        if isinstance(e, Sampling):
            self._sampling(e)
        elif self.sampling is not None and isinstance(
                e, (Step, Progress, EpochEnd, Loading, Finished, Failed, Stopped)):
            self.sampling.active = False  # the pass is over (done, failed or stopped)
        if isinstance(e, (Step, Progress)):
            if self.state != "running":  # steps after a pause or an old end: it was resumed
                self.state, self.reason, self.hint = "running", "", ""
            self.step = e.step
            self.total_steps = e.total_steps or self.total_steps
            if e.epoch is not None:
                self.epoch = e.epoch or self.epoch
            if isinstance(e, Step):
                self.loss = e.loss
        elif isinstance(e, Loading):
            self.phase = e.phase + (f": {e.detail}" if e.detail else "")
            if self.state in END_KINDS or self.state == "paused":  # a resumed run starts again
                self.state, self.reason, self.hint = "starting", "", ""
        elif isinstance(e, Started):
            self.state, self.phase, self.reason, self.hint = "running", "", "", ""
            self.job = e.job or self.job
            self.total_steps, self.epochs = e.total_steps, e.epochs
            self.steps_per_epoch = e.steps_per_epoch
            self.device, self.precision = e.device, e.precision
            self.started_t = e.t
            self.sample_images, self.sample_every = e.sample_images, e.sample_every
            if e.resumed_from is not None:
                self.step = e.resumed_from
        elif isinstance(e, Paused):
            self.state = "paused"
        elif isinstance(e, Resumed):
            self.state = "running"
        elif isinstance(e, EpochEnd):
            self.epoch = e.epoch
        elif isinstance(e, Checkpoint):
            self.last_checkpoint = e.path
        elif isinstance(e, Sample):
            self.samples += 1
        elif isinstance(e, Nonfinite):
            self.nonfinite += 1
        elif isinstance(e, Rollback):
            self.rollbacks += 1
        elif isinstance(e, (Finished, Failed, Stopped)):
            self.state = e.kind
            self.reason = getattr(e, "reason", "")
            self.hint = getattr(e, "hint", "")
            self.path = getattr(e, "path", "")
            self.phase = ""

    def _sampling(self, e: Sampling) -> None:
        p = self.sampling
        if p is None or not p.active or e.done <= 0 or e.epoch != p.epoch or e.done < p.done:
            p = self.sampling = SamplingPass(epoch=e.epoch, done=e.done, total=e.total,
                                             started_t=e.t, last_t=e.t)
        p.done, p.total, p.last_t = e.done, e.total or p.total, e.t
        p.active = p.done < p.total

    @property
    def ended(self) -> bool:
        return self.state in END_KINDS

    @property
    def sampling_now(self) -> str:
        """"sampling epoch N: k/M images" while a pass is drawing, else ""."""
        p = self.sampling
        return p.text if p is not None and p.active and not self.ended else ""
