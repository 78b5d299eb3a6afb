"""Count CLIP tokens in a caption, without torch or transformers.

When a CLIP BPE merge table (``merges.txt`` of openai/clip-vit-large-patch14, the SD1.x tokenizer) is on
disk — shipped in ``engine/assets/sd15/tokenizer/`` or in the local Hugging Face cache — the count is
exact: CLIP's pre-tokenizer (letters / single digits / other symbols, lowercased) followed by its BPE
merges.  Otherwise :func:`approx_count` estimates it (most short words are one token; longer, rarer
words split into pieces of about six letters).  Nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

_PRETOKEN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE)
_APPROX = re.compile(r"[^\W\d_]+|\d|(?:[^\s\w]|_)+")


def _candidates() -> list[Path]:
    paths = []
    try:
        paths.append(Path(str(resources.files("engine.assets").joinpath("sd15/tokenizer/merges.txt"))))
    except (ModuleNotFoundError, TypeError):
        pass
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache"
                                                                     / "huggingface")) / "hub")
    paths += sorted(hub.glob("models--openai--clip-vit-large-patch14/snapshots/*/merges.txt"))
    return paths


SHIPPED_BPE = "sd15/tokenizer/bpe_simple_vocab_16e6.txt.gz"
"""OpenAI CLIP's BPE table (MIT) shipped with onelora: the same merges as merges.txt."""
CLIP_MERGES = 49152 - 256 - 2


def _shipped_lines() -> list[str] | None:
    import gzip

    try:
        path = Path(str(resources.files("engine.assets").joinpath(SHIPPED_BPE)))
    except (ModuleNotFoundError, TypeError):
        return None
    if not path.is_file():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return fh.read().split("\n")[1:CLIP_MERGES + 1]


_RANKS: list[dict[tuple[str, str], int] | None] = []  # [] until loaded, then [ranks or None]
_RANKS_LOCK = threading.Lock()


def merge_ranks() -> dict[tuple[str, str], int] | None:
    """BPE merge ranks from the first merges.txt found (or the shipped CLIP table), or None.
    Loaded once (about 49k merges: 0.2–1.6 s); a caller arriving while :func:`warm_up` is still
    loading waits for that load instead of starting a second one."""
    if _RANKS:
        return _RANKS[0]
    with _RANKS_LOCK:
        if not _RANKS:
            _RANKS.append(_load_ranks())
    return _RANKS[0]


merge_ranks.cache_clear = _RANKS.clear  # type: ignore[attr-defined]  # as with functools.lru_cache


def _load_ranks() -> dict[tuple[str, str], int] | None:
    for path in _candidates():
        if path.is_file():
            return ranks_from_lines(path.read_text(encoding="utf-8").splitlines())
    lines = _shipped_lines()
    return ranks_from_lines(lines) if lines else None


def warm_up() -> threading.Thread:
    """Load the BPE table in a background thread, so the first token count (the tags screen's,
    on the TUI's event loop) does not pay for it. Call once at start-up; returns the thread."""
    thread = threading.Thread(target=merge_ranks, name="onelora-clip-bpe", daemon=True)
    thread.start()
    return thread


def ranks_from_lines(lines) -> dict[tuple[str, str], int]:
    ranks: dict[tuple[str, str], int] = {}
    for line in lines:
        if not line or line.startswith("#version"):
            continue
        a, _, b = line.partition(" ")
        if b:
            ranks[(a, b)] = len(ranks)
    return ranks


@lru_cache(maxsize=1)
def _byte_map() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character map."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def bpe_pieces(word: str, ranks: dict[tuple[str, str], int], cache: dict[str, int]) -> int:
    """How many BPE tokens one pre-token becomes."""
    if word in cache:
        return cache[word]
    bmap = _byte_map()
    chars = "".join(bmap[b] for b in word.encode("utf-8"))
    syms = list(chars[:-1]) + [chars[-1] + "</w>"]
    while len(syms) > 1:
        best = min(range(len(syms) - 1),
                   key=lambda i: ranks.get((syms[i], syms[i + 1]), 1 << 30))
        pair = (syms[best], syms[best + 1])
        if pair not in ranks:
            break
        merged, i = [], 0
        while i < len(syms):
            if i < len(syms) - 1 and (syms[i], syms[i + 1]) == pair:
                merged.append(syms[i] + syms[i + 1])
                i += 2
            else:
                merged.append(syms[i])
                i += 1
        syms = merged
    cache[word] = len(syms)
    return len(syms)


_CACHE: dict[str, int] = {}


def approx_count(text: str) -> int:
    n = 0
    for m in _APPROX.finditer(text):
        w = m.group()
        n += 1 if len(w) <= 7 or not w.isalpha() else -(-len(w) // 6)
    return n


def count(text: str) -> int:
    """CLIP tokens in ``text`` (without the start/end tokens): exact with a merge table, else
    :func:`approx_count`."""
    ranks = merge_ranks()
    if ranks is None:
        return approx_count(text)
    clean = " ".join(text.lower().split())
    return sum(bpe_pieces(m.group(), ranks, _CACHE) for m in _PRETOKEN.finditer(clean))


def is_exact() -> bool:
    return merge_ranks() is not None
