"""Block names/indices of a LoRA module and block learning-rate weight presets by name (torch-free, so a project can be checked at the door;
engine.lora turns a name into per-block weights)."""

from __future__ import annotations

import re

from engine.errors import UserError

NUM_BLOCKS = 12  # SD1.x: IN00–IN11 and OUT00–OUT11
MID_INDEX = NUM_BLOCKS  # index of M00 in the 25-entry vector
_BLOCK_RE = re.compile(r"(up|down)_blocks_(\d+)_(resnets|upsamplers|downsamplers|attentions)_(\d+)_")


def block_name(index: int) -> str:
    """The 25-entry block index as A1111/LBW call it: IN00–IN11, M00, OUT00–OUT11 (BASE: others)."""
    if index < 0:
        return "BASE"
    if index < NUM_BLOCKS:
        return f"IN{index:02d}"
    if index == MID_INDEX:
        return "M00"
    return f"OUT{index - NUM_BLOCKS - 1:02d}"


def block_index(lora_name: str) -> int:
    """sd-scripts' ``get_block_index``: 0–11 down, 12 mid, 13–24 up; -1 for the text encoder/others."""
    if not lora_name.startswith("lora_unet_"):
        return -1
    m = _BLOCK_RE.search(lora_name)
    if m:
        kind, i, part, j = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        idx = 3 * i + (2 if part in ("upsamplers", "downsamplers") else j)
        return 1 + idx if kind == "down" else NUM_BLOCKS + 1 + idx
    return MID_INDEX if "mid_block_" in lora_name else -1

# LoRA Block Weight's 17-slot order (docs/lora-format.md §3): BASE, IN01, IN02, IN04, IN05, IN07, IN08, M00, OUT03–OUT11.
LBW17_BLOCKS = ["BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "M00"] + \
    [f"OUT{i:02d}" for i in range(3, 12)]
LBW_PRESETS = {
    "ALL": [1.0] * 17,
    "INS": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "IND": [1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "INALL": [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "MIDD": [1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    "OUTD": [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    "OUTS": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
    "OUTALL": [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    "ALL0.5": [0.5] * 17,
    "NONE_LBW": [0.0] * 17,
}
# The seed workflow's own vectors (kohya_ss GUI fields).
SEED_PRESET = ([1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], [0], [0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1])
SD_SCRIPTS_PRESETS = ("sine", "cosine", "linear", "reverse_linear", "zeros")


def preset_names() -> list[str]:
    return ["none", "seed"] + [k for k in LBW_PRESETS if k != "NONE_LBW"] + ["NONE(lbw)"] + \
        [f"{p}[+base]" for p in SD_SCRIPTS_PRESETS]


def check_preset(name: str, what: str = "train.block_weight_preset") -> str:
    """``name`` if engine.lora can resolve it, else a UserError listing the known names."""
    key = (name or "none").strip().upper()
    if key in ("", "NONE", "OFF", "SEED", "NONE(LBW)", "NONE_LBW") or key in LBW_PRESETS:
        return name
    base, plus, number = name.strip().lower().partition("+")
    if base in SD_SCRIPTS_PRESETS:
        if plus:
            try:
                float(number)
            except ValueError:
                raise UserError(f"{what} = {name!r}: the part after '+' must be a number, "
                                "e.g. 'sine+0.5'") from None
        return name
    raise UserError(f"{what} = {name!r} is not a known preset; known: {', '.join(preset_names())}")
