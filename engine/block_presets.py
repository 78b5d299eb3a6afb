"""Block learning-rate weight presets by name (torch-free, so a project can be checked at the door;
engine.lora turns a name into per-block weights)."""

from __future__ import annotations

from engine.errors import UserError

# LoRA Block Weight's 17-slot order (reference §2.2): BASE, IN01, IN02, IN04, IN05, IN07, IN08, M00, OUT03–OUT11.
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
