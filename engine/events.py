"""The run directory's event log: ``runs/<id>/events.jsonl`` (DESIGN.md §Boundaries 3).

One JSON object per line, each with ``t`` (unix time) and ``kind``.  The writer appends
whole lines and flushes; a reader tolerates a torn last line (a line without its newline is
not returned until it is complete) and can follow the file as it grows.

Kinds: started, step, nonfinite, epoch_end, checkpoint, sample, finished, failed, stopped,
paused, resumed, progress (generation), log.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

EVENTS_FILE = "events.jsonl"

KINDS = ("started", "step", "nonfinite", "epoch_end", "checkpoint", "sample", "finished",
         "failed", "stopped", "paused", "resumed", "rollback", "progress", "log")
END_KINDS = ("finished", "failed", "stopped")


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventWriter:
    """Appends events to a run's log. One writer per run (the run process)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")

    def emit(self, kind: str, **fields: Any) -> dict:
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event = {"t": round(time.time(), 3), "kind": kind, **_clean(fields)}
        self._fh.write(json.dumps(event, separators=(",", ":")) + "\n")
        self._fh.flush()
        return event

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class EventReader:
    """Reads complete lines from an events file, remembering where it stopped.

    ``read_new()`` returns the events appended since the last call; a partial last line
    stays pending until its newline arrives.  A malformed complete line is skipped and
    counted in ``bad_lines`` (a crashed writer must not make the log unreadable).
    """

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
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()  # b"" when data ended with a newline
        events = []
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.bad_lines += 1
                continue
            if isinstance(obj, dict) and "kind" in obj:
                events.append(obj)
            else:
                self.bad_lines += 1
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
    """All complete events of a run."""
    return EventReader.for_run(run_dir).read_new()


def as_float(value: Any) -> float:
    """Numbers in events may be 'nan'/'inf' strings (see _clean)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
