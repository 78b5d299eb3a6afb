"""Diverged epochs: when an epoch's LoRA is broken though training went on, and what to tell
the user.  The training loop (engine/train.py) asks :func:`epoch_verdict` at every epoch end;
blank samples, the third sign, are found by the overfit meter (engine/overfit.py).  Verdicts
are recorded through engine.epochs.mark_diverged.  Light module: torch is imported only by
:func:`lora_norm`, which the (torch) training loop calls.
"""

from __future__ import annotations

import math
from pathlib import Path

from engine import epochs as ep

NORM_JUMP = 100.0
"""An epoch whose LoRA weight norm (L2 over every trainable tensor) exceeds this many times
the norm at the start of training diverged.  Why 100: a LoRA starts with ``lora_down`` at
Kaiming scale (RMS ≈ 1/sqrt(3·fan_in), 0.01-0.1) and ``lora_up`` at 0, and an Adam-family
step moves each weight by about the learning rate at most, so at sane LRs (≤ 1e-3) training
changes the norm by a small factor (measured on builtin:tiny at LR 5e-3: 1.06× per epoch,
1.26× after 3 epochs).  Two orders of magnitude means the updates dwarf the weights
themselves: the LoRA no longer describes a small change to the base model (measured: LR 100
gives 180-720× after one epoch, LR 1e9 ~1e10×; both draw black or noise).  The start, not
the previous epoch, is the reference so that a slow climb over many epochs counts too."""
MOSTLY_NONFINITE = 0.5
"""An epoch with more than this share of non-finite steps diverged: what it learned comes
from a minority of its data, between rollbacks."""


def lora_norm(params: list) -> float:
    """L2 norm over every trainable LoRA tensor (``torch.Tensor``s; inf/nan when a weight is)."""
    import torch

    with torch.no_grad():
        norms = torch.stack([torch.linalg.vector_norm(p.detach().float()) for p in params])
        return float(torch.linalg.vector_norm(norms))


def plausible(norm: float, s: dict) -> bool:
    """Finite and within NORM_JUMP times the norm at the start: a state safe to roll back to."""
    return math.isfinite(norm) and not (s["start_norm"] > 0 and norm > NORM_JUMP * s["start_norm"])


def epoch_verdict(steps: int, bad_steps: int, norm: float, start_norm: float) -> str | None:
    """Why an epoch diverged, in a few words, or None when it did not: more than
    MOSTLY_NONFINITE of its steps non-finite, and/or its LoRA norm more than NORM_JUMP times
    the norm at the start.  Blank samples, the third sign, are found after sampling
    (engine.overfit)."""
    signs = []
    if steps and bad_steps > MOSTLY_NONFINITE * steps:
        signs.append(f"{bad_steps} of its {steps} steps were non-finite")
    if not math.isfinite(norm):
        signs.append("its LoRA weights are non-finite")
    elif start_norm > 0 and norm > NORM_JUMP * start_norm:
        signs.append(f"its LoRA weights exploded (norm {norm:.3g}, {norm / start_norm:.3g}× that "
                     f"at the start)")
    return "; ".join(signs) or None


def lower_lr_hint(t) -> str:
    """'lower the learning rate, e.g. ...' with values at most 1e-4 (a usual SD1.x LoRA LR)."""
    lr, te = t.unet_lr or t.learning_rate, t.text_encoder_lr or t.learning_rate
    f = min(0.1, 1e-4 / lr) if lr > 0 else 0.1
    return (f"the learning rate is probably too high (unet_lr {lr:g}, text_encoder_lr {te:g}): "
            f"lower it, e.g. --set unet_lr={lr * f:.2g} --set text_encoder_lr={te * f:.2g}")


def diagnose_divergence(epoch: int, why: str, nonfinite_hint: str, rollbacks: int, t,
                        run_dir: Path, last: bool) -> tuple[str, str]:
    """Reason and hint for a run that ends on a diverged epoch (``nonfinite_hint``: the NaN
    policy's hint, used when non-finite steps were the sign).  The hint never suggests a
    wider save precision: that only writes the exploded weights to disk."""
    reason = f"epoch {epoch} diverged: {why}"
    if not last:
        reason += f" (after {rollbacks} rollbacks with the LR lowered each time)"
    hint = nonfinite_hint if "non-finite" in why else lower_lr_hint(t)
    if "blank" in why and "exploded" not in why:
        hint += ("; if the base model's own samples are blank too, check train.model and "
                 "mixed_precision instead")
    bad = ep.diverged_epochs(run_dir)
    good = [e for e in ep.epoch_files(run_dir) if e not in bad and e != epoch]
    if good:
        hint += f"; epoch {good[-1]} is the last good LoRA (onelora pick DIR {run_dir.name} {good[-1]})"
    return reason, hint
