"""One readable line per event: :func:`describe`, shared by the CLI (`watch`, foreground
runs), the TUI's event list and the demo, so a run reads the same everywhere.  The event kinds
are in engine/events.py (also reachable as ``engine.events.describe``)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Iterable

from engine.events import (BadEvent, Checkpoint, EpochEnd, Event, Failed, Finished, Loading, Log,
                           Nonfinite, Paused, Progress, Resumed, Rollback, Sample, Sampling,
                           Started, Step, Stopped, as_float, parse)

LR_SHORT = {"text_encoder": "te", "unet": "unet"}
"""How a step line names the learning-rate groups."""

# ---------------------------------------------------------------------------------------

def stamp(event: Event | dict) -> str:
    t = event.t if isinstance(event, Event) else as_float(event.get("t"))
    try:
        return time.strftime("%H:%M:%S", time.localtime(float(t)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "--:--:--"


def _num(x: Any, fmt: str = ".4f") -> str:
    x = as_float(x)
    return format(x, fmt) if math.isfinite(x) else str(x)


def _names(paths: Iterable[str], n: int = 3) -> str:
    paths = list(paths)
    shown = ", ".join(Path(p).name for p in paths[:n])
    return shown + (f" +{len(paths) - n}" if len(paths) > n else "")


def describe(event: Event | dict) -> str:
    """One readable line for an event, without its time (see :func:`stamp`)."""
    if isinstance(event, dict):
        try:
            event = parse(event)
        except BadEvent as e:
            return f"unreadable event ({e})"
    e = event
    if isinstance(e, Loading):
        return f"{e.phase}" + (f": {e.detail}" if e.detail else "")
    if isinstance(e, Started):
        resumed = f" (resumed at step {e.resumed_from})" if e.resumed_from is not None else ""
        if e.steps_per_epoch:
            line = (f"started{resumed}: {e.total_steps} steps = {e.epochs} epochs × "
                    f"{e.steps_per_epoch}")
        else:
            unit = e.unit + ("s" if e.total_steps != 1 and not e.unit.endswith("s") else "")
            line = f"started {e.job or 'job'}{resumed}: {e.total_steps} {unit}"
        for part in (e.model_label or e.model, f"{e.device} {e.precision}".strip(),
                     f"latents {e.latents}" if e.latents else ""):
            if part:
                line += f"; {part}"
        return line
    if isinstance(e, Step):
        line = f"step {e.step}/{e.total_steps or '?'} ep {e.epoch} loss {_num(e.loss)}"
        if math.isfinite(e.loss_ema):
            line += f" ema {_num(e.loss_ema)}"
        if math.isfinite(e.it_s):
            line += f" {_num(e.it_s, '.1f')} it/s"
        # short group names and values, so `watch` keeps a step on one 80-column line
        lrs = " ".join(f"{LR_SHORT.get(g, g)} {_num(v, '.1e').replace('.0e', 'e')}"
                       for g, v in e.lr.items())
        return f"{line} lr {lrs}" if lrs else line
    if isinstance(e, Nonfinite):
        files = f" files {_names(e.files)}" if e.files else ""
        return f"!! NON-FINITE {e.what} at step {e.step}{files} → {e.action}"
    if isinstance(e, Rollback):
        return f"rolled back to the last good state (#{e.rollbacks}), LR × {e.lr_scale:g}"
    if isinstance(e, EpochEnd):
        return f"epoch {e.epoch} done at step {e.step}, mean loss {_num(e.loss)}"
    if isinstance(e, Checkpoint):
        return f"saved {Path(e.path).name}"
    if isinstance(e, Sampling):
        if e.done <= 0:
            return (f"sampling epoch {e.epoch}: {e.total} images, {e.width}×{e.height}, "
                    f"{e.steps} steps…")
        return f"sampling epoch {e.epoch}: {e.done}/{e.total} images"
    if isinstance(e, Sample):
        return f"sample epoch {e.epoch} weight {e.weight:g}: {Path(e.path).name}"
    if isinstance(e, Progress):
        what = f" epoch {e.epoch}" if e.epoch is not None else ""
        where = f" {Path(e.path).name}" if e.path else ""
        return f"{e.step}/{e.total_steps} done{what}{where}"
    if isinstance(e, Log):
        return e.message
    if isinstance(e, Paused):
        return f"paused at step {e.step}"
    if isinstance(e, Resumed):
        return f"resumed at step {e.step}"
    if isinstance(e, Finished):
        return f"FINISHED {e.path}".rstrip()
    if isinstance(e, Failed):
        return f"FAILED {e.reason}" + (f" (hint: {e.hint})" if e.hint else "")
    if isinstance(e, Stopped):
        return f"STOPPED {e.reason}".rstrip()
    rest = " ".join(f"{k}={v}" for k, v in e.extra.items())
    return f"{e.kind} {rest}".rstrip()


