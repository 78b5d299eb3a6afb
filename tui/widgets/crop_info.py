"""The Crops screen's side panel and status line, as Rich text (no widgets here)."""

from __future__ import annotations

from rich.text import Text

from engine import crops as ec
from tui.widgets import box_edit

FACE = "face box"
"""The pseudo-item of the crop list that edits the face box the presets are computed from."""
UPSCALE_SIZES = (2048, 3072, 4096)
"""The long sides the crops screen's ``e`` cycles through (2048 → 3072 → 4096 → 2048)."""
UPSCALE_KEY = "e"
"""The crops screen's upscale key (binding id prep-upscale)."""
LARGER_KEYS = "shift+→/↓"
"""The crops screen's keys that make the selected crop larger."""


def next_upscale(current: int) -> int:
    """The long side the next press of ``e`` upscales to, from ``prep.upscale_to``."""
    return next((s for s in UPSCALE_SIZES if s > current), UPSCALE_SIZES[0])


def upscale_presses(current: int, need: int) -> tuple[int, int] | None:
    """(presses of ``e``, long side reached) that bring the prepared image's long side to
    ``need`` px from ``prep.upscale_to`` = ``current``; None when e's largest size is too small."""
    for presses in range(1, len(UPSCALE_SIZES) + 1):
        current = next_upscale(current)
        if current >= need:
            return presses, current
    return None


def short_crop_text(fact: ec.ShortCrop, upscale_to: int) -> str:
    """The engine's short-crop facts in crops-screen terms: the keys that fix it."""
    larger = f"make the crop larger ({LARGER_KEYS})"
    head = f"short side {fact.short} px < {fact.side}: "
    if fact.upscale_to is None:
        return head + f"upscale the source ({UPSCALE_KEY}) or {larger}"
    reach = upscale_presses(upscale_to, fact.upscale_to)
    if reach is None:
        return (head + f"it needs a {fact.upscale_to} px source, more than {UPSCALE_KEY}'s "
                f"{UPSCALE_SIZES[-1]} px: {larger}")
    presses, size = reach
    times = {1: "", 2: " twice"}.get(presses, f" {presses} times")
    return head + f"press {UPSCALE_KEY}{times} (upscale to {size} px) or {larger}"


def info_text(project, name: str | None, box, size: tuple[int, int]) -> Text:
    """Name, preset, rectangle and warnings of the selected crop (or the face box)."""
    lines = Text()
    if name and name != FACE:
        crop = project.crop(name)
        lines.append(f"{name}\n", style="bold")
        lines.append(f"preset {crop.preset or 'custom'}\n", style="dim")
        lines.append(f"{box[0]},{box[1]}  {box[2]}×{box[3]}\n")
        fact = ec.short_crop(crop, size, project.train.resolution)
        if fact is not None:
            lines.append(f"⚠ {short_crop_text(fact, project.prep.upscale_to)}\n",
                         style="bold yellow")
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
