"""Tags per crop: trait rules, crop tags, body regions, captions and tag edits.

The seed's rule: caption everything except the character's own traits (hair, eyes, skin, chest, innate
features) so the LoRA stores those in the trigger word; keep the outfit, accessories and states.  Here
that rule is data: :data:`TRAIT_RULES` (exact / prefix / suffix patterns → a reason) and :data:`KEEP_TAGS`
(outfit, accessory and state tags that look like traits but are not).  The user extends both with
``tags.extra_trait_tags`` / ``tags.never_trait_tags`` in project.toml (``*`` globs allowed).

Tags are stored normalized: lowercase, single underscores instead of spaces (``long_hair``); kaomoji
(``^_^``, ``>_<``) are kept exactly.  Captions write them with spaces or underscores per
``tags.underscores``.  Everything here is pure and quick (no image work, no torch) so the TUI can call it
on every keypress.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

from engine.errors import UserError
from engine.project import Crop, Project, Tag, TagSettings

# ---------------------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------------------

KAOMOJI = frozenset({
    "^_^", ">_<", "o_o", "0_0", "x_x", "u_u", "+_+", "=_=", "._.", "-_-", "t_t", "@_@", ";_;",
    "q_q", "^_^;", ">_o", "o_<", "(o)_(o)", "<o>_<o>", "(+_+)", "|_|", "3_3", "6_9", "^q^", "^o^",
    ":d", ":o", ":3", ":p", ";d", ";)", ":)", ":(", "xd", ":>", ":<", ":q", ":t", ":/",
})


def is_kaomoji(tag: str) -> bool:
    """Emoticon tags (``^_^``, ``>_<``): never rewritten, their underscores are part of the face."""
    t = tag.strip().lower()
    if t in KAOMOJI:
        return True
    return "_" in t and not re.search(r"[a-z]{2,}", t) and not t.replace("_", "").isalnum()


@lru_cache(maxsize=8192)
def normalize(tag: str) -> str:
    """The stored form of a tag: stripped, lowercase, spaces → underscores (kaomoji untouched)."""
    t = tag.strip().replace("\\(", "(").replace("\\)", ")")
    if is_kaomoji(t):
        return t
    return re.sub(r"[\s_]+", "_", t.lower()).strip("_")


def display(tag: str, underscores: bool = False) -> str:
    """How a stored tag is written into a caption."""
    if is_kaomoji(tag) or underscores:
        return tag
    return tag.replace("_", " ")


def split_tags(text: str) -> list[str]:
    """Split a comma (or newline) separated tag list, normalize, drop empties and duplicates."""
    return _unique(normalize(t) for t in re.split(r"[,\n]", text) if t.strip())


def _unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in items:
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


# ---------------------------------------------------------------------------------------
# Trait rules (data)
# ---------------------------------------------------------------------------------------

HAIR_COLOUR = "trait: hair colour"
HAIR_LENGTH = "trait: hair length"
HAIR_STYLE = "trait: hair style"
EYE_COLOUR = "trait: eye colour"
EYE_SHAPE = "trait: eye shape"
SKIN_COLOUR = "trait: skin colour"
CHEST_SIZE = "trait: chest size"
PHYSIQUE = "trait: physique"
INNATE = "trait: innate feature"


def _r(kind: str, reason: str, *patterns: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((kind, p, reason) for p in patterns)


TRAIT_RULES: tuple[tuple[str, str, str], ...] = (
    # (kind, pattern, reason); exact entries are looked up first, then prefix/suffix in this order.
    *_r("exact", HAIR_LENGTH, "long_hair", "short_hair", "medium_hair", "very_long_hair",
        "absurdly_long_hair", "very_short_hair", "short_hair_with_long_locks"),
    *_r("exact", HAIR_STYLE, "bangs", "hair_between_eyes", "sidelocks", "ahoge", "twintails",
        "ponytail", "braid", "braids", "hair_bun", "double_bun", "drill_hair", "twin_drills",
        "hair_intakes", "two_side_up", "one_side_up", "hair_over_one_eye", "hair_over_eyes",
        "hair_flaps", "hair_rings", "wavy_hair", "curly_hair", "straight_hair", "messy_hair",
        "spiked_hair", "asymmetrical_hair", "big_hair", "undercut", "mohawk", "afro",
        "dreadlocks", "hair_slicked_back", "hair_pulled_back", "antenna_hair", "forehead",
        "eyebrows_visible_through_hair"),
    *_r("exact", EYE_COLOUR, "heterochromia"),
    *_r("exact", EYE_SHAPE, "tsurime", "tareme", "jitome", "sanpaku", "eyelashes",
        "long_eyelashes", "thick_eyelashes"),
    *_r("exact", SKIN_COLOUR, "dark_skin", "pale_skin", "tan", "tanlines", "colored_skin",
        "very_dark_skin"),
    *_r("exact", CHEST_SIZE, "flat_chest", "breasts"),
    *_r("exact", PHYSIQUE, "muscular", "muscular_female", "muscular_male", "abs", "thick_thighs",
        "wide_hips", "petite", "curvy", "plump", "toned", "slim", "skinny", "tall", "tall_female",
        "short_stature", "narrow_waist", "broad_shoulders", "fat"),
    *_r("exact", INNATE, "pointy_ears", "elf", "animal_ears", "animal_ear_fluff", "horns",
        "single_horn", "tail", "wings", "fang", "fangs", "skin_fang", "freckles", "mole",
        "scar", "facial_mark", "whisker_markings", "slit_pupils", "heart-shaped_pupils",
        "symbol-shaped_pupils", "colored_sclera", "black_sclera", "third_eye", "extra_arms",
        "dark_persona", "kemonomimi_mode", "halo"),
    *_r("prefix", INNATE, "mole_", "scar_", "beauty_mark"),
    *_r("suffix", HAIR_STYLE, "_bangs", "sidelocks", "ahoge", "twintails", "ponytail",
        "_braid", "_braids", "_bun", "_drills", "_cut", "hair_up", "hair_down"),
    # "colour": the tag ends with the pattern and every word before it is a colour word.
    *_r("colour", HAIR_COLOUR, "_hair"),
    *_r("colour", EYE_COLOUR, "_eyes", "_pupils"),
    *_r("colour", SKIN_COLOUR, "_skin"),
    *_r("suffix", INNATE, "-shaped_pupils", "_sclera", "_ears", "_horns", "_horn", "_tail",
        "_wings", "_eyebrows"),
    *_r("suffix", SKIN_COLOUR, "-skinned_female", "-skinned_male"),
    *_r("suffix", CHEST_SIZE, "_breasts"),
)

COLOUR_WORDS: frozenset[str] = frozenset({
    "black", "blonde", "blond", "brown", "blue", "red", "pink", "purple", "green", "white", "grey",
    "gray", "silver", "orange", "aqua", "yellow", "golden", "gold", "light", "dark", "pale",
    "platinum", "multicolored", "two-tone", "gradient", "streaked", "colored", "inner",
    "split-color", "rainbow", "teal", "cyan", "violet", "lavender", "magenta", "beige", "ash",
    "strawberry", "dirty", "navy", "sky", "crimson", "amber", "mint", "very", "deep", "bright",
})
"""Words a colour tag is made of (``light_brown_hair``, ``two-tone_hair``)."""

KEEP_TAGS: frozenset[str] = frozenset({
    # accessories and outfit on the head (look like hair/eye tags, are not the character's body)
    "hair_ornament", "hair_bow", "hair_ribbon", "hairband", "hairclip", "hair_flower", "hairpin",
    "hair_tie", "hair_scrunchie", "hair_bobbles", "x_hair_ornament", "hat", "beret", "hood",
    "fake_animal_ears", "animal_ear_headwear", "headphones", "glasses", "eyepatch", "earrings",
    "eyewear_on_head", "hairband", "maid_headdress", "tail_ornament", "wing_ornament",
    "fake_tail", "fake_wings", "cat_ear_headphones", "hair_ornament_removed",
    # states, expressions and poses
    "closed_eyes", "one_eye_closed", "half-closed_eyes", "wide-eyed", "empty_eyes", "rolling_eyes",
    "covered_eyes", "covering_eyes", "crazy_eyes", "glowing_eyes", "wink", "open_mouth",
    "closed_mouth", "looking_at_viewer", "smile", "blush", "raised_eyebrows", "v-shaped_eyebrows",
    "furrowed_brow", "wet_hair", "floating_hair", "hair_blowing", "wind_lift", "hair_flip",
    "hair_tucking", "playing_with_own_hair", "hand_in_own_hair", "adjusting_hair",
    "covering_own_ears", "hands_on_own_ears", "tail_wagging", "spread_wings", "folded_wings",
    "shiny_skin", "sweat", "cleavage", "grabbing_own_breast", "hands_on_own_chest",
    "short_sleeves", "long_sleeves", "tears", "crying_with_eyes_open", "light_blush",
})

_CLASS_TAGS = frozenset({"1girl", "1boy", "solo", "girl", "boy", "woman", "man", "female", "male"})


@lru_cache(maxsize=1)
def _rule_index() -> tuple[dict[str, str], tuple[tuple[str, str, str], ...]]:
    exact = {p: reason for kind, p, reason in TRAIT_RULES if kind == "exact"}
    ordered = tuple(r for r in TRAIT_RULES if r[0] != "exact")
    return exact, ordered


@lru_cache(maxsize=8192)
def trait_reason(tag: str) -> str:
    """The built-in trait rule a (normalized) tag falls under, or ''."""
    exact, ordered = _rule_index()
    if tag in exact:
        return exact[tag]
    for kind, pattern, reason in ordered:
        if kind == "prefix" and tag.startswith(pattern):
            return reason
        if kind == "suffix" and tag.endswith(pattern):
            return reason
        if kind == "colour" and tag.endswith(pattern) and len(tag) > len(pattern):
            words = re.split(r"[_\s]", tag[: -len(pattern)])
            if all(w in COLOUR_WORDS for w in words):
                return reason
    return ""


def _in_user_list(tag: str, patterns: list[str]) -> bool:
    for p in patterns:
        n = normalize(p)
        if n == tag or ("*" in n and fnmatch.fnmatchcase(tag, n)):
            return True
    return False


def classify(tag: str, settings: TagSettings | None = None) -> tuple[bool, str]:
    """(kept, reason) for one tag by the rules: the user's lists first, then the keep-list, then the
    trait rules.  A kept tag has reason '' unless a user rule kept it."""
    t = normalize(tag)
    if settings is not None:
        if _in_user_list(t, settings.never_trait_tags):
            return True, "never a trait (tags.never_trait_tags)"
        if _in_user_list(t, settings.extra_trait_tags):
            return False, "trait: your list (tags.extra_trait_tags)"
    if t in KEEP_TAGS or is_kaomoji(t):
        return True, ""
    reason = trait_reason(t)
    return (False, reason) if reason else (True, "")


# ---------------------------------------------------------------------------------------
# Crop framing tags and body regions (engine.framing)
# ---------------------------------------------------------------------------------------

from engine.framing import (  # noqa: E402  (also the tag API: engine.tags.crop_tags ...)
    crop_framing, crop_tags, framing_conflict, tag_regions)

# ---------------------------------------------------------------------------------------
# Tagging crops
# ---------------------------------------------------------------------------------------

def rule_state(project: Project, crop: Crop, tag: str, source: str,
               visible: tuple[str, ...] | None = None,
               framing: tuple[str, ...] | None = None) -> tuple[bool, str]:
    """(kept, reason) of a tag on a crop by the rules: crop tags stay; traits are pruned; tags of
    body regions the crop does not show are pruned ("not visible: feet"), and so are framing
    tags that contradict the crop (``full_body`` on a face close-up)."""
    if source == "crop":
        return True, ""
    kept, reason = classify(tag, project.tags)
    if not kept:
        return kept, reason
    if visible is None or framing is None:
        framing, visible = crop_framing(project, crop)
    conflict = framing_conflict(tag, framing)
    if conflict:
        return False, conflict
    regions = tag_regions(tag)
    if regions and not any(r in visible for r in regions):
        return False, f"not visible: {'/'.join(regions)}"
    return kept, reason


ADDED = "added by you"
"""The reason of a tag the user added by hand that the rules keep."""


def hand_state(project: Project, crop: Crop, tag: str,
               framing: tuple[tuple[str, ...], tuple[str, ...]] | None = None) -> tuple[bool, str]:
    """(kept, reason) of a tag the user added to one crop by hand: the trait rules as for every
    other tag (a trait is pruned with its reason) and the crop's framing; "added by you" when
    they keep it.  Body-region visibility is not guessed: the user looked at the crop."""
    kept, reason = classify(tag, project.tags)
    if kept:
        crop_tags_ = (framing or crop_framing(project, crop))[0]
        conflict = framing_conflict(tag, crop_tags_)
        if conflict:
            return False, conflict
    return kept, (reason or ADDED) if kept else reason


def tag_crops(project: Project, image_tags: Iterable[str] | None = None,
              tagger_results: dict[str, Iterable[str]] | None = None) -> Project:
    """Fill every crop's tags from the image tags (source user), the tags the user added to that
    crop by hand, the tagger's tags for that crop (source tagger) and its framing (source crop),
    each kept or pruned by the rules.  A tag the user took off one crop (``crop.removed``) stays
    off it.

    ``image_tags`` replaces ``project.tags.image_tags`` when given (tags of the old list that
    are not in the new one leave the crops).  ``tagger_results`` maps a crop name to its tagger
    tags; when None, the tagger tags already on the crops are kept.  Tags the user decided by
    hand (``override``) keep their state; tags the user added to one crop stay, under the rules.
    """
    settings = project.tags
    old_image = set(settings.image_tags)
    if image_tags is not None:
        settings.image_tags = _unique(normalize(t) for t in image_tags if t and t.strip())
    image = set(settings.image_tags)
    for crop in project.crops.items:
        old = {normalize(t.tag): t for t in crop.tags}
        if tagger_results is not None:
            tagger = [normalize(t) for t in tagger_results.get(crop.name, ())]
        else:
            tagger = [n for n, t in old.items() if t.source == "tagger"]
        hand = [n for n, t in old.items()
                if t.source == "user" and n not in old_image and n not in image]
        framing, visible = crop_framing(project, crop)
        new: list[Tag] = []
        seen: set[str] = set()
        for source, names in (("user", settings.image_tags), ("hand", hand), ("tagger", tagger),
                              ("crop", framing)):
            for name in names:
                if not name or name in seen or name in crop.removed:
                    continue
                seen.add(name)
                prev = old.get(name)
                if prev is not None and prev.override:
                    new.append(Tag(name, prev.kept, prev.reason, prev.source, True))
                    continue
                if source == "hand":
                    kept, reason = hand_state(project, crop, name, (framing, visible))
                    new.append(Tag(name, kept, reason, "user", False))
                    continue
                kept, reason = rule_state(project, crop, name, source, visible, framing)
                new.append(Tag(name, kept, reason, source, False))
        for name, t in old.items():
            if t.override and name not in seen:
                seen.add(name)
                new.append(t)
        crop.tags = new
    return project


def follow_framing(project: Project) -> Project:
    """After crops moved: each crop's framing tags become those of what it shows now, and the
    rules that depend on the framing (contradicting framing tags, body regions not in view)
    are applied again.  No tag is added or taken away otherwise, and hand decisions
    (``override``) stay."""
    for crop in project.crops.items:
        framing, visible = crop_framing(project, crop)
        new: list[Tag] = []
        names = {t.tag for t in crop.tags}
        for t in crop.tags:
            if t.override:
                new.append(t)
            elif t.source == "crop":
                if t.tag in framing:
                    new.append(Tag(t.tag, True, "", "crop", False))
            elif t.source == "user" and t.tag not in project.tags.image_tags:
                kept, reason = hand_state(project, crop, t.tag, (framing, visible))
                new.append(Tag(t.tag, kept, reason, t.source, False))
            else:
                kept, reason = rule_state(project, crop, t.tag, t.source, visible, framing)
                new.append(Tag(t.tag, kept, reason, t.source, False))
        if crop.tags:  # never-captioned crops get their framing at the caption step
            new += [Tag(f, True, "", "crop", False) for f in framing
                    if f not in names and f not in crop.removed]
        crop.tags = new
    return project


def own_tags(project: Project, crop: Crop) -> list[Tag]:
    """The crop's tags beyond trigger, class and its framing tags: what a caption step adds."""
    skip = {normalize(project.trigger), normalize(project.class_name)}
    return [t for t in crop.tags if t.source != "crop" and normalize(t.tag) not in skip]


def retag(project: Project) -> Project:
    """Re-apply the rules (after the user edited the trait lists) without changing the sources."""
    return tag_crops(project)


# ---------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------

def caption_tags(project: Project, crop: Crop) -> list[str]:
    """The caption's items in order: trigger, class, kept tags, then the crop's framing tags;
    no repeats.  The framing is read from the crop as it is now (a crop moved since it was
    captioned says what it shows now); framing tags the user pruned or kept by hand stay so."""
    u = project.tags.underscores
    items = [project.trigger.strip(), display(normalize(project.class_name), u)]
    stored = [t for t in crop.tags if t.source == "crop"]
    framing = tuple(crop_tags(project, crop)) if not getattr(crop, "image", "") else \
        tuple(t.tag for t in stored)
    items += [display(t.tag, u) for t in crop.tags if t.kept and t.source != "crop"
              and (t.override or not framing_conflict(t.tag, framing))]
    dropped = {t.tag for t in stored if t.override and not t.kept}
    items += [display(t, u) for t in framing if t not in dropped]
    items += [display(t.tag, u) for t in stored if t.override and t.kept]
    seen: set[str] = set()
    out = []
    for item in items:
        key = normalize(item)
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def groups(crop: Crop) -> dict[str, list[Tag]]:
    """The checklist's sections: kept tags, pruned tags (with reasons) and crop tags."""
    out: dict[str, list[Tag]] = {"kept": [], "pruned": [], "crop": []}
    for t in crop.tags:
        out["crop" if t.source == "crop" else "kept" if t.kept else "pruned"].append(t)
    return out


def caption(project: Project, crop: Crop) -> str:
    """The caption line written next to the crop image (kohya reads its first line)."""
    return ", ".join(caption_tags(project, crop))


CLIP_WINDOW = 75


def token_count(text: str) -> int:
    """CLIP tokens in a caption (without start/end tokens): exact when a CLIP merges.txt is on disk,
    else a close estimate (engine.clip_tokens)."""
    from engine import clip_tokens

    return clip_tokens.count(text)


def caption_warnings(project: Project, crop: Crop) -> list[str]:
    """Warnings for one crop's caption (CLIP window)."""
    n = token_count(caption(project, crop))
    if n > CLIP_WINDOW:
        return [f"crop {crop.name!r}: caption is about {n} tokens, past CLIP's {CLIP_WINDOW}-token "
                "window; the tail is cut off in training: prune or remove some tags"]
    return []


@lru_cache(maxsize=1)
def known_tags() -> tuple[str, ...]:
    """Common Danbooru tags shipped with onelora (completion, trigger check)."""
    text = resources.files("engine.assets").joinpath("danbooru_common_tags.txt").read_text("utf-8")
    return tuple(_unique(normalize(line) for line in text.splitlines()
                         if line.strip() and not line.startswith("#")))


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    words: set[str] = set()
    for t in known_tags():
        words.update(w for w in re.split(r"[_\-]", t) if len(w) > 2)
    return frozenset(words)


def complete(prefix: str, project: Project | None = None, limit: int = 20) -> list[str]:
    """Tags starting with ``prefix`` (project tags first, then known tags), for completion."""
    p = normalize(prefix)
    pool: list[str] = []
    if project is not None:
        pool += list(frequency(project, kept_only=False)) + project.tags.image_tags
    pool += known_tags()
    return [t for t in _unique(pool) if t.startswith(p)][:limit]


def trigger_warnings(project: Project) -> list[str]:
    """Why the trigger might not be a word that "returns empty noise" from the base model."""
    trig = project.trigger.strip()
    t = normalize(trig)
    out = []
    hint = "pick a made-up word such as 'isab3lla' or 'zq_mira'"
    if t in known_tags() or t in _CLASS_TAGS:
        out.append(f"trigger {trig!r} is an existing Danbooru tag the base model already knows; {hint}")
    elif t == normalize(project.class_name):
        out.append(f"trigger {trig!r} is the same as the class; {hint}")
    elif len(t) < 4:
        out.append(f"trigger {trig!r} is very short and likely a common token; {hint}")
    elif t.isalpha() and (t in _known_words() or len(t) <= 5):
        out.append(f"trigger {trig!r} looks like a common word (one CLIP token the model knows); "
                   f"{hint}")
    return out


def frequency(project: Project, kept_only: bool = True) -> dict[str, int]:
    """How many crops carry each tag (kept ones only by default), most frequent first."""
    counts: dict[str, int] = {}
    for crop in project.crops.items:
        for t in crop.tags:
            if t.kept or not kept_only:
                counts[t.tag] = counts.get(t.tag, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ---------------------------------------------------------------------------------------
# Edits (the checklist's keys and `onelora tag`)
# ---------------------------------------------------------------------------------------

@dataclass
class TagChange:
    """One edit's effect on one crop: state is 'kept', 'pruned' or None (absent)."""

    crop: str
    tag: str
    before: str | None
    after: str | None


OPS = ("keep", "prune", "add", "remove", "toggle")


def _state(t: Tag | None) -> str | None:
    return None if t is None else ("kept" if t.kept else "pruned")


def _targets(project: Project, crop: str | Crop | None) -> list[Crop]:
    if crop is None:
        return list(project.crops.items)
    return [crop if isinstance(crop, Crop) else project.crop(crop)]


def edit_tag(project: Project, op: str, tag: str, crop: str | Crop | None = None) -> list[TagChange]:
    """Keep, prune, add, remove or toggle ``tag`` on one crop (by name or object) or, with
    ``crop=None``, on all crops.  Hand decisions are marked ``override`` so re-tagging keeps them.
    Returns what changed; raises UserError when the tag is on none of the crops (keep/prune/remove).
    """
    if op not in OPS:
        raise UserError(f"unknown tag operation {op!r}: use one of {', '.join(OPS)}")
    name = normalize(tag)
    if not name:
        raise UserError("empty tag: give a tag such as 'hair_bow'")
    if "," in name:  # a comma would split it into several tags in the caption file
        parts = [p.strip() for p in tag.split(",") if p.strip()]
        raise UserError(f"tag {tag!r} contains a comma, which separates tags in a caption: give "
                        f"each tag on its own (e.g. {' '.join('--' + op + ' ' + repr(p) for p in parts[:2])})")
    crops = _targets(project, crop)
    changes: list[TagChange] = []
    found = False
    for c in crops:
        idx = next((i for i, t in enumerate(c.tags) if normalize(t.tag) == name), None)
        cur = c.tags[idx] if idx is not None else None
        found = found or cur is not None
        before = _state(cur)
        if op == "remove":
            if cur is None:
                continue
            del c.tags[idx]
            if name not in c.removed:  # a new caption step leaves it off this crop
                c.removed.append(name)
        elif op == "add":
            c.removed[:] = [r for r in c.removed if r != name]
            if cur is not None:  # already there: its state stays (keep/prune change it)
                continue
            if crop is None:  # on every crop: a tag of the whole image, under the rules
                kept, reason = rule_state(project, c, name, "user")
            else:
                kept, reason = hand_state(project, c, name)
            cur = Tag(name, kept, reason, "user", False)
            c.tags.append(cur)
        else:
            if cur is None:
                continue
            kept = {"keep": True, "prune": False, "toggle": not cur.kept}[op]
            cur.kept, cur.override = kept, True
            cur.reason = "kept by you" if kept else "pruned by you"
        after = _state(cur) if op != "remove" else None
        if before != after:
            changes.append(TagChange(c.name, name, before, after))
    if op == "remove" and crop is None and name in project.tags.image_tags:
        project.tags.image_tags = [t for t in project.tags.image_tags if t != name]
        found = True
    if op == "add" and crop is None and name not in project.tags.image_tags:
        project.tags.image_tags = [*project.tags.image_tags, name]
    if not found and op != "add":
        where = f"crop {crops[0].name!r}" if crop is not None else "any crop"
        raise UserError(f"tag {name!r} is not on {where}; add it with --add {name}")
    return changes


def give_state(project: Project, tag: str, kept: bool) -> list[TagChange]:
    """Give ``tag`` the state ``kept`` on every crop, as a hand decision (``override``): crops
    that lack it get it, so re-tagging keeps it everywhere ("apply to all")."""
    name = normalize(tag)
    if not name:
        raise UserError("empty tag: give a tag such as 'hair_bow'")
    changes: list[TagChange] = []
    reason = "kept by you" if kept else "pruned by you"
    for c in project.crops.items:
        cur = next((t for t in c.tags if normalize(t.tag) == name), None)
        before = _state(cur)
        c.removed[:] = [r for r in c.removed if r != name]
        if cur is None:
            c.tags.append(Tag(name, kept, reason, "user", True))
        else:
            cur.kept, cur.override, cur.reason = kept, True, reason
        after = "kept" if kept else "pruned"
        if before != after:
            changes.append(TagChange(c.name, name, before, after))
    if name not in project.tags.image_tags and any(
            t.source == "user" for c in project.crops.items for t in c.tags if t.tag == name):
        project.tags.image_tags = [*project.tags.image_tags, name]
    return changes


def keep_tag(project: Project, tag: str, crop: str | Crop | None = None) -> list[TagChange]:
    return edit_tag(project, "keep", tag, crop)


def prune_tag(project: Project, tag: str, crop: str | Crop | None = None) -> list[TagChange]:
    return edit_tag(project, "prune", tag, crop)


def add_tag(project: Project, tag: str, crop: str | Crop | None = None) -> list[TagChange]:
    return edit_tag(project, "add", tag, crop)


def remove_tag(project: Project, tag: str, crop: str | Crop | None = None) -> list[TagChange]:
    """Take a tag off; on all crops it also leaves the image tags, so re-tagging won't bring it back."""
    return edit_tag(project, "remove", tag, crop)


def toggle_tag(project: Project, tag: str, crop: str | Crop | None = None) -> list[TagChange]:
    return edit_tag(project, "toggle", tag, crop)
