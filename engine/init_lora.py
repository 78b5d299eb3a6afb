"""Retraining from the picked LoRA (``train.init_lora``): which file, whether it fits the run's
network, and loading its weights before the first step.

Light at import (no torch): the file and its shapes are read from the safetensors header
(engine/epochs.py), so a wrong file is refused in one line naming it and the setting; only
:func:`load_into` touches tensors (through engine/lora.py, imported there).  A resumed run does
not call it: its ``state.pt`` restores the weights exactly.
"""

from __future__ import annotations

from pathlib import Path

from engine import epochs
from engine.errors import UserError

PICKED = "picked"
"""``init_lora = "picked"``: the LoRA ``onelora pick`` copied to output/<name>.safetensors."""


def init_lora_path(project) -> Path | None:
    """The file ``train.init_lora`` names (relative paths from the project folder); None = fresh."""
    spec = (project.train.init_lora or "").strip()
    if not spec:
        return None
    if spec.lower() == PICKED:
        return epochs.picked_path(project)
    path = Path(spec).expanduser()
    return path if path.is_absolute() else Path(project.root) / path


def _refuse(path: Path, why: str) -> UserError:
    return UserError(f"train.init_lora: {path} {why}; train with matching network_dim/network_alpha/"
                     "conv_dim/train_text_encoder, or clear it (--set init_lora=) to start fresh")


def file_shapes(project) -> tuple[Path, dict[str, tuple[int, ...]]] | None:
    """The init LoRA's path and tensor shapes by key (None when the setting is empty)."""
    path = init_lora_path(project)
    if path is None:
        return None
    if not path.is_file():
        hint = " (pick an epoch first: onelora pick DIR EPOCH)" if \
            project.train.init_lora.strip().lower() == PICKED else ""
        raise UserError(f"train.init_lora: {path} not found{hint}")
    header, _ = epochs.read_header(path)
    shapes = {k: tuple(v.get("shape", ())) for k, v in header.items()
              if k != "__metadata__" and isinstance(v, dict)}
    if not any(k.startswith(("lora_unet_", "lora_te")) for k in shapes):
        raise UserError(f"train.init_lora: {path} is not a kohya-format LoRA (no lora_unet_*/lora_te_* keys)")
    return path, shapes


def mismatch(mine: dict[str, tuple[int, ...]], theirs: dict[str, tuple[int, ...]]) -> str:
    """Why a LoRA with shapes ``theirs`` cannot start a network with shapes ``mine`` ("" = it can)."""
    missing = sorted(set(mine) - set(theirs))
    extra = sorted(set(theirs) - set(mine))
    if missing or extra:
        first = (missing or extra)[0].rsplit(".", 2)[0]
        return (f"has a different module set ({len(missing)} of this run's modules missing, "
                f"{len(extra)} unknown, e.g. {first})")
    for key in sorted(mine):
        if mine[key] != theirs[key]:
            if key.endswith("lora_down.weight") and theirs[key]:
                return f"has rank {theirs[key][0]} where this run has {mine[key][0]} ({key})"
            return f"has shape {list(theirs[key])} where this run has {list(mine[key])} ({key})"
    return ""


def load_into(network, project) -> Path | None:
    """Copy ``train.init_lora``'s weights (and alphas) into ``network``; the file, or None when
    the setting is empty.  Refuses in one line when rank, alpha or the module set differ."""
    found = file_shapes(project)
    if found is None:
        return None
    path, theirs = found
    from engine import lora

    mine_sd = network.kohya_state_dict()
    problem = mismatch({k: tuple(t.shape) for k, t in mine_sd.items()}, theirs)
    if problem:
        raise _refuse(path, problem)
    sd, _ = lora.read_lora(path)
    for key in sorted(k for k in mine_sd if k.endswith(".alpha")):
        a, b = float(sd[key]), float(mine_sd[key])
        if abs(a - b) > 1e-3 * max(1.0, abs(b)):
            raise _refuse(path, f"has alpha {a:g} where this run has {b:g} ({key})")
    network.load_kohya_state_dict(sd)
    return path
