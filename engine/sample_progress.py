"""Progress of sampling an epoch (engine.sample): ``log`` lines, so a long pass is never
silent, and a stop asked for in the middle of it.  Torch-free."""

from __future__ import annotations

import time

from engine.events import EventWriter


class SamplingStopped(Exception):
    """A stop asked for while an epoch was being sampled (``sample_epoch``'s ``should_stop``)."""


class SamplingProgress:
    """``log`` lines so sampling an epoch is never silent: one before the first image (how
    many, size, steps), then the count drawn at most every ``every`` seconds; after each
    denoising step, ``should_stop()`` ends the pass (SamplingStopped)."""

    def __init__(self, writer: EventWriter | None, epoch: int, jobs: list,
                 weights: list[float], should_stop=None, every: float = 10.0) -> None:
        self.writer, self.epoch, self.every, self.should_stop = writer, epoch, every, should_stop
        self.total = len(jobs) * len(weights)
        self.done = 0
        self.last = time.monotonic()
        if writer is not None and jobs:
            p = jobs[0].prompt
            writer.emit("log", message=(
                f"sampling epoch {epoch}: {self.total} images, {p.width}×{p.height}, "
                f"{p.steps} steps…"))

    def check(self) -> None:
        """After each denoising step: end the pass when a stop was asked for."""
        if self.should_stop is not None and self.should_stop():
            raise SamplingStopped(f"sampling epoch {self.epoch} stopped after {self.done}/"
                                  f"{self.total} images")

    def __call__(self, done: int, _total: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.writer is not None and done < self.total and now - self.last >= self.every:
            self.last = now
            self.writer.emit("log", message=f"sampling epoch {self.epoch}: "
                                            f"{done}/{self.total} images")
