"""Crop framing tags and body regions: what of the figure a crop shows.

A crop's framing tags (``full_body``, ``cowboy_shot``, ``upper_body``, ``lower_body``,
``portrait``/``close-up``, ``head_out_of_frame``) follow its content: when the project knows
the figure box (and the face box), they are read from where the crop's rectangle sits on the
figure — so a face crop never gets ``full_body`` and a "face" crop the user stretched over the
whole figure becomes ``full_body``.  Without those boxes the preset's name decides.  The visible
body regions (head, upper, waist, legs, feet) prune tags the crop cannot show ("not visible:
feet").  Framing tags that came from the image's tag list or the tagger and contradict the
crop are pruned too (:func:`framing_conflict`).

Pure and quick (no image work): the TUI calls it on every key press.
"""

from __future__ import annotations

from functools import lru_cache

from engine.project import Crop, Project

REGIONS = ("head", "upper", "waist", "legs", "feet")
"""Body regions, top to bottom: head (hair, face, headwear), upper (torso, arms, hands), waist
(hips, belt, skirt top), legs (thighs to ankles), feet."""

PRESET_FRAMING: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # preset (or framing read from the box): (crop tags, visible regions)
    "full_body": (("full_body",), REGIONS),
    "cowboy_shot": (("cowboy_shot",), ("head", "upper", "waist", "legs")),
    "upper_body": (("upper_body",), ("head", "upper")),
    "lower_body": (("lower_body", "head_out_of_frame"), ("waist", "legs", "feet")),
    "face": (("portrait", "close-up"), ("head",)),
    "bangs": (("close-up",), ("head",)),
    "head_out_of_frame": (("head_out_of_frame",), ("upper", "waist", "legs", "feet")),
}
PRESET_ALIASES = {"portrait": "face", "close_up": "face", "closeup": "face", "head": "face",
                  "bangs_close_up": "bangs", "bangs_closeup": "bangs", "head_out": "head_out_of_frame",
                  "headless": "head_out_of_frame", "cowboy": "cowboy_shot", "full": "full_body",
                  "upper": "upper_body", "lower": "lower_body", "three_quarter": "cowboy_shot"}

FRAMING_TAGS = frozenset({
    "full_body", "cowboy_shot", "upper_body", "lower_body", "portrait", "close-up",
    "head_out_of_frame", "feet_out_of_frame", "wide_shot", "very_wide_shot", "cropped_legs",
    "cropped_torso", "out_of_frame", "face_out_of_frame", "eyes_out_of_frame",
})
"""Danbooru tags that describe the framing of the picture, not the character."""

# The noun (last word) of a tag → regions where it can be seen; tags with no entry show everywhere.
REGION_NOUNS: dict[str, tuple[str, ...]] = {
    **{w: ("head",) for w in (
        "hair", "bangs", "sidelocks", "ahoge", "twintails", "ponytail", "braid", "braids", "bun",
        "drills", "cut", "intakes", "eyes", "eye", "pupils", "sclera", "eyebrows", "eyelashes",
        "brow", "mouth", "lips", "teeth", "tongue", "fang", "fangs", "smile", "grin", "smirk",
        "blush", "ears", "ear", "horns", "horn", "hat", "cap", "beret", "hood", "crown", "tiara",
        "halo", "headband", "hairband", "hairclip", "hairpin", "headphones", "headdress",
        "headwear", "glasses", "eyewear", "sunglasses", "earrings", "eyepatch", "viewer", "face",
        "freckles", "nose", "forehead", "cheek", "tears", "wink", "portrait", "heterochromia",
        "tsurime", "tareme", "jitome")},
    **{w: ("head", "upper") for w in ("choker", "collar", "scarf", "neckerchief", "necklace",
                                      "neck", "collarbone", "hair_over_shoulder")},
    **{w: ("upper",) for w in (
        "shirt", "t-shirt", "blouse", "sweater", "hoodie", "jacket", "coat", "vest", "cardigan",
        "necktie", "bowtie", "sleeves", "sleeveless", "gloves", "glove", "bracelet", "wristband",
        "cuffs", "hand", "hands", "arm", "arms", "fingers", "nails", "breasts", "breast", "chest",
        "cleavage", "armpits", "shoulders", "shoulder", "wings", "cape", "serafuku", "v",
        "peace_sign", "thumbs_up", "waving", "pointing")},
    **{w: ("upper", "waist") for w in ("apron", "stomach", "abs", "midriff")},
    **{w: ("waist",) for w in ("belt", "navel", "hip", "hips", "waist")},
    **{w: ("upper", "waist", "legs") for w in ("dress", "sundress", "kimono", "leotard",
                                                "bodysuit", "swimsuit")},
    **{w: ("waist", "legs") for w in ("skirt", "miniskirt", "shorts", "pants", "jeans",
                                      "panties", "tail", "thighs", "thigh")},
    **{w: ("legs",) for w in ("thighhighs", "kneehighs", "pantyhose", "legwear", "straps",
                              "strap", "ryouiki", "knees", "knee", "legs", "leg", "kneeling")},
    **{w: ("legs", "feet") for w in ("stockings",)},
    **{w: ("feet",) for w in ("shoes", "heels", "sandals", "barefoot", "feet", "foot", "loafers",
                              "sneakers", "slippers", "toes", "soles", "boots", "socks")},
}
# Whole tags whose last word would mislead the noun table.
REGION_EXACT: dict[str, tuple[str, ...]] = {
    "hair_over_shoulder": ("head", "upper"), "hand_on_hip": ("upper", "waist"),
    "hands_on_hips": ("upper", "waist"), "thigh_strap": ("legs",), "garter_straps": ("legs",),
    "zettai_ryouiki": ("legs",), "thigh_boots": ("legs", "feet"), "knee_boots": ("legs", "feet"),
    "kneehighs": ("legs", "feet"), "over-kneehighs": ("legs", "feet"),
    "wrist_cuffs": ("upper",), "looking_at_viewer": ("head",), "closed_eyes": ("head",),
    "school_uniform": (), "sailor_collar": ("upper",), "animal_ears": ("head",),
    **{t: () for t in FRAMING_TAGS},
}


def _norm(tag: str) -> str:
    from engine.tags import normalize

    return normalize(tag)


@lru_cache(maxsize=8192)
def tag_regions(tag: str) -> tuple[str, ...]:
    """Regions where a tag can be seen; () means anywhere (poses, background, style...)."""
    t = _norm(tag)
    if t in REGION_EXACT:
        return REGION_EXACT[t]
    if t.startswith("hair") or "hair" in t.split("_"):
        return ("head",)
    noun = t.rsplit("_", 1)[-1]
    return REGION_NOUNS.get(noun, REGION_NOUNS.get(t, ()))


def preset_key(preset: str) -> str:
    p = _norm(preset).replace("-", "_")
    return PRESET_ALIASES.get(p, p)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _bands(project: Project) -> dict[str, tuple[float, float]]:
    """Regions as vertical bands of the figure (fractions of its height, top = 0)."""
    fy, fh = project.crops.figure_box[1], project.crops.figure_box[3]
    bands = {"head": (0.0, 0.16), "upper": (0.12, 0.5), "waist": (0.4, 0.62),
             "legs": (0.5, 0.92), "feet": (0.88, 1.0)}
    face = project.crops.face_box
    if len(face) == 4 and face[3] > 0:
        bands["head"] = ((face[1] - fy) / fh, (face[1] + face[3] - fy) / fh)
    return bands


def shape_of_box(project: Project, box: list[int]) -> str:
    """What of the figure a box shows, as a framing name (a key of :data:`PRESET_FRAMING`),
    "detail" for a part that is none of those, "outside" off the figure, or "" when the
    project has no figure box."""
    fig = project.crops.figure_box
    if len(fig) != 4 or fig[2] <= 0 or fig[3] <= 0 or len(box) != 4:
        return ""
    x, y, w, h = box
    fx, fy, fw, fh = fig
    if _overlap(x, x + w, fx, fx + fw) <= 0 or _overlap(y, y + h, fy, fy + fh) <= 0:
        return "outside"
    bottom = fy + fh
    face = project.crops.face_box
    if len(face) == 4 and face[3] > 0:
        hx, hy, hw, hh = face
    else:  # no face box: the head is the top sixth of the figure
        hx, hy, hw, hh = fx, fy, fw, 0.16 * fh
    chin = hy + hh
    body = max(1.0, bottom - chin)
    head_seen = _overlap(y, y + h, hy, chin) / max(hh, 1e-6)
    head_across = _overlap(x, x + w, hx, hx + hw) / max(hw, 1e-6)
    reaches_feet = y + h >= bottom - 0.06 * fh
    if head_seen < 0.3 or head_across < 0.3:  # no head in the picture
        if reaches_feet and h >= 0.35 * fh:  # a small crop at the feet is a detail (boots)
            return "lower_body" if y >= chin + 0.2 * body else "head_out_of_frame"
        return "detail"
    if head_seen < 0.8:  # part of the head: bangs, eyes
        return "bangs"
    if reaches_feet:
        return "full_body"
    below = (y + h - chin) / body
    if below >= 0.45:
        return "cowboy_shot"
    if below >= 0.15:
        return "upper_body"
    return "face"


def _geometry_framing(project: Project, crop: Crop) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Framing of a crop from where it sits on the figure."""
    shape = shape_of_box(project, list(crop.box))
    if shape in PRESET_FRAMING:
        return PRESET_FRAMING[shape]
    if shape == "outside":
        return ("close-up",), ()
    # a detail of the body (wrist cuffs, boots): the regions it covers
    x, y, w, h = crop.box
    fy, fh = project.crops.figure_box[1], project.crops.figure_box[3]
    visible = []
    for region, (b0, b1) in _bands(project).items():
        span = max(b1 - b0, 1e-6)
        if _overlap((y - fy) / fh, (y + h - fy) / fh, b0, b1) / span >= 0.5:
            visible.append(region)
    tags = [] if "head" in visible else ["head_out_of_frame"]
    if h < 0.5 * fh:
        tags.append("close-up")
    return tuple(tags), tuple(visible)


def crop_framing(project: Project, crop: Crop) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(crop tags, visible regions) of a crop: from where its box sits on the figure when the
    project knows the figure box, else from its preset.  Crops over an imported image of their
    own get none (their captions already say it)."""
    if getattr(crop, "image", ""):
        return (), REGIONS
    if len(project.crops.figure_box) == 4 and project.crops.figure_box[3] > 0:
        return _geometry_framing(project, crop)
    key = preset_key(crop.preset) if crop.preset else ""
    if key in PRESET_FRAMING:
        return PRESET_FRAMING[key]
    return (), REGIONS


def crop_tags(project: Project, crop: Crop) -> list[str]:
    """The framing tags the seed asks for (full_body, cowboy_shot, close-up, head_out_of_frame...)."""
    return list(crop_framing(project, crop)[0])


def framing_conflict(tag: str, framing: tuple[str, ...]) -> str:
    """Why a framing tag from the tag list or the tagger does not fit a crop framed as
    ``framing`` ('' when it fits, is no framing tag, or the crop's framing is unknown)."""
    t = _norm(tag)
    if t not in FRAMING_TAGS or not framing or t in framing:
        return ""
    return f"not this crop's framing: {'/'.join(framing)}"
