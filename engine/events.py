"""The run folder's event log, ``runs/<id>/events.jsonl``, as a typed contract.

One JSON object per line, each with ``t`` (unix time) and ``kind``; one frozen dataclass per
kind below (docs/architecture.md lists them; a test checks the list against this module).
The writer appends whole lines, ending a torn last line first; a reader tolerates a torn last
line (it is not returned until its newline arrives), garbage lines, fields of the wrong type
(the line is counted as bad, never raised) and kinds from newer versions (:class:`Unknown`).

Three things every UI shares, so that a run reads the same everywhere: :func:`parse` (dict →
event, here), ``describe`` (event → one line for the CLI, the TUI log and the demo;
engine/event_text.py) and ``RunStatus`` (events → where a run stands; ``runs``, ``watch``, the
dashboard and the tests fold with it; engine/run_status.py); both are reachable from this
module too.  Liveness (is the process still there?) is not in the events: engine/runs.py adds
it from the run's lock.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

EVENTS_FILE = "events.jsonl"
END_KINDS = ("finished", "failed", "stopped")


class BadEvent(ValueError):
    """A line that is JSON but not a readable event (missing kind, a field of the wrong type)."""


# ---------------------------------------------------------------------------------------
# The event kinds
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Event:
    """Fields every event has.  ``extra`` keeps fields this version does not know (written by
    a newer onelora, or a writer's detail that is not part of the contract)."""

    KIND: ClassVar[str] = ""
    t: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return self.KIND

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"t": self.t, "kind": self.kind}
        for f in dataclasses.fields(self):
            if f.name not in ("t", "extra"):
                out[f.name] = getattr(self, f.name)
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out


@dataclass(frozen=True, kw_only=True)
class Loading(Event):
    """The worker is getting ready: ``phase`` is what it does now ("starting", "loading model",
    "caching latents", "compiling", ...); written before anything slow."""

    KIND = "loading"
    phase: str = "starting"
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Started(Event):
    """The job's real work begins.  One shape for every job: ``total_steps`` counts ``unit``s
    (training steps, regularization images, sampled epochs)."""

    KIND = "started"
    job: str = ""
    total_steps: int = 0
    unit: str = "step"
    epochs: int = 0
    steps_per_epoch: int = 0
    device: str = ""
    precision: str = ""
    model: str = ""
    model_label: str = ""
    latents: str = ""
    resumed_from: int | None = None
    sample_images: int | None = None
    """Training: images drawn per sampled epoch (0 = no samples; None = not said)."""
    sample_every: int = 0
    """Training: samples every N epochs and after the last one (0 = never)."""


@dataclass(frozen=True, kw_only=True)
class Step(Event):
    """One good training step."""

    KIND = "step"
    step: int = 0
    epoch: int = 0
    total_steps: int = 0
    loss: float = math.nan
    loss_ema: float = math.nan
    lr: dict = field(default_factory=dict)
    it_s: float = math.nan
    vram_mb: float = math.nan
    files: list = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Nonfinite(Event):
    """A non-finite loss, gradient or weight: the step's update was skipped.  ``action`` is
    "skipped", "rollback, LR × f" or "stop"."""

    KIND = "nonfinite"
    step: int = 0
    epoch: int = 0
    what: str = "loss"
    loss: float = math.nan
    files: list = field(default_factory=list)
    captions: list = field(default_factory=list)
    action: str = "skipped"


@dataclass(frozen=True, kw_only=True)
class Rollback(Event):
    KIND = "rollback"
    step: int = 0
    lr_scale: float = 1.0
    rollbacks: int = 0


@dataclass(frozen=True, kw_only=True)
class EpochEnd(Event):
    KIND = "epoch_end"
    epoch: int = 0
    step: int = 0
    loss: float = math.nan


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Event):
    KIND = "checkpoint"
    path: str = ""
    epoch: int = 0
    step: int = 0


@dataclass(frozen=True, kw_only=True)
class Sample(Event):
    KIND = "sample"
    epoch: int = 0
    weight: float = 1.0
    prompt: str = ""
    seed: int = 0
    path: str = ""


@dataclass(frozen=True, kw_only=True)
class Sampling(Event):
    """An epoch's samples are being drawn: ``done`` of ``total`` images so far (0 when the
    pass begins, then after each batch), each ``width``×``height`` with ``steps`` steps.
    The pass ends with its ``sample`` events (or a ``log`` saying it failed or was stopped)."""

    KIND = "sampling"
    epoch: int = 0
    done: int = 0
    total: int = 0
    width: int = 0
    height: int = 0
    steps: int = 0


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    """One unit of a job that is not training done (a regularization image, a sampled epoch)."""

    KIND = "progress"
    step: int = 0
    total_steps: int = 0
    epoch: int | None = None
    path: str = ""
    prompt: str = ""


@dataclass(frozen=True, kw_only=True)
class Log(Event):
    KIND = "log"
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Paused(Event):
    KIND = "paused"
    step: int = 0


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    KIND = "resumed"
    step: int = 0


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    KIND = "finished"
    path: str = ""
    step: int | None = None
    epoch: int | None = None


@dataclass(frozen=True, kw_only=True)
class Failed(Event):
    KIND = "failed"
    reason: str = ""
    hint: str = ""


@dataclass(frozen=True, kw_only=True)
class Stopped(Event):
    KIND = "stopped"
    reason: str = ""
    step: int | None = None
    epoch: int | None = None
    images: int | None = None


@dataclass(frozen=True, kw_only=True)
class Unknown(Event):
    """A kind this version does not know (a newer writer): shown, otherwise ignored."""

    name: str = ""

    @property
    def kind(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return {"t": self.t, "kind": self.name, **self.extra}


EVENT_TYPES: dict[str, type[Event]] = {cls.KIND: cls for cls in (
    Loading, Started, Step, Nonfinite, Rollback, EpochEnd, Checkpoint, Sampling, Sample, Progress,
    Log, Paused, Resumed, Finished, Failed, Stopped)}
KINDS = tuple(EVENT_TYPES)


# ---------------------------------------------------------------------------------------
# dict ⇄ event
# ---------------------------------------------------------------------------------------

def as_float(value: Any) -> float:
    """Numbers in events may be 'nan'/'inf' strings (JSON has no NaN); anything else is NaN."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise TypeError
    out = int(v) if not isinstance(v, str) else int(v.strip())
    if isinstance(v, float) and v != out:
        raise TypeError
    return out


def _to_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise TypeError
    out = float(v)
    if isinstance(v, str) and math.isfinite(out):  # only 'nan'/'inf' come as text
        raise TypeError
    return out


def _to_str(v: Any) -> str:
    if isinstance(v, (dict, list)):
        raise TypeError
    return "" if v is None else str(v)


def _to_list(v: Any) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise TypeError
    return [str(x) for x in v]


def _to_lr(v: Any) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise TypeError
    return {str(k): as_float(x) for k, x in v.items()}


_CONVERT = {"int": _to_int, "float": _to_float, "str": _to_str, "list": _to_list, "dict": _to_lr}


def _converter(type_text: str):
    optional = type_text.endswith("| None")
    base = _CONVERT[type_text.split("|")[0].strip()]
    if not optional:
        return base
    return lambda v: None if v is None else base(v)


_FIELDS = {kind: [(f.name, _converter(str(f.type)), f) for f in dataclasses.fields(cls)
                  if f.name not in ("t", "extra")] for kind, cls in EVENT_TYPES.items()}


def parse(obj: dict | str | bytes) -> Event:
    """An event from a decoded line (or the line itself).  Unknown kinds become
    :class:`Unknown`; a missing kind or a field of the wrong type raises :class:`BadEvent`."""
    if isinstance(obj, (str, bytes)):
        try:
            obj = json.loads(obj)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BadEvent(f"not JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
        raise BadEvent("not an object with a 'kind'")
    kind = obj["kind"]
    t = as_float(obj.get("t", 0.0))
    t = t if math.isfinite(t) else 0.0
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return Unknown(t=t, name=kind, extra={k: v for k, v in obj.items() if k not in ("t", "kind")})
    values: dict[str, Any] = {}
    known = {"t", "kind"}
    for name, convert, _f in _FIELDS[kind]:
        known.add(name)
        if name in obj and obj[name] is not None:  # null means "not given": the default
            try:
                values[name] = convert(obj[name])
            except (TypeError, ValueError, OverflowError):
                raise BadEvent(f"{kind} event: {name} = {str(obj[name])[:40]!r} is not "
                               f"{_f.type}") from None
    extra = {k: v for k, v in obj.items() if k not in known}
    return cls(t=t, extra=extra, **values)


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------

class EventWriter:
    """Appends events to a run's log. One writer per run (the run process).

    Every line goes out in one ``write`` on an ``O_APPEND`` descriptor.  A last line left torn
    by a writer that died (or a full disk) is ended with a newline before the first new event,
    so that event is not glued onto it and lost."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._torn = _ends_torn(self.path)
        self.last_kind = ""

    def emit(self, kind: str, **fields: Any) -> dict:
        """Write one event of ``kind``; fields are checked and completed by its dataclass
        (every ``nonfinite`` line has the same fields); extra fields are kept."""
        cls = EVENT_TYPES.get(kind)
        if cls is None:  # a kind without its dataclass yet: written as is, read as Unknown
            if not kind or not isinstance(kind, str):
                raise ValueError(f"bad event kind {kind!r}")
            return self.emit_event(Unknown(t=round(time.time(), 3), name=kind, extra=fields))
        names = {f.name for f in dataclasses.fields(cls)} - {"t", "extra"}
        known = {k: v for k, v in fields.items() if k in names}
        event = cls(t=round(time.time(), 3), extra={k: v for k, v in fields.items() if k not in names},
                    **known)
        return self.emit_event(event)

    def emit_event(self, event: Event) -> dict:
        """Write an event built from its class (``t`` is set to now when left at 0)."""
        data = event.to_dict()
        if not data.get("t"):
            data["t"] = round(time.time(), 3)
        line = json.dumps(_clean(data), separators=(",", ":")) + "\n"
        self._write(("\n" if self._torn else "") + line)
        self._torn = False
        self.last_kind = event.kind
        return data

    def _write(self, text: str) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        raw = text.encode("utf-8")
        try:
            n = os.write(self._fd, raw)
        except OSError:
            self._torn = True  # part of the line may be on disk
            raise
        if n != len(raw):  # a short write (a full disk): the line is torn
            self._torn = True
            raise OSError(errno.ENOSPC, "no space left on device", str(self.path))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_torn(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------

def _parse_lines(lines: Iterable[bytes], bad: list[str]) -> list[dict]:
    out = []
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            bad.append("a line that is not JSON")
            continue
        if isinstance(obj, dict) and isinstance(obj.get("kind"), str):
            out.append(obj)
        else:
            bad.append("a line without a kind")
    return out


@dataclass
class EventReader:
    """Reads complete lines from an events file, remembering where it stopped.

    ``read_new()`` returns the (decoded) events appended since the last call; a partial last
    line stays pending until its newline arrives.  A malformed complete line is skipped and
    counted in ``bad_lines`` (a crashed writer must not make the log unreadable)."""

    path: Path
    offset: int = 0
    bad_lines: int = 0
    _pending: bytes = field(default=b"", repr=False)

    @classmethod
    def for_run(cls, run_dir: str | os.PathLike) -> "EventReader":
        return cls(Path(run_dir) / EVENTS_FILE)

    def read_new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:  # truncated/replaced: start again
                    self.offset, self._pending = 0, b""
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()  # b"" when data ended with a newline
        bad: list[str] = []
        events = _parse_lines(lines, bad)
        self.bad_lines += len(bad)
        return events

    def follow(self, poll: float = 0.25, stop: Any = None) -> Iterator[dict]:
        """Yield events as they are appended; ends when ``stop()`` is true or a run end event
        is read."""
        while True:
            batch = self.read_new()
            yield from batch
            if any(e["kind"] in END_KINDS for e in batch):
                return
            if stop is not None and stop():
                return
            time.sleep(poll)


def read_events(run_dir: str | os.PathLike) -> list[dict]:
    """All complete events of a run, decoded (see :func:`parse` for the typed form)."""
    return EventReader.for_run(run_dir).read_new()


@dataclass
class Excerpt:
    """The head and the tail of a long events file (what a run list needs), and how much was
    read to get them."""

    events: list[dict]
    bytes_read: int
    size: int
    bad: list[str]


def read_excerpt(path: str | os.PathLike, head: int = 16384, tail: int = 65536) -> Excerpt:
    """The complete lines in the first ``head`` and the last ``tail`` bytes of an events file
    (the whole file when it is small): enough to fold a run's status without parsing a 100k-step
    log."""
    path = Path(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= head + tail:
            data = fh.read()
            lines, read = data.split(b"\n")[:-1], len(data)
        else:
            first = fh.read(head)
            fh.seek(size - tail)
            last = fh.read(tail)
            read = len(first) + len(last)
            lines = first.split(b"\n")[:-1] + last.split(b"\n")[1:-1]
    bad: list[str] = []
    return Excerpt(_parse_lines(lines, bad), read, size, bad)


_ELSEWHERE = {"RunStatus": "engine.run_status", "describe": "engine.event_text",
              "stamp": "engine.event_text"}


def __getattr__(name: str) -> Any:
    """``RunStatus`` (engine/run_status.py), ``describe`` and ``stamp`` (engine/event_text.py)
    are part of the same contract, reachable from here; they live in their own modules to keep
    this one short."""
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'engine.events' has no attribute {name!r}")
