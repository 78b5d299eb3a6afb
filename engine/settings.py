"""Typed settings dataclasses ↔ TOML values: checking, coercion and help text.

A settings field is a dataclass field with a docstring written under it (the help text the
CLI and the TUI show) and metadata from :func:`opt` (allowed ``choices``, ``min``, ``max``).
:func:`check_value` enforces them with messages that name the key, the bad value and what
is allowed; :func:`from_dict` builds a dataclass from a TOML table, turning unknown keys
into warnings.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import tomllib
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.errors import UserError


def opt(default: Any = None, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, factory: Any = None) -> Any:
    """A settings field with its allowed values."""
    meta = {"choices": choices, "min": min, "max": max}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@lru_cache(maxsize=None)
def field_help(cls: type) -> dict[str, str]:
    """Map each field of a settings dataclass to the docstring written under it."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _stored_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("stored", True)]


def to_dict(obj: Any) -> Any:
    """Dataclass → plain TOML-able dict (no None values)."""
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in _stored_fields(type(obj)):
            value = to_dict(getattr(obj, f.name))
            if value is not None:
                out[f.name] = value
        return out
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


_ITEM_WORDS = {float: "a number", int: "a whole number", str: "a quoted string"}


@lru_cache(maxsize=None)
def type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``, once per class: it re-evaluates every annotation on
    each call, and loading a project checks ~1000 values (it cost 0.4 s of the TUI's start).
    Callers must not change the returned dict."""
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def check_value(cls: type, name: str, value: Any, where: str = "") -> Any:
    """Check and coerce one field value; raise UserError naming the key and what is allowed."""
    hints = type_hints(cls)
    f = {f.name: f for f in dataclasses.fields(cls)}.get(name)
    key = f"{where}{name}"
    if f is None:
        raise UserError(f"unknown setting {key!r}; known: {', '.join(sorted(hints))}")
    tp = hints[name]
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{key} = {value!r} is not allowed: use true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise UserError(f"{key} = {value!r} is not allowed: use a whole number")
        if not -2 ** 63 <= value < 2 ** 63:  # TOML integers are 64-bit
            raise UserError(f"{key} = {value!r} is too large: it must fit in 64 bits")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{key} = {value!r} is not allowed: use a number")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise UserError(f"{key} = {value!r} is not allowed: use a finite number")
    elif tp is str:
        if not isinstance(value, str):
            raise UserError(f"{key} = {value!r} is not allowed: use a quoted string")
    elif origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"{key} = {value!r} is not allowed: use a list [...]")
        if dataclasses.is_dataclass(item_tp):
            value = [from_dict(item_tp, v, f"{key}[{i}].", []) if isinstance(v, dict) else v
                     for i, v in enumerate(value)]
            for i, v in enumerate(value):
                if not isinstance(v, item_tp):
                    raise UserError(f"{key}[{i}] = {v!r} is not allowed: use a table")
        else:
            out = []
            for i, v in enumerate(value):
                ok = (isinstance(v, item_tp) and not isinstance(v, bool)) if item_tp is not float \
                    else (isinstance(v, (int, float)) and not isinstance(v, bool))
                if not ok:
                    raise UserError(f"{key}[{i}] = {v!r} is not allowed: "
                                    f"every item must be {_ITEM_WORDS.get(item_tp, _type_name(item_tp))}")
                out.append(float(v) if item_tp is float else v)
            value = out
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise UserError(f"{key} = {value!r} is not allowed: choose one of "
                        + ", ".join(map(str, meta["choices"])))
    if meta.get("min") is not None and isinstance(value, (int, float)) and value < meta["min"]:
        raise UserError(f"{key} = {value!r} is too small: the minimum is {meta['min']}")
    if meta.get("max") is not None and isinstance(value, (int, float)) and value > meta["max"]:
        raise UserError(f"{key} = {value!r} is too large: the maximum is {meta['max']}")
    return value


def from_dict(cls: type, data: dict, where: str, warnings: list[str],
              unknown: dict | None = None) -> Any:
    """Plain dict → dataclass, checking every value; unknown keys become warnings (and, when
    ``unknown`` is given, are collected there, nested like the tables they came from, so a save
    can write them back)."""
    if not isinstance(data, dict):
        raise UserError(f"{where.rstrip('.') or 'project'} must be a table, not {data!r}")
    hints = type_hints(cls)
    kwargs = {}
    stored = {f.name for f in _stored_fields(cls)}
    for key, value in data.items():
        if key not in stored:
            close = difflib.get_close_matches(key, sorted(stored), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if unknown is None:
                warnings.append(f"unknown key {where}{key} ignored{hint}")
            else:
                unknown[key] = value
                warnings.append(f"unknown key {where}{key} is not used by onelora{hint}; "
                                "it is kept in the file as is")
            continue
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            sub = {} if unknown is not None else None
            kwargs[key] = from_dict(tp, value, f"{where}{key}.", warnings, sub)
            if sub:
                unknown[key] = sub
        else:
            kwargs[key] = check_value(cls, key, value, where)
    return cls(**kwargs)


def parse_value(raw: str) -> Any:
    """Parse a TOML scalar/array from text; fall back to the text itself."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


LORA_WEIGHT_MIN, LORA_WEIGHT_MAX = -2.0, 3.0
"""The LoRA weights sampling accepts (a weight outside this range only shows noise)."""


def check_lora_weights(values: list[float], where: str) -> list[float]:
    """Refuse LoRA weights outside LORA_WEIGHT_MIN..LORA_WEIGHT_MAX (or not finite);
    ``where`` names the option or setting in the message."""
    for v in values:
        if not (isinstance(v, (int, float)) and LORA_WEIGHT_MIN <= v <= LORA_WEIGHT_MAX):
            raise UserError(f"{where}: LoRA weight {v!r} is out of range; use weights between "
                            f"{LORA_WEIGHT_MIN:g} and {LORA_WEIGHT_MAX:g}, e.g. 0.6,0.8,1.0")
    return [float(v) for v in values]
