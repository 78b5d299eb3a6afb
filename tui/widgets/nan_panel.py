"""The NaN panel: every non-finite step of a run, loud enough to see from across the room.

Hidden while a run is clean.  When the first ``nonfinite`` event arrives the panel appears
in the error colour with the step, what went non-finite (loss, grads, weights), the batch's
files and captions and the action the trainer took (skipped, rolled back, stopped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rich.text import Text
from textual.widgets import Static

from tui.run_watch import NanRecord


class NanPanel(Static):
    """Lists non-finite events, newest first; shown only when there is at least one."""

    DEFAULT_CSS = """
    NanPanel {
        display: none;
        height: auto;
        max-height: 8;
        background: $error;
        color: $text;
        padding: 0 1;
        text-style: bold;
    }
    NanPanel.-has-nan { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.records: list[NanRecord] = []
        self.total = 0

    def show_records(self, records: Sequence[NanRecord], total: int) -> None:
        self.records, self.total = list(records), total
        self.set_class(bool(total), "-has-nan")
        if not total:
            self.update("")
            return
        text = Text()
        text.append(f"⚠ NON-FINITE ×{total} — ", style="bold reverse")
        text.append("loss or gradients became NaN/inf; these steps were not applied\n")
        for r in reversed(self.records[-6:]):
            files = ", ".join(Path(f).name for f in r.files) or "?"
            text.append(f"step {r.step}: {r.what} → {r.action or '?'}  [{files}]")
            if r.captions:
                text.append(f"  “{r.captions[0][:60]}”", style="not bold")
            text.append("\n")
        text.rstrip()
        self.update(text)
