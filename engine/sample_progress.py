"""Progress of sampling an epoch (engine.sample): ``sampling`` events, so a long pass is never
silent and a reader can show "sampling epoch N: k/M images", and a stop asked for in the middle
of it.  Torch-free."""

from __future__ import annotations

from engine.events import EventWriter


class SamplingStopped(Exception):
    """A stop asked for while an epoch was being sampled (``sample_epoch``'s ``should_stop``);
    ``drawn`` images of ``total`` were drawn (none of the pass is written: its folder keeps
    what an earlier pass wrote)."""

    def __init__(self, message: str, epoch: int = 0, drawn: int = 0, total: int = 0) -> None:
        super().__init__(message)
        self.epoch, self.drawn, self.total = epoch, drawn, total


class SamplingProgress:
    """A ``sampling`` event before the first image (how many, size, steps; ``done`` 0), then one
    after each batch with the count drawn so far — a batch is seconds to minutes of work, so
    every one is worth a line, and readers time the images from them; after each denoising
    step, ``should_stop()`` ends the pass (SamplingStopped)."""

    def __init__(self, writer: EventWriter | None, epoch: int, jobs: list,
                 weights: list[float], should_stop=None) -> None:
        self.writer, self.epoch, self.should_stop = writer, epoch, should_stop
        self.total = len(jobs) * len(weights)
        self.done = 0
        self.shape: dict = {}
        if jobs:
            p = jobs[0].prompt
            self.shape = {"width": p.width, "height": p.height, "steps": p.steps}
        if writer is not None and jobs:
            writer.emit("sampling", epoch=epoch, done=0, total=self.total, **self.shape)

    def check(self) -> None:
        """After each denoising step: end the pass when a stop was asked for."""
        if self.should_stop is not None and self.should_stop():
            raise SamplingStopped(f"sampling epoch {self.epoch} stopped after {self.done}/"
                                  f"{self.total} images", self.epoch, self.done, self.total)

    def __call__(self, done: int, _total: int) -> None:
        self.done = done
        if self.writer is not None:
            self.writer.emit("sampling", epoch=self.epoch, done=done, total=self.total,
                             **self.shape)
