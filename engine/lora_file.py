"""Read a LoRA ``.safetensors`` file without torch: its JSON header, its metadata and, through
numpy, its tensor data — tolerant of what a hand-made or hostile file may hold.

Light module (numpy, imported only to read values): ``onelora inspect`` uses it, so looking
inside a LoRA costs no torch import. The safetensors layout is an 8-byte little-endian header
length, a JSON header (``{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}}``)
and the raw tensor bytes. Everything odd about a file is collected as a sentence in :attr:`LoraFile.odd` instead of
raised, so a caller can report what it can; only a file that is not safetensors at all (or not
found) raises ``UserError``.

:func:`printable` removes terminal control sequences from text taken from a file (metadata,
tensor names, file names) before it is shown: a crafted file must not rewrite the terminal.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import UserError

if TYPE_CHECKING:
    import numpy as np

MAX_HEADER_BYTES = 100_000_000
"""safetensors itself refuses headers over 100 MB; a bigger length field means a broken file."""

# safetensors dtype code → (numpy dtype of the stored bytes, name shown, bytes per element)
DTYPES: dict[str, tuple[str | None, str, float]] = {
    "F64": ("<f8", "float64", 8), "F32": ("<f4", "float32", 4), "F16": ("<f2", "float16", 2),
    "BF16": ("<u2", "bfloat16", 2), "I64": ("<i8", "int64", 8), "I32": ("<i4", "int32", 4),
    "I16": ("<i2", "int16", 2), "I8": ("i1", "int8", 1), "U64": ("<u8", "uint64", 8),
    "U32": ("<u4", "uint32", 4), "U16": ("<u2", "uint16", 2), "U8": ("u1", "uint8", 1),
    "BOOL": ("?", "bool", 1), "F8_E4M3": (None, "float8_e4m3fn", 1), "F8_E5M2": (None, "float8_e5m2", 1),
}
FLOAT_CODES = ("F64", "F32", "F16", "BF16")

# ESC-introduced sequences (CSI ``ESC [ … final``, OSC ``ESC ] … BEL/ST``, DCS/PM/APC/SOS strings,
# two-byte escapes), the 8-bit CSI/OSC forms, then any other C0/C1 control except tab and newline,
# DEL, and the Unicode bidi overrides that reorder what a terminal shows.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|[\x9d\x90\x98\x9e\x9f].*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
    re.DOTALL)


def printable(value: object) -> str:
    """``value`` as text with every terminal control sequence and control character removed
    (newline and tab kept), safe to print."""
    return _CONTROL.sub("", value if isinstance(value, str) else str(value))


@dataclass
class TensorInfo:
    """One tensor entry of the header, checked."""

    name: str
    dtype: str
    """The safetensors dtype code (F16, BF16, F32, ...), as written."""
    shape: tuple[int, ...]
    start: int
    """Byte offset of the data from the start of the file (-1 when the entry is unusable)."""
    nbytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype_name(self) -> str:
        return DTYPES.get(self.dtype, (None, self.dtype.lower(), 0))[1]


@dataclass
class LoraFile:
    """A safetensors file's header: tensors that can be read, string metadata, and what is odd."""

    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    odd: list[str] = field(default_factory=list)
    size: int = 0
    _bytes: Any = field(default=None, repr=False)

    def array(self, name: str) -> np.ndarray | None:
        """The tensor's values as a numpy array (float32 for bf16), or None if its dtype cannot
        be read with numpy (float8). The file is memory-mapped once, read-only."""
        import numpy as np

        t = self.tensors[name]
        code = DTYPES.get(t.dtype, (None,))[0]
        if code is None or t.start < 0:
            return None
        if self._bytes is None:
            self._bytes = (np.memmap(self.path, dtype=np.uint8, mode="r") if self.size
                           else np.zeros(0, np.uint8))
        arr = self._bytes[t.start:t.start + t.nbytes].view(np.dtype(code))
        if t.dtype == "BF16":  # bfloat16 is the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.reshape(t.shape)


def _pairs(items: list[tuple[str, object]]) -> dict:
    """JSON object hook that remembers keys written twice (json keeps the last silently)."""
    out: dict = {}
    for k, v in items:
        if k in out:
            out.setdefault("\0duplicates", []).append(k)
        out[k] = v
    return out


def read(path: str | os.PathLike) -> LoraFile:
    """The header of a safetensors file; ``UserError`` only when it is missing or not safetensors."""
    p = Path(path).expanduser()
    shown = printable(p)
    if p.is_dir():
        raise UserError(f"{shown} is a folder; give the .safetensors file inside it")
    if not p.is_file():
        raise UserError(f"{shown} not found")
    if p.suffix.lower() != ".safetensors":
        raise UserError(f"{shown} is not a .safetensors file; onelora reads LoRAs in safetensors format")
    size = p.stat().st_size
    try:
        with open(p, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise UserError(f"{shown} is not a safetensors file ({size} bytes, too short for a header)")
            (n,) = struct.unpack("<Q", raw)
            if n > MAX_HEADER_BYTES or n > size - 8:
                raise UserError(f"{shown} is not a safetensors file: its header length field says {n:,} "
                                f"bytes but the file has {size:,} (truncated or not safetensors)")
            text = fh.read(n).decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{shown} is not a safetensors file (its header is not UTF-8 text)") from None
    except OSError as e:
        raise UserError(f"{shown} cannot be read ({e.strerror or e})") from None
    try:
        header = json.loads(text, object_pairs_hook=_pairs)
    except (ValueError, RecursionError) as e:
        raise UserError(f"{shown} is not a safetensors file (its header is not JSON: {e})") from None
    if not isinstance(header, dict):
        raise UserError(f"{shown} is not a safetensors file (its header is not a JSON object)")
    odd: list[str] = []
    for k in header.pop("\0duplicates", []):
        odd.append(f"header lists {printable(k)!r} more than once (the last entry is used)")
    metadata = _metadata(header.pop("__metadata__", None), odd)
    data_start, data_len = 8 + n, size - 8 - n
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        t = _tensor(name, entry, data_start, data_len, odd)
        if t is not None:
            tensors[name] = t
    return LoraFile(path=p, tensors=tensors, metadata=metadata, odd=odd, size=size)


def _metadata(raw: object, odd: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        odd.append(f"__metadata__ is a JSON {type(raw).__name__}, not an object; ignored")
        return {}
    for k in raw.pop("\0duplicates", []):
        odd.append(f"metadata key {printable(k)!r} appears more than once (the last is used)")
    out: dict[str, str] = {}
    for k, v in raw.items():
        if not isinstance(v, str):
            odd.append(f"metadata {printable(k)!r} is a JSON {type(v).__name__}, not a string "
                       "(safetensors allows strings only)")
            v = json.dumps(v, default=str)
        out[str(k)] = v
    return out


def _tensor(name: str, entry: object, data_start: int, data_len: int, odd: list[str]) -> TensorInfo | None:
    shown = printable(name)
    if not isinstance(entry, dict):
        odd.append(f"tensor {shown!r}: header entry is not an object; skipped")
        return None
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        odd.append(f"tensor {shown!r}: unknown dtype {printable(dtype)!r}; skipped")
        return None
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                            for d in shape)):
        odd.append(f"tensor {shown!r}: shape {printable(shape)!r} is not a list of sizes; skipped")
        return None
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_len):
        odd.append(f"tensor {shown!r}: data offsets {printable(offsets)!r} lie outside the file; skipped")
        return None
    t = TensorInfo(name=name, dtype=dtype, shape=tuple(shape), start=data_start + offsets[0],
                   nbytes=offsets[1] - offsets[0])
    if t.nbytes != t.numel * DTYPES[dtype][2]:
        odd.append(f"tensor {shown!r}: {t.nbytes} bytes do not hold a {dtype} tensor of shape "
                   f"{list(shape)}; its values are not read")
        t.start = -1
    return t


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Just the string metadata of a safetensors file."""
    return read(path).metadata
