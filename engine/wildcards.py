"""Regularization prompts: dynamic-prompt expansion and captions from prompts.

The class prompt uses the sd-dynamic-prompts syntax (expanded by the ``dynamicprompts``
library): variants ``{a|b}``, weights ``{0.5::a|2::b}``, multiple picks ``{2$$a|b|c}``,
``__name__`` wildcard files from the project's ``wildcards/`` folder (one value per line,
``#`` comments, nesting allowed).  Prompt ``i`` depends only on ``seed + i``, so a resumed
generation makes the same prompts for the same image numbers.

Light module: no torch, no textual.  The TUI uses it for the prompt preview.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import UserError

WILDCARDS_DIR = "wildcards"
STARTER_DIR = Path(__file__).resolve().parent / "assets" / "wildcards"

# Words that describe image quality rather than content: kept out of captions, because a
# caption says what is in the picture (the prompt's quality words would be learned as tags).
QUALITY_WORDS = frozenset("""
masterpiece best_quality high_quality highest_quality ultra_high_quality good_quality
normal_quality low_quality worst_quality amazing_quality great_quality very_aesthetic
aesthetic absurdres highres lowres ultra-detailed ultra_detailed extremely_detailed
highly_detailed detailed intricate_details 4k 8k 8k_wallpaper hd uhd hdr
official_art illustration beautiful_detailed_eyes best_illustration
extremely_detailed_cg_unity_8k_wallpaper unity_8k_wallpaper score_9 score_8_up score_7_up
""".split())

_WILDCARD_RE = re.compile(r"__([A-Za-z0-9_\-/*.]+?)__")
_WEIGHT_RE = re.compile(r":\s*[-+]?[0-9.]+$")


def wildcards_dir(project) -> Path:
    """The project's wildcard folder (``DIR/wildcards``)."""
    return Path(project.root) / WILDCARDS_DIR


def starter_files() -> list[Path]:
    """The wildcard files shipped with onelora."""
    return sorted(STARTER_DIR.glob("*.txt"))


def ensure_wildcards(project) -> list[Path]:
    """Copy the starter wildcard files into ``DIR/wildcards/`` where missing.

    Files the user already has (edited or their own) are never overwritten.  Returns the
    files copied."""
    dest = wildcards_dir(project)
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in starter_files():
        target = dest / src.name
        if not target.exists():
            from engine.project import atomic_write_bytes

            atomic_write_bytes(target, src.read_bytes())
            copied.append(target)
    return copied


def list_wildcards(folder: Path | None) -> list[str]:
    """Names usable as ``__name__`` in ``folder`` (sub-folders as ``a/b``)."""
    if folder is None or not Path(folder).is_dir():
        return []
    root = Path(folder)
    return sorted(str(p.relative_to(root).with_suffix("")).replace("\\", "/")
                  for p in root.rglob("*.txt"))


def _generator(folder: Path | None):
    import logging

    from dynamicprompts.generators import RandomPromptGenerator
    from dynamicprompts.wildcards import WildcardManager

    # its "No values found for wildcard" warning would be a second line beside our UserError
    logging.getLogger("dynamicprompts").setLevel(logging.ERROR)

    manager = WildcardManager(Path(folder)) if folder is not None and Path(folder).is_dir() \
        else WildcardManager()
    return RandomPromptGenerator(manager)


def expand(template: str, count: int, seed: int, folder: Path | None = None,
           start: int = 0) -> list[str]:
    """Expand ``template`` into prompts ``start .. start+count-1``; prompt ``i`` is drawn with
    seed ``seed + i`` (deterministic, independent of ``count``).

    Raises UserError for a syntax error or a ``__name__`` with no wildcard file."""
    if count <= 0:
        return []
    template = " ".join(template.split())  # newlines in a form field are not prompt text
    if not template:
        raise UserError("reg.prompt is empty: give a class prompt such as "
                        "'1woman, solo, clothes, __expression__, __camera__'")
    try:
        prompts = _generator(folder).generate(
            template, count, seeds=[seed + start + i for i in range(count)])
    except Exception as e:  # pyparsing's ParseException and friends
        raise UserError(f"reg.prompt {template!r} could not be expanded ({e}); check the "
                        "braces {a|b} and the __wildcard__ names") from None
    for p in prompts:
        missing = [m for m in _WILDCARD_RE.findall(p)]
        if missing:
            known = ", ".join(list_wildcards(folder)) or "(none)"
            where = folder if folder is not None else "the wildcards folder"
            raise UserError(f"wildcard __{missing[0]}__ in reg.prompt has no file "
                            f"{missing[0]}.txt in {where}; known wildcards: {known}")
    return [clean_prompt(p) for p in prompts]


def clean_prompt(prompt: str) -> str:
    """Tidy commas and spaces left by expansion ("a,b , ,c" → "a, b, c")."""
    parts = [p.strip() for p in prompt.split(",")]
    return ", ".join(p for p in parts if p)


def preview(project, n: int = 5) -> list[str]:
    """The first ``n`` prompts the project's reg settings would generate."""
    return expand(project.reg.prompt, n, project.reg.seed, wildcards_dir(project))


def _strip_emphasis(tag: str) -> str:
    """``(worst quality:1.4)`` → ``worst quality``; ``[x]`` → ``x`` (also the halves of a
    group split at a comma, ``(a`` and ``b:1.2)``)."""
    tag = tag.strip().strip("()[]").strip()
    out = _WEIGHT_RE.sub("", tag).strip().strip("()[]").strip()
    return out or tag


def is_quality_word(tag: str) -> bool:
    return tag.strip().lower().replace(" ", "_") in QUALITY_WORDS


def caption_from_prompt(prompt: str, underscores: bool = False) -> str:
    """A caption for a generated image: the prompt's tags minus quality words, emphasis
    brackets and repeats, in prompt order, written like the crops' captions (engine.tags)."""
    return merge_tags("", [_strip_emphasis(raw) for raw in prompt.split(",")], underscores)


def merge_tags(caption: str, extra: list[str], underscores: bool = False) -> str:
    """Append tags not already in ``caption`` (quality words left out; kaomoji such as ``^_^``
    keep their underscores)."""
    from engine import tags as tg

    out = [t.strip() for t in caption.split(",") if t.strip()]
    seen = {tg.normalize(t) for t in out}
    for t in extra:
        key = tg.normalize(t)
        if not key or key in seen or is_quality_word(key):
            continue
        seen.add(key)
        out.append(tg.display(key, underscores))
    return ", ".join(out)
