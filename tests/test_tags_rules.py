"""Captioning step: tags per crop with the character's own traits pruned, crop tags, captions."""

from __future__ import annotations

import time

import pytest

from engine import tags as tg
from engine.errors import UserError
from engine.project import Crop, TagSettings

PRUNED = {
    "blue_hair": tg.HAIR_COLOUR, "blonde_hair": tg.HAIR_COLOUR, "light_brown_hair": tg.HAIR_COLOUR,
    "two-tone_hair": tg.HAIR_COLOUR, "streaked_hair": tg.HAIR_COLOUR, "silver_hair": tg.HAIR_COLOUR,
    "long_hair": tg.HAIR_LENGTH, "short_hair": tg.HAIR_LENGTH, "very_long_hair": tg.HAIR_LENGTH,
    "medium_hair": tg.HAIR_LENGTH,
    "bangs": tg.HAIR_STYLE, "blunt_bangs": tg.HAIR_STYLE, "swept_bangs": tg.HAIR_STYLE,
    "hair_between_eyes": tg.HAIR_STYLE, "sidelocks": tg.HAIR_STYLE, "ahoge": tg.HAIR_STYLE,
    "twintails": tg.HAIR_STYLE, "side_ponytail": tg.HAIR_STYLE, "twin_braids": tg.HAIR_STYLE,
    "hair_bun": tg.HAIR_STYLE, "drill_hair": tg.HAIR_STYLE, "hime_cut": tg.HAIR_STYLE,
    "hair_intakes": tg.HAIR_STYLE,
    "blue_eyes": tg.EYE_COLOUR, "red_eyes": tg.EYE_COLOUR, "aqua_eyes": tg.EYE_COLOUR,
    "heterochromia": tg.EYE_COLOUR,
    "dark_skin": tg.SKIN_COLOUR, "pale_skin": tg.SKIN_COLOUR, "dark-skinned_female": tg.SKIN_COLOUR,
    "flat_chest": tg.CHEST_SIZE, "large_breasts": tg.CHEST_SIZE, "small_breasts": tg.CHEST_SIZE,
    "pointy_ears": tg.INNATE, "cat_ears": tg.INNATE, "horns": tg.INNATE, "demon_horns": tg.INNATE,
    "fox_tail": tg.INNATE, "freckles": tg.INNATE, "mole_under_eye": tg.INNATE,
    "slit_pupils": tg.INNATE, "fang": tg.INNATE, "thick_eyebrows": tg.INNATE,
    "muscular": tg.PHYSIQUE,
}
KEPT = [
    "hair_ornament", "hair_bow", "hair_ribbon", "hairclip", "x_hair_ornament", "hat", "beret",
    "closed_eyes", "one_eye_closed", "half-closed_eyes", "open_mouth", "closed_mouth",
    "looking_at_viewer", "smile", "blush", "fake_animal_ears", "wet_hair", "floating_hair",
    "shiny_skin", "glasses", "earrings", "school_uniform", "thighhighs", "boots", "skirt",
    "white_shirt", "long_sleeves", "cleavage", "standing", "^_^", ">_<", ":d",
    "simple_background", "raised_eyebrows", "tail_ornament", "holding_umbrella",
]


@pytest.mark.parametrize("tag,reason", sorted(PRUNED.items()))
def test_trait_rules_prune_the_characters_own_traits(tag, reason):
    assert tg.classify(tag) == (False, reason)


@pytest.mark.parametrize("tag", KEPT)
def test_trait_rules_keep_outfit_accessories_and_states(tag):
    assert tg.classify(tag) == (True, "")


def test_trait_rules_cover_forty_real_tags_and_accept_spaces():
    assert len(PRUNED) + len(KEPT) >= 40 and len(PRUNED) >= 40
    assert tg.classify("Blue Hair") == (False, tg.HAIR_COLOUR)
    assert tg.classify("  looking at viewer ") == (True, "")


def test_user_trait_lists_extend_the_rules_with_globs():
    s = TagSettings(extra_trait_tags=["hair_bow", "*_wings"], never_trait_tags=["Long Hair"])
    assert tg.classify("hair_bow", s) == (False, "trait: your list (tags.extra_trait_tags)")
    assert tg.classify("angel_wings", s)[0] is False
    assert tg.classify("long_hair", s) == (True, "never a trait (tags.never_trait_tags)")
    assert tg.classify("blue_hair", s) == (False, tg.HAIR_COLOUR)


def test_normalize_keeps_kaomoji_and_unifies_spaces():
    assert tg.normalize(" Looking  At_Viewer ") == "looking_at_viewer"
    assert tg.normalize("^_^") == "^_^" and tg.normalize(">_<") == ">_<"
    assert tg.display("looking_at_viewer") == "looking at viewer"
    assert tg.display("^_^") == "^_^"
    assert tg.display("looking_at_viewer", underscores=True) == "looking_at_viewer"
    assert tg.split_tags("1girl, hat,\nhat , , smile") == ["1girl", "hat", "smile"]


def _add_crops(project):
    project.crops.figure_box = [28, 10, 40, 140]
    project.crops.face_box = [30, 10, 36, 36]
    project.crops.items = [
        Crop("full", [28, 10, 40, 140], "full_body"),
        Crop("face", [30, 10, 36, 36], "face"),
        Crop("legs", [28, 90, 40, 60], "lower_body"),
        Crop("cuffs", [28, 100, 40, 30], ""),
    ]
    return project


@pytest.mark.parametrize("preset,expected", [
    ("full_body", ["full_body"]), ("cowboy_shot", ["cowboy_shot"]), ("upper_body", ["upper_body"]),
    ("lower_body", ["lower_body", "head_out_of_frame"]), ("face", ["portrait", "close-up"]),
    ("portrait", ["portrait", "close-up"]), ("bangs", ["close-up"]),
    ("head_out_of_frame", ["head_out_of_frame"]), ("head-out", ["head_out_of_frame"]),
])
def test_crop_tags_per_preset(project, preset, expected):
    assert tg.crop_tags(project, Crop("c", [0, 0, 10, 10], preset)) == expected


def test_custom_crop_below_the_face_is_head_out_of_frame_close_up(project):
    _add_crops(project)
    framing, visible = tg.crop_framing(project, project.crop("cuffs"))
    assert framing == ("head_out_of_frame", "close-up")
    assert "head" not in visible and "legs" in visible


def test_tags_stay_where_they_can_be_seen_and_the_user_overrides(project):
    _add_crops(project)
    tg.tag_crops(project, ["1girl", "Blue Hair", "hat", "boots", "smile", "standing"])
    face, legs, full = project.crop("face"), project.crop("legs"), project.crop("full")
    state = {c.name: {t.tag: (t.kept, t.reason) for t in c.tags} for c in (face, legs, full)}
    assert state["face"]["boots"] == (False, "not visible: feet")
    assert state["legs"]["hat"] == (False, "not visible: head")
    assert state["full"]["boots"] == (True, "") and state["full"]["hat"] == (True, "")
    assert state["face"]["blue_hair"] == (False, tg.HAIR_COLOUR)
    assert state["legs"]["standing"] == (True, "")
    sections = tg.groups(face)
    assert [t.tag for t in sections["crop"]] == ["portrait", "close-up"]
    assert [t.tag for t in sections["pruned"]] == ["blue_hair", "boots"]
    assert [t.tag for t in sections["kept"]] == ["1girl", "hat", "smile", "standing"]
    tg.keep_tag(project, "boots", "face")
    tg.tag_crops(project)  # re-tagging keeps the hand decision
    boots = next(t for t in project.crop("face").tags if t.tag == "boots")
    assert (boots.kept, boots.override, boots.reason) == (True, True, "kept by you")
    assert "boots" in tg.caption(project, project.crop("face"))


def test_cowboy_shot_shows_thighhighs_but_not_boots(project):
    project.crops.items = [Crop("cowboy", [0, 0, 40, 100], "cowboy_shot")]
    tg.tag_crops(project, ["thighhighs", "boots", "pleated_skirt", "hat"])
    assert {t.tag: t.kept for t in project.crops.items[0].tags} == {
        "thighhighs": True, "boots": False, "pleated_skirt": True, "hat": True, "cowboy_shot": True}


def test_caption_order_trigger_class_tags_then_crop_tags(project):
    _add_crops(project)
    tg.tag_crops(project, ["girl", "long hair", "hair ornament", "^_^", "looking_at_viewer"])
    cap = tg.caption(project, project.crop("face"))
    assert cap == "zq_tester, girl, hair ornament, ^_^, looking at viewer, portrait, close-up"
    project.tags.underscores = True
    assert tg.caption(project, project.crop("face")) == \
        "zq_tester, girl, hair_ornament, ^_^, looking_at_viewer, portrait, close-up"


def test_tag_crops_sources_and_tagger_tags_survive_a_retag(project):
    _add_crops(project)
    tg.tag_crops(project, ["smile"], tagger_results={"face": ["open_mouth", "smile", "red_eyes"]})
    src = {t.tag: t.source for t in project.crop("face").tags}
    assert src == {"smile": "user", "open_mouth": "tagger", "red_eyes": "tagger",
                   "portrait": "crop", "close-up": "crop"}
    tg.tag_crops(project, ["smile", "blush"])
    assert [t.tag for t in project.crop("face").tags] == \
        ["smile", "blush", "open_mouth", "red_eyes", "portrait", "close-up"]


def test_caption_warns_past_the_clip_window(project):
    _add_crops(project)
    tg.tag_crops(project, [f"tag_number_{i}" for i in range(5)])
    assert tg.caption_warnings(project, project.crop("full")) == []
    tg.tag_crops(project, [f"white {w} shirt" for w in
                           "abcdefghijklmnopqrstuvwxyz"])
    assert tg.token_count(tg.caption(project, project.crop("full"))) > 75
    assert "75-token" in tg.caption_warnings(project, project.crop("full"))[0]
    assert tg.token_count("1girl, solo") == 4  # 1 | girl | , | solo


@pytest.mark.parametrize("trigger,warns", [
    ("zq_tester", False), ("isab3lla", False), ("hat", True), ("smile", True),
    ("girl", True), ("ab", True), ("mira", True),
])
def test_trigger_check_warns_on_known_or_common_words(project, trigger, warns):
    project.trigger = trigger
    assert bool(tg.trigger_warnings(project)) is warns


def test_frequency_counts_kept_tags_across_crops(project):
    _add_crops(project)
    tg.tag_crops(project, ["smile", "boots", "blue_hair"])
    freq = tg.frequency(project)
    assert freq["smile"] == 2 and freq["boots"] == 2 and "blue_hair" not in freq
    assert list(freq)[0] == "boots"
    assert tg.frequency(project, kept_only=False)["blue_hair"] == 4


def test_edits_on_one_crop_and_on_all_crops_report_what_changed(project):
    _add_crops(project)
    tg.tag_crops(project, ["smile", "long_hair"])
    ch = tg.keep_tag(project, "long hair")
    assert [(c.crop, c.before, c.after) for c in ch] == [
        ("full", "pruned", "kept"), ("face", "pruned", "kept"), ("legs", "pruned", "kept"),
        ("cuffs", "pruned", "kept")]
    assert tg.prune_tag(project, "smile", "face")[0].after == "pruned"
    assert [c.crop for c in tg.add_tag(project, "wrist_cuffs", "cuffs")] == ["cuffs"]
    assert tg.toggle_tag(project, "wrist_cuffs", "cuffs")[0].after == "pruned"
    removed = tg.remove_tag(project, "smile")
    assert [c.crop for c in removed] == ["full", "face", "legs", "cuffs"]
    assert "smile" not in project.tags.image_tags
    tg.tag_crops(project)
    assert all("smile" not in [t.tag for t in c.tags] for c in project.crops.items)
    with pytest.raises(UserError, match="not on crop 'face'.*--add"):
        tg.keep_tag(project, "boots", "face")
    with pytest.raises(UserError, match="no crop named"):
        tg.add_tag(project, "boots", "nope")


def test_completion_offers_project_and_known_tags(project):
    _add_crops(project)
    tg.tag_crops(project, ["hair_bobbles"])
    got = tg.complete("hair_b", project)
    assert got[0] == "hair_bobbles" and "hair_bow" in got and "hair_bun" in got
    assert len(tg.known_tags()) > 300 and "1girl" in tg.known_tags()


def test_rules_are_quick_enough_for_every_keypress(project):
    project.crops.items = [Crop(f"c{i}", [0, 0, 50, 50], "upper_body") for i in range(10)]
    tags = list(PRUNED) + KEPT
    t0 = time.perf_counter()
    tg.tag_crops(project, tags)
    for c in project.crops.items:
        tg.caption(project, c)
        tg.token_count(tg.caption(project, c))
    tg.frequency(project)
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.1, f"re-tagging 10 crops x {len(tags)} tags took {elapsed * 1000:.1f} ms"


def test_clip_token_count_bpe_merges_and_fallback(monkeypatch):
    from engine import clip_tokens as ct

    ranks = ct.ranks_from_lines(["#version: 0.2", "h i</w>", "g i", "gi r", "gir l</w>"])
    assert ranks == {("h", "i</w>"): 0, ("g", "i"): 1, ("gi", "r"): 2, ("gir", "l</w>"): 3}
    cache: dict[str, int] = {}
    assert ct.bpe_pieces("hi", ranks, cache) == 1
    assert ct.bpe_pieces("girl", ranks, cache) == 1
    assert ct.bpe_pieces("girls", ranks, cache) == 3  # gir + l + s</w>: "gir l</w>" needs the word end
    assert ct.bpe_pieces("hello", ranks, cache) == 5
    monkeypatch.setattr(ct, "_candidates", lambda: [])
    monkeypatch.setattr(ct, "_shipped_lines", lambda: None)
    ct.merge_ranks.cache_clear()
    try:
        assert not ct.is_exact()
        assert ct.count("looking at viewer, thighhighs") == ct.approx_count("looking at viewer, thighhighs") == 6
    finally:
        ct.merge_ranks.cache_clear()


def test_caption_token_count_is_exact_with_the_shipped_clip_table(monkeypatch):
    """The shipped OpenAI BPE table gives CLIP's real count (SD1.x: a 75-token window)."""
    from engine import clip_tokens as ct

    monkeypatch.setattr(ct, "_candidates", lambda: [])
    ct.merge_ranks.cache_clear()
    try:
        assert ct.is_exact()
        # ids from openai/clip-vit-large-patch14: "a photo of a cat" → 5 tokens between BOS/EOS
        assert ct.count("a photo of a cat") == 5
        assert ct.count("thighhighs") == 2  # thigh + highs
    finally:
        ct.merge_ranks.cache_clear()
