"""Sample and regularization image sizes on ``builtin:tiny``: the tiny model's own size.

The seed's defaults (samples 512×512 with 20 steps, regularization images 512×512 with 25)
are for real SD1.x models.  ``builtin:tiny`` (engine/models.py, a pipeline check) is built
for ``TINY_RESOLUTION``-pixel images (its VAE's ``sample_size``; its UNet's latent
``sample_size`` × 8): at 512 px each image costs 16× the pixels and says nothing more — a
walk measured over 2.5 minutes for the first image of an epoch on a loaded 2-core CPU.

So when a run starts on ``builtin:tiny`` (engine.runs.freeze_config), every size and step
count still at the seed's default (width and height as a pair) is replaced in the run's
``config.toml`` by the tiny model's size and :data:`TINY_STEPS`, and ``[run] sizes`` says
which and why.  The project's
own settings are not touched: with a real model the same project draws at the seed's sizes.
A value the user changed is kept, and a prompt's ``--w/--h/--s`` options still win.
Torch-free.
"""

from __future__ import annotations

from dataclasses import fields

from engine.model_files import TINY_RESOLUTION, TINY_SPEC
from engine.project import RegSettings, SampleSettings

TINY_STEPS = 8
"""Denoising steps on builtin:tiny (the demo's choice): its random weights make no better image
with more steps; 8 still runs the sampler's whole schedule."""

SIZE_FIELDS = ("width", "height", "steps")
SECTIONS = {"samples": SampleSettings, "reg": RegSettings}


def is_tiny(model: object) -> bool:
    """Does this model setting name the embedded tiny model (as models.load_base spells it)?"""
    return str(model or "").strip().lower() in (TINY_SPEC, "tiny", "builtin")


def _default(cls: type, name: str) -> object:
    return next(f.default for f in fields(cls) if f.name == name)


def tiny_value(name: str) -> int:
    return TINY_STEPS if name == "steps" else TINY_RESOLUTION


def fit_to_model(data: dict, model: object) -> str:
    """Change ``data`` (a project as a dict, about to be frozen into a run's config.toml) so a
    ``builtin:tiny`` run draws at the tiny model's size; returns the note for ``[run] sizes``
    ("" when nothing changed: a real model, or every value set by the user)."""
    if not is_tiny(model):
        return ""
    changed: dict[str, list[str]] = {}
    for section, cls in SECTIONS.items():
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        for group in (("width", "height"), ("steps",)):  # a size changed in one side is the user's
            if all(table.get(n, _default(cls, n)) == _default(cls, n) for n in group):
                for name in group:
                    table[name] = tiny_value(name)
                changed.setdefault(section, []).extend(group)
    if not changed:
        return ""
    names = {"samples": "samples", "reg": "regularization images"}
    now = " and ".join(f"{names[s]} at {_shape(data[s], keys)}" for s, keys in changed.items())
    seed = " and ".join(_shape({n: _default(SECTIONS[s], n) for n in SIZE_FIELDS}, keys)
                        for s, keys in changed.items())
    return (f"{TINY_SPEC} draws {now} (the tiny model's size, a demo's step count); the seed's "
            f"{seed} are for real SD1.x models. Other values you set, and a prompt's --w --h "
            f"--s, are kept.")


def _shape(table: dict, keys: list[str]) -> str:
    parts = [f"{table['width']}×{table['height']}"] if "width" in keys else []
    parts += [f"{table['steps']} steps"] if "steps" in keys else []
    return ", ".join(parts)
