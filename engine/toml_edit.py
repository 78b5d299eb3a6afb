"""Rewriting a TOML file the user may edit by hand, keeping their comments and layout.

``project.toml`` and the training presets are the user's files: they add comments, blank
lines and tables of their own.  :func:`dumps_onto` puts new content onto the file's current
text with tomlkit instead of writing it afresh: a value that did not change keeps its line
byte for byte (its comment, its spelling such as ``1e-4``), a changed value is rewritten on
its own line (its end-of-line comment kept), a new key goes after the table's last key, a
removed key goes (a comment on the lines above it stays).  Arrays of tables are matched item
by item by their first key (a crop by its name, a tag by its text), so a comment inside a crop
stays with that crop when another crop is added or removed.

The result always parses (tomllib) to exactly the content given, with the same types; if
the edited text would not (a layout tomlkit cannot edit), the content is written afresh
instead, so the file's meaning never depends on the editing.  Torch-free and Textual-free.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
import tomlkit
from tomlkit.container import Container, OutOfOrderTableProxy
from tomlkit.items import AoT, Array, Comment, InlineTable, Item, Table

from engine.files import atomic_write_bytes

_TABLES = (Table, InlineTable, Container, OutOfOrderTableProxy)


def same(a: Any, b: Any) -> bool:
    """Equal as TOML values: same types too (``1`` is neither ``1.0`` nor ``true``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def fresh(data: dict) -> str:
    """``data`` as a new file (no earlier text to keep)."""
    return tomli_w.dumps(data)


class Editor:
    """Puts content onto one file's text, save after save.  It keeps the document it produced
    last, so the next edit of that same text skips parsing it again (tomlkit parses slowly:
    about half a second for a 140 kB ``project.toml`` with a thousand tags; a TUI saves at
    every change).  Not thread-safe: one per file, used under that file's lock."""

    def __init__(self) -> None:
        self._last: tuple[str, Any, dict] | None = None
        """(text produced, its tomlkit document, its content) of the last edit."""

    def dumps(self, text: str | None, data: dict) -> str:
        """The TOML text for ``data``, keeping ``text``'s comments and layout (module
        docstring).  ``text`` None (no file yet) gives a fresh file."""
        last, self._last = self._last, None  # the document is edited in place below
        if text is None:
            return fresh(data)
        try:
            if last is not None and last[0] == text:
                doc, old = last[1], last[2]
            else:
                doc, old = tomlkit.parse(text), tomllib.loads(text)
            _apply(doc, data, old)
            out = doc.as_string()
            written = tomllib.loads(out)
            if same(written, data):
                self._last = (out, doc, written)
                return out
        except Exception:  # tomlkit could not parse or edit this layout: write it afresh
            pass
        return fresh(data)


def dumps_onto(text: str | None, data: dict) -> str:
    """The TOML text for ``data``, keeping ``text``'s comments and layout (module docstring).
    ``text`` None (no file yet) gives a fresh file."""
    return Editor().dumps(text, data)


def write(path: str | os.PathLike, data: dict, text: str | None = None) -> bytes:
    """Write ``data`` to ``path`` atomically, onto ``text`` (the file's current content; read
    from ``path`` when None and the file exists).  Returns the bytes written."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_bytes().decode("utf-8")
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
            text = None
    raw = dumps_onto(text, data).encode("utf-8")
    atomic_write_bytes(path, raw)
    return raw


# ---------------------------------------------------------------------------------------
# Putting a dict onto a tomlkit document
# ---------------------------------------------------------------------------------------

_MISSING = object()


def _apply(table: Any, new: dict, old: dict) -> None:
    """Make the tomlkit table (document, table, inline table) whose content is ``old`` hold
    ``new``, in place; only what differs is touched."""
    inline = isinstance(table, InlineTable)
    for key in [k for k in table.keys() if k not in new]:
        del table[key]
    for key, value in new.items():
        if key not in table:
            _add(table, key, _fresh(value, inline=inline))
            continue
        prev = old.get(key, _MISSING)
        if same(prev, value):
            continue
        item = table[key]
        if isinstance(value, dict) and isinstance(prev, dict) and isinstance(item, _TABLES) \
                and not _rewrite_inline(item, prev, value):
            _apply(item, value, prev)
        elif (isinstance(value, list) and isinstance(prev, list)
              and isinstance(item, (AoT, Array)) and len(item) == len(prev)
              and (isinstance(item, Array) or _is_tables(value))):
            multiline = isinstance(item, Array) and "\n" in item.as_string()
            if not _edit_list(item, prev, value):
                table[key] = _fresh(value, inline=inline or isinstance(item, Array),
                                    multiline=multiline)
        else:  # a value that stays inline (an inline table, an array) is written inline
            table[key] = _fresh(value, inline=inline or isinstance(item, (InlineTable, Array)))


def _rewrite_inline(item: Any, prev: dict, new: dict) -> bool:
    """An inline table (one line, no comments inside) whose keys change is written afresh:
    tomlkit's spacing after adding or removing a key in place reads badly."""
    return isinstance(item, InlineTable) and prev.keys() != new.keys()


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _add(table: Any, key: str, item: Item) -> None:
    """A new key: a plain value goes right after the table's last plain key (not after a
    comment that introduces the next table); a table goes at the end."""
    body = table._body if isinstance(table, Container) else (
        table.value._body if isinstance(table, Table) else None)
    if body is None or isinstance(item, (Table, AoT)):
        table[key] = item
        return
    last, first_table = None, len(body)
    for i, (k, v) in enumerate(body):
        if isinstance(v, (Table, AoT)) and k is not None and not k.is_dotted():
            first_table = i
            break
        if k is not None:
            last = i
    if last is not None:
        at = last + 1
    else:  # no plain key yet: before the comment lines right above the first table
        at = first_table
        while at > 0 and isinstance(body[at - 1][1], Comment):
            at -= 1
    container = table if isinstance(table, Container) else table.value
    if at >= len(body):
        table[key] = item
        return
    container._insert_at(at, key, item)
    if isinstance(table, Table):
        dict.__setitem__(table, key, container[key])


def _identity(items: list[dict]) -> str | None:
    """The key naming each item of a list of tables (its first key, e.g. a crop's ``name``)
    when its values are distinct scalars; None = match items by position."""
    first = next(iter(items[0]), None)
    if first is None:
        return None
    values = [d.get(first) for d in items]
    if any(not isinstance(v, (str, int)) or isinstance(v, bool) for v in values):
        return None
    return first if len(set(values)) == len(values) else None


def _match(prev: list, new: list) -> list[int | None] | None:
    """For each new item the index of the old item to keep (None: a new one), or None when
    the list must be written afresh.  Tables are matched by their first key (else by
    position), plain values by value when they are distinct."""
    if _is_tables(new):
        if not all(isinstance(p, dict) for p in prev):
            return None
        key = _identity(new)
        if key is None:
            return [i if i < len(prev) else None for i in range(len(new))]
        by_name: dict = {}
        for i, p in enumerate(prev):
            name = p.get(key)
            if isinstance(name, (str, int)) and name not in by_name:
                by_name[name] = i
        return [by_name.get(d[key]) for d in new]
    if any(isinstance(v, (list, dict)) for v in new):
        return None
    keys = [(type(v), v) for v in new]
    if len(set(keys)) != len(keys):
        return None
    by_value: dict = {}
    for i, p in enumerate(prev):
        if not isinstance(p, (list, dict)):
            by_value.setdefault((type(p), p), i)
    return [by_value.get(k) for k in keys]


def _edit_list(old: AoT | Array, prev: list, new: list) -> bool:
    """Edit an array (or array of tables) holding ``prev`` in place: items matched to a new
    value stay with their comments, the others go, new ones are inserted.  False = it must be
    rewritten."""
    pairs = _match(prev, new)
    if pairs is None:
        return False
    kept = [p for p in pairs if p is not None]
    if len(set(kept)) != len(kept):
        return False
    olds, keep = list(old), set(kept)
    for i in reversed(range(len(olds))):
        if i not in keep:
            del old[i]
    items = []
    for index, value in zip(pairs, new):
        if index is None:
            items.append(_fresh(value, inline=isinstance(old, Array)))
        elif isinstance(value, dict) and _rewrite_inline(olds[index], prev[index], value):
            items.append(_fresh(value, inline=True))
        else:
            if isinstance(value, dict) and not same(prev[index], value):
                _apply(olds[index], value, prev[index])
            items.append(olds[index])
    if kept == sorted(kept):
        for i, (index, item) in enumerate(zip(pairs, items)):
            if index is None:
                old.insert(i, item)
            elif item is not olds[index]:  # an inline table written afresh
                old[i] = item
    else:  # reordered: the same items, put in the new order
        while len(old):
            del old[-1]
        for item in items:
            old.append(item)
    if isinstance(old, AoT):
        if len(kept) < len(new) or kept != sorted(kept):  # tables added or moved
            for t in old.body[:-1]:  # a blank line between tables
                if not t.as_string().endswith("\n\n"):
                    t.add(tomlkit.nl())
    elif (_is_tables(new) and len(new) > 1 and None in pairs
          and "\n" not in old.as_string()):
        old.multiline(True)  # records added: one per line, like a fresh file
    return True


def _nested(d: dict) -> bool:
    return any(isinstance(v, dict) or _is_tables(v) for v in d.values())


def _fresh(value: Any, inline: bool, multiline: bool = False) -> Item:
    """A new tomlkit item for ``value`` that reads like a fresh file: sections as tables,
    a list of flat records (a crop's tags) as one inline table per line, a list of records
    that hold records (the crops) as ``[[...]]`` tables."""
    if isinstance(value, dict):
        if inline:
            t = tomlkit.inline_table()
            for i, (k, v) in enumerate(value.items()):
                item = _fresh(v, inline=True)
                if i == 0:
                    item.trivia.indent = " "
                t.append(k, item)
            if value:
                t.append(None, tomlkit.ws(" "))
            return t
        t = tomlkit.table()
        for k, v in value.items():
            t.append(k, _fresh(v, inline=False))
        return t
    if isinstance(value, list):
        if _is_tables(value) and not inline and any(_nested(d) for d in value):
            return AoT([_fresh(d, inline=False) for d in value])
        a = tomlkit.array()
        for v in value:
            a.append(_fresh(v, inline=True))
        if multiline or (_is_tables(value) and len(value) > 1):
            a.multiline(True)
        return a
    return tomlkit.item(value)
