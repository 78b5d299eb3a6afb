"""The Crops screen's side panel and status line, as Rich text (no widgets here)."""

from __future__ import annotations

from rich.text import Text

from engine import crops as ec
from tui.widgets import box_edit

FACE = "face box"
"""The pseudo-item of the crop list that edits the face box the presets are computed from."""


def info_text(project, name: str | None, box, size: tuple[int, int]) -> Text:
    """Name, preset, rectangle and warnings of the selected crop (or the face box)."""
    lines = Text()
    if name and name != FACE:
        crop = project.crop(name)
        lines.append(f"{name}\n", style="bold")
        lines.append(f"preset {crop.preset or 'custom'}\n", style="dim")
        lines.append(f"{box[0]},{box[1]}  {box[2]}×{box[3]}\n")
        for w in ec.crop_warnings(crop, size):
            lines.append(f"⚠ {w}\n", style="bold yellow")
    elif name == FACE:
        lines.append("face box\n", style="bold")
        lines.append("moves the presets\n", style="dim")
        if box:
            lines.append(f"{box[0]},{box[1]}  {box[2]}×{box[3]}\n")
    return lines


def status_text(size: tuple[int, int], *, fine: bool, aspect_lock: bool, zoomed: bool,
                islands: int, fixed: bool, busy: str) -> str:
    """The one-line status under the image: size, step, aspect, zoom, stray islands."""
    coarse, fine_px = box_edit.steps(size)
    w, h = size
    n = islands
    status = (f"{w}×{h} · step {'fine ' + str(fine_px) if fine else 'coarse ' + str(coarse)}px"
              f" · aspect {'locked' if aspect_lock else 'free'}"
              f" · {'zoom' if zoomed else 'whole'}"
              f" · {n} stray island{'s' if n != 1 else ''}"
              f"{' fixed' if n and fixed else ''}")
    return f"{busy}… · " + status if busy else status
