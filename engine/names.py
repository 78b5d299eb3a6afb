"""Names that become parts of paths, and paths that must stay inside a folder.

Every name a user (or a hand-edited project.toml, or a kohya folder) gives that onelora turns into
a file or folder name (trigger, output name, crop name, kohya folder names) goes through
:func:`check_name`; every relative path stored in project.toml goes through
:func:`check_relative`; every path written for such a name can be checked with :func:`inside`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from engine.errors import UserError

MAX_NAME = 100
"""Longest name accepted (file systems allow 255 bytes; names are joined with suffixes)."""

RESERVED = frozenset({"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)}
                     | {f"lpt{i}" for i in range(1, 10)})
"""Device names Windows reserves, with or without an extension (con, nul.txt, LPT1.png)."""

_NAME_RE = re.compile(r"^[\w.\-]+$")          # \w: letters, digits, underscore (Unicode)
_SPACED_RE = re.compile(r"^[\w.\- ]+$")       # class tokens and kohya folders may hold spaces

ALLOWED = "letters, digits, _ - . (no leading dot, at most 100 characters)"


def name_problem(value: object, spaces: bool = False) -> str | None:
    """Why ``value`` cannot be a file name, or None when it can."""
    if not isinstance(value, str) or not value:
        return "it is empty"
    if len(value) > MAX_NAME:
        return f"it has {len(value)} characters (at most {MAX_NAME})"
    if not (_SPACED_RE if spaces else _NAME_RE).match(value):
        bad = sorted({ch for ch in value if not (ch.isalnum() or ch in "_-." or
                                                    (spaces and ch == " "))})
        return "it contains " + " ".join(repr(ch) for ch in bad)
    if value.startswith("."):
        return "it starts with a dot"
    if value.strip(" ") != value:
        return "it starts or ends with a space"
    if value.split(".")[0].strip().lower() in RESERVED:
        return f"{value.split('.')[0]!r} is a reserved device name"
    return None


def check_name(value: object, what: str, spaces: bool = False) -> str:
    """``value`` if it is safe as one file or folder name, else a UserError naming ``what``.

    Allowed: letters, digits, ``_ - .`` (and spaces when ``spaces``), no leading dot, not a
    reserved device name (con, nul, prn, aux, com1-9, lpt1-9, any case, any extension), at most
    :data:`MAX_NAME` characters."""
    problem = name_problem(value, spaces)
    if problem:
        extra = ", spaces" if spaces else ""
        shown = repr(value) if not isinstance(value, str) or len(value) <= 40 \
            else repr(value[:40]) + "..."
        raise UserError(f"{what} = {shown} is not allowed ({problem}): use {ALLOWED}{extra}, "
                        "e.g. 'isab3lla'")
    return value  # type: ignore[return-value]


def check_relative(value: str, what: str) -> str:
    """A path stored relative to the project folder: not absolute, no drive, no ``..``."""
    if not value:
        return value
    for pure in (PurePosixPath(value), PureWindowsPath(value)):
        if pure.is_absolute() or pure.drive or pure.root or ".." in pure.parts:
            raise UserError(f"{what} = {value!r} is not allowed: it must be a path inside the "
                            "project folder, relative to it (e.g. source/original.png)")
    if "\x00" in value:
        raise UserError(f"{what} = {value!r} is not allowed: it holds a NUL character")
    return value


def inside(path: str | os.PathLike, root: str | os.PathLike, what: str) -> Path:
    """``path`` resolved, if it lies inside ``root`` (resolved); a UserError naming ``what`` if a
    name or a link would take it elsewhere."""
    real, base = Path(path).resolve(), Path(root).resolve()
    if real != base and base not in real.parents:
        raise UserError(f"{what}: {path} would be written outside {base}; "
                        f"use a plain name ({ALLOWED})")
    return real
