"""Engine messages in TUI terms: the engine speaks to the CLI user ("--resume RUN",
"--add TAG"); on a screen the same advice names the key that does it."""

from __future__ import annotations

import re

# (pattern, replacement); applied in order.  Each names the key on the screen where it shows.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"resume it \(onelora train \S+ --resume \S+\)"),
     "resume it (u on the training dashboard)"),
    (re.compile(r"(?:resume )?with (?:onelora train \S+ )?--resume \S+"), "resume with u"),
    (re.compile(r"onelora train \S+ --resume \S+"), "u on the training dashboard"),
    (re.compile(r"add it with --add \S+"), "add it with a"),
    (re.compile(r"\(e\.g\. (?:--\w+ '[^']*' ?)+\)"), "(one tag at a time)"),
    (re.compile(r"onelora prep \S+ --upscale (\d+)"), r"upscale to \1 px (e on the crops screen)"),
    (re.compile(r"onelora prep \S+ --upscale PX"), "upscale (e on the crops screen)"),
    (re.compile(r"\(onelora crops \S+ --remove (\S+)\)"), r"(x on the crops screen)"),
    (re.compile(r"onelora caption \S+"), "C on the tags screen"),
    (re.compile(r"choose a new folder or pass --force to reuse it"),
     "choose a new or empty folder"),
    (re.compile(r"onelora crops \S+(?: --auto)?"), "the crops screen (1)"),
    (re.compile(r"pass --tagger MODEL_DIR or set tags\.tagger_model"),
     "give the tagger folder in the caption dialog"),
    (re.compile(r", or leave out --tagger"), ", or leave the tagger folder empty"),
)


def in_tui_terms(message: str) -> str:
    """``message`` with CLI commands and flags replaced by the keys that do the same."""
    for pattern, replacement in _RULES:
        message = pattern.sub(replacement, message)
    return message


class TuiTerms:
    """Screen mixin: every notification of the screen is put in TUI terms."""

    def notify(self, message, *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().notify(in_tui_terms(str(message)), *args, **kwargs)  # type: ignore[misc]


def crop_list(names, shown: int = 2) -> str:
    """Crop names for a message, shortened when many: ``face, upper_body, +3 more``."""
    names = list(dict.fromkeys(names))  # each once, in order
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])}, +{len(names) - shown} more"
