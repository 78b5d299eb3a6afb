"""The Crops screen's prep steps in the user's words: what each key asks for (``e`` upscale,
``X`` fix stray pixels, ``W`` flatten background) and how a change of them is named when it is
undone or redone.  No Textual here (tests call it on plain values)."""

from __future__ import annotations

from tui.widgets.crop_info import next_upscale
"""``e`` cycles the long side through these (pixels)."""

_TOGGLES = {"fix_artifacts": ("fix stray pixels", "keep stray pixels"),
            "flatten_background": ("flatten background", "keep background")}
"""A yes/no prep setting → (what turning it on is called, what turning it off is called)."""


def request(step: str, prep) -> tuple[str, dict]:
    """What key ``step`` ("upscale", "fix", "flatten") asks of the current ``prep`` settings:
    ``(label, changed settings)``."""
    if step == "upscale":
        size = next_upscale(prep.upscale_to)
        return f"upscale to {size} px", {"upscale_to": size}
    name = "fix_artifacts" if step == "fix" else "flatten_background"
    on = not getattr(prep, name)
    return _TOGGLES[name][0 if on else 1], {name: on}


def describe(before: dict, after: dict) -> list[str]:
    """The prep changes from ``before`` to ``after`` (field → value), one phrase each:
    "fix stray pixels", "keep background", "upscale 2048 → 3072 px"."""
    out = []
    for name, value in after.items():
        old = before.get(name)
        if old == value:
            continue
        if name in _TOGGLES:
            out.append(_TOGGLES[name][0 if value else 1])
        elif name == "upscale_to":
            out.append(f"upscale {old} → {value} px")
        else:
            out.append(f"prep {name} {old} → {value}")
    return out
