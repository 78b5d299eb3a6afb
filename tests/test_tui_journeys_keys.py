"""Journeys through the real app (Pilot, 80×24), keys as a user presses them, each checked in
project.toml on disk: the tags screen's apply-to-all, hand-added traits, the caption step,
keys vs text fields, number fields, prompts with commas, a second run, framing tags, undo."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from textual.widgets import Input

from engine import crops as ec
from engine import project as pj
from engine import runs
from engine import tags as tg
from engine.api import Engine
from tui.app import MODE_TABLE, OneloraApp
from tui.keys import is_text_field
from tui.widgets.tag_checklist import TagChecklist
from tui.widgets.train_dialogs import ConfirmScreen

SIZE = (80, 24)


class FakeEngine(Engine):
    """Runs are recorded (a folder with a live pid), never launched; ``force`` is noted."""

    def __init__(self) -> None:
        self.started: list[tuple[str, bool]] = []

    def start_run(self, project, kind="train", force=False, **run):
        pj.save(project)
        run_dir = runs.start_run(project, kind, detach=False, force=force, **run)
        (run_dir / "pid").write_text(str(os.getpid()))  # alive: this process
        self.started.append((kind, force))
        return run_dir


@pytest.fixture
def cropped(project):
    ec.auto_crops(project)
    return project


@pytest.fixture
def tagged(cropped):
    tg.tag_crops(cropped, ["1girl", "smile", "hat", "school_uniform", "long_hair"])
    pj.save(cropped)
    return cropped


def on_disk(project) -> pj.Project:
    return pj.load(project.root)


def state(project, crop: str, tag: str):
    t = next((t for t in on_disk(project).crop(crop).tags if t.tag == tag), None)
    return None if t is None else (t.kept, t.reason, t.override)


async def settle(pilot, group: str | None = None) -> None:
    await pilot.pause()
    for worker in [w for w in pilot.app.workers if group is None or w.group == group]:
        if group is not None:
            await worker.wait()
    await pilot.pause()


async def cursor_to(pilot, tag: str) -> None:
    """Move the checklist's cursor down (like a user) until it is on ``tag``; from the crop
    list (focused on entering the screen) enter goes into the crop's tags first."""
    checklist = pilot.app.screen.query_one(TagChecklist)
    if pilot.app.focused is pilot.app.screen.query_one("#crop-list"):
        await pilot.press("enter")
    assert checklist.has_focus
    for _ in range(checklist.option_count + 1):
        if checklist.highlighted_tag() == tag:
            return
        await pilot.press("down")
    raise AssertionError(f"{tag} is not in the checklist")


# --- repro 4: g applies the state the tag has on this crop -------------------------------

async def test_prune_then_apply_to_all_prunes_the_tag_on_every_crop(tagged):
    app = OneloraApp(tagged.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await cursor_to(pilot, "smile")
        await pilot.press("space", "g")
        await pilot.pause()
    for crop in on_disk(tagged).crops.items:
        assert state(tagged, crop.name, "smile")[0] is False, crop.name


# --- repro 5: hand-added traits and the caption step --------------------------------------

async def test_hand_added_traits_are_pruned_with_their_reason_and_space_keeps_one(tagged):
    app = OneloraApp(tagged.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        crop = app.screen.crop_name
        for tag in ("red_hair", "green_eyes", "blunt_bangs", "hair_bow"):
            await pilot.press("a")
            await pilot.pause()
            await pilot.press(*tag, "enter")
            await pilot.pause()
        assert state(tagged, crop, "red_hair") == (False, tg.HAIR_COLOUR, False)
        assert state(tagged, crop, "green_eyes") == (False, tg.EYE_COLOUR, False)
        assert state(tagged, crop, "blunt_bangs") == (False, tg.HAIR_STYLE, False)
        assert state(tagged, crop, "hair_bow") == (True, "added by you", False)
        await cursor_to(pilot, "red_hair")
        await pilot.press("space")  # the user keeps this one: a hand decision
        await pilot.pause()
        assert state(tagged, crop, "red_hair") == (True, "kept by you", True)


async def test_caption_step_pastes_the_image_tags_and_prunes_traits_on_every_crop(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        hint = app.screen.query_one("#caption-hint")
        assert hint.has_class("-shown") and "press C" in str(hint.render())
        await pilot.press("C")
        await pilot.pause()
        await pilot.press(*"1girl, red hair, long hair, full body, smile, school uniform")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not app.screen.query_one("#caption-hint").has_class("-shown")
    saved = on_disk(cropped)
    assert saved.tags.image_tags[:2] == ["1girl", "red_hair"]
    for crop in saved.crops.items:
        got = {t.tag: (t.kept, t.reason) for t in crop.tags}
        assert got["red_hair"] == (False, tg.HAIR_COLOUR), crop.name
        assert got["long_hair"] == (False, tg.HAIR_LENGTH), crop.name
    # repro 10: the face close-up does not say full body
    face = saved.crop("face")
    assert state(cropped, "face", "full_body")[0] is False
    assert "full body" not in tg.caption(saved, face)
    assert "close-up" in tg.caption(saved, face)


async def test_caption_step_runs_the_wd14_tagger_off_the_event_loop(cropped, tmp_path,
                                                                      monkeypatch):
    import threading

    from engine import tagger

    pytest.importorskip("onnxruntime")
    onnx_test = pytest.importorskip("test_tagger_onnx")
    onnx_test.build_wd14_like(tmp_path / "wd14")
    threads = []
    real = tagger.tag_crops_with_tagger

    def spy(project, model_dir=None):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(project, model_dir)

    monkeypatch.setattr(tagger, "tag_crops_with_tagger", spy)
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("C")
        await pilot.pause()
        await pilot.press("tab")  # to the tagger folder
        field = app.screen.query_one("#caption-tagger", Input)
        assert field.has_focus
        await pilot.press(*str(tmp_path / "wd14"), "ctrl+s")
        await settle(pilot, "tagger")
        await pilot.pause(0.3)
    assert threads == [False]  # ran once, not on the event loop's thread
    saved = on_disk(cropped)
    assert saved.tags.tagger_model == str(tmp_path / "wd14")
    tagger_tags = {t.tag: (t.kept, t.reason) for c in saved.crops.items for t in c.tags
                   if t.source == "tagger"}
    assert tagger_tags, "the tagger's tags reached the crops"
    for name, (kept, reason) in tagger_tags.items():
        if name.endswith("_hair"):  # blue_hair / red_hair: traits, pruned
            assert (kept, reason) == (False, tg.HAIR_COLOUR)


# --- repro 6/7: keys vs text ---------------------------------------------------------------

async def test_every_screen_opens_with_focus_off_text_fields(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        for *_, digit, _ in MODE_TABLE:
            await pilot.press(digit)
            await pilot.pause(0.2)
            assert app.focused is not None and not is_text_field(app.focused), \
                (digit, app.focused)


async def test_settings_open_on_the_form_so_a_digit_switches_screen_not_the_name(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        await pilot.press("2")
        await pilot.pause(0.2)
        assert app.current_mode == "tags"
    assert on_disk(cropped).train.output_name == ""


async def test_reg_form_one_shift_tab_too_many_then_typing_never_reaches_the_crops(cropped):
    source = cropped.root / cropped.source.image
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    before = on_disk(cropped)
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause(0.2)
        await pilot.press("tab", "shift+tab", "shift+tab")
        await pilot.press(*"1girl, clothes, indoors, 4")
        await pilot.pause(0.3)
        assert app.current_mode == "reg"
        assert is_text_field(app.focused)
        await pilot.press("escape")  # leaves the field for the form itself
        assert app.focused is not None and not is_text_field(app.focused)
    after = on_disk(cropped)
    assert [(c.name, c.box) for c in after.crops.items] == \
        [(c.name, c.box) for c in before.crops.items]
    assert after.prep == before.prep
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest


async def test_tab_to_epochs_and_a_digit_replaces_the_value(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        # output_name, model, network_dim, network_alpha, conv_dim, conv_alpha,
        # train_text_encoder, epochs
        await pilot.press(*["tab"] * 8, "3")
        await pilot.pause()
        assert app.focused.id == "train--epochs"
    assert on_disk(cropped).train.epochs == 3


async def test_reg_form_tab_replaces_too(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause(0.2)
        await pilot.press("tab", "tab", "tab", "8")  # prompt, negative, count
        await pilot.pause()
    assert on_disk(cropped).reg.count == 8


async def test_keys_typed_right_after_tab_land_in_the_next_field(cropped):
    """A burst (keys queued before the app handles the first): the focus moves with the Tab."""
    from textual import events

    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        for _ in range(8):
            app.post_message(events.Key("tab", None))
        app.post_message(events.Key("4", "4"))
        await pilot.pause(0.3)
    saved = on_disk(cropped)
    assert saved.train.epochs == 4
    assert (saved.train.output_name, saved.train.network_dim) == ("", 16)


# --- repro 8: prompts one per line ------------------------------------------------------------

async def test_sample_prompts_keep_their_commas_one_prompt_per_line(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        for _ in range(80):  # tab through the form to the prompts
            await pilot.press("tab")
            if app.focused is not None and app.focused.id == "samples--prompts":
                break
        await pilot.press(*"trigger, girl, school uniform", "enter", *"zq_tester, smile")
        await pilot.pause()
    assert on_disk(cropped).samples.prompts == ["trigger, girl, school uniform",
                                                "zq_tester, smile"]


# --- repro 9: a second run asks first; ctrl+r is not "start" ------------------------------

async def test_second_training_run_asks_first_and_ctrl_r_starts_nothing(cropped):
    engine = FakeEngine()
    cropped.train.optimizer = "AdamW"
    pj.save(cropped)
    app = OneloraApp(cropped.root, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+r", "ctrl+r")
        await settle(pilot, "run-start")
        assert engine.started == []
        await pilot.press("ctrl+g")
        await settle(pilot, "run-start")
        assert engine.started == [("train", False)]
        await pilot.press("ctrl+g")
        await settle(pilot, "run-start")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert engine.started == [("train", False)]
        await pilot.press("ctrl+g")
        await settle(pilot, "run-start")
        await pilot.press("y")
        await pilot.pause()
        assert engine.started == [("train", False), ("train", True)]
    trains = [r for r in runs.list_runs(cropped.root) if r.kind == "train"]
    assert len(trains) == 2


async def test_reg_generate_by_single_key_asks_first(cropped):
    engine = FakeEngine()
    app = OneloraApp(cropped.root, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause(0.2)
        await pilot.press("g")
        await settle(pilot, "reg-start")
        assert isinstance(app.screen, ConfirmScreen) and engine.started == []
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("ctrl+g")
        await settle(pilot, "reg-start")
        assert engine.started == [("reg", False)]
        await pilot.press("ctrl+g")  # one is generating: asks before a second one
        await settle(pilot, "reg-start")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert engine.started == [("reg", False), ("reg", True)]


# --- tags undo: operations on tags only -----------------------------------------------------

async def test_tags_undo_restores_the_tag_and_nothing_else(tagged):
    app = OneloraApp(tagged.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        crop = app.screen.crop_name
        await cursor_to(pilot, "smile")
        await pilot.press("space")
        await pilot.pause()
        assert state(tagged, crop, "smile")[0] is False
        # meanwhile another screen (or the CLI) moves a crop and captions another tag
        app.project.crop("face").box = [1, 2, 30, 30]
        tg.edit_tag(app.project, "add", "hat_bow", "face")
        app.save_project()
        await pilot.press("u")
        await pilot.pause()
        assert state(tagged, crop, "smile")[0] is True
        saved = on_disk(tagged)
        assert saved.crop("face").box == [1, 2, 30, 30]
        assert state(tagged, "face", "hat_bow") is not None
        await pilot.press("U")
        await pilot.pause()
        assert state(tagged, crop, "smile")[0] is False


# --- framing tags follow the crop --------------------------------------------------------------

def test_face_crop_from_cli_tags_gets_no_full_body(cropped):
    tg.tag_crops(cropped, ["1girl", "full body", "smile"])
    face = cropped.crop("face")
    assert "full body" not in tg.caption(cropped, face)
    full = cropped.crop("full_body")
    assert "full body" in tg.caption(cropped, full)


# --- rest of repro 11: samples arrows after z z, picker, messages ---------------------------

async def test_samples_arrows_still_move_after_image_alone_twice(project):
    from test_tui_samples_grid import sampled_run, shown_colour

    sampled_run(project)
    app = OneloraApp(project.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause(0.3)
        first = shown_colour(app)
        await pilot.press("z")  # the image alone: the table is hidden, arrows still move
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
        second = shown_colour(app)
        assert second != first
        await pilot.press("z")  # the table again, with the focus
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
        assert shown_colour(app) not in (first, second)
        await pilot.press("enter")  # picks the epoch under the cursor: the third one
        await pilot.pause()
    assert on_disk(project).samples.picked_epoch == 3


async def test_picker_makes_a_new_project_from_an_image_and_escape_never_quits(
        tmp_path, small_image, monkeypatch):
    from tui.screens.picker import NewProjectScreen, PickerScreen

    monkeypatch.chdir(tmp_path)
    app = OneloraApp(None, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, PickerScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NewProjectScreen)
        await pilot.press(*str(small_image), "tab", *str(tmp_path / "mira"), "tab",
                          *"zq_mira", "enter")
        await settle(pilot, "new-project")
        await pilot.pause(0.3)
        assert app.project is not None and app.current_mode == "crops"
    saved = pj.load(tmp_path / "mira")
    assert (saved.trigger, saved.class_name) == ("zq_mira", "girl")
    assert Path(saved.source.original) == small_image.resolve()


async def test_a_stopped_run_says_the_resume_key_not_the_cli_flag(cropped):
    from engine.events import EventWriter
    from test_tui_train_dashboard import fake_run

    run_dir = fake_run(cropped, alive=False)
    with EventWriter(run_dir) as w:
        w.emit("started", total_steps=100, epochs=10, steps_per_epoch=10, device="cpu",
               precision="no")
        # what the training loop writes when the user stops a run
        w.emit("stopped", reason="stopped by the user; resume with --resume " + run_dir.name)
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        for _ in range(20):
            await pilot.pause(0.1)
            if app.screen.snapshot.get("status") == "stopped":
                break
        end = str(app.screen.query_one("#dash-end").render())
        assert "STOPPED" in end and "--resume" not in end and "resume with u" in end
        # found in a walk: the event list under it still quoted the flag (and cut the id)
        recent = str(app.screen.query_one("#dash-events").render())
        assert "STOPPED" in recent and "--resume" not in recent and "resume with u" in recent


def test_engine_advice_is_put_in_tui_terms():
    from tui.wording import in_tui_terms

    assert in_tui_terms("resume it (onelora train DIR --resume RUN) or look at worker.log") == \
        "resume it (u on the training dashboard) or look at worker.log"
    assert in_tui_terms("stopped by the user; resume with --resume 20250101-x") == \
        "stopped by the user; resume with u"
    assert "--" not in in_tui_terms("tag 'boots' is not on crop 'face'; add it with --add boots")
    assert "--force" not in in_tui_terms("/x is not empty; choose a new folder or pass --force "
                                         "to reuse it")


async def test_a_crop_moved_on_the_crops_screen_gets_framing_for_what_it_now_shows(tagged):
    app = OneloraApp(tagged.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # the "face" crop stretched over the whole figure (as the crops screen would save it)
        app.project.crop("face").box = list(app.project.crop("full_body").box)
        app.save_project()
        await pilot.press("2")
        await pilot.pause()
    face = {t.tag: t.kept for t in on_disk(tagged).crop("face").tags if t.source == "crop"}
    assert face == {"full_body": True}
    assert "close-up" not in tg.caption(on_disk(tagged), on_disk(tagged).crop("face"))


async def test_trigger_advice_is_shown_whole_at_80_columns(tagged):
    tagged.trigger = "hat"  # a Danbooru tag: the screen warns
    pj.save(tagged)
    app = OneloraApp(tagged.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        hint = app.screen.query_one("#caption-hint")
        advice = tg.trigger_warnings(tagged)[0]
        assert hint.has_class("-shown") and hint.size.width <= 80
        shown = " ".join(line.strip() for line in str(hint.render()).splitlines())
        assert advice in shown  # wrapped, not cut
        assert hint.size.height >= 2


async def test_escape_leaves_a_settings_field_and_digits_switch_screens_again(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        await pilot.press("tab", "x", "escape")  # output_name, typed, left
        assert app.focused.id == "form-scroll"  # the form itself: keys are commands again
        await pilot.press("2")
        await pilot.pause(0.2)
        assert app.current_mode == "tags"
    assert on_disk(cropped).train.output_name == "x"


async def test_every_notification_of_the_app_names_keys_not_cli_flags(cropped):
    app = OneloraApp(cropped.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.notify("short side 300 px < 512: upscale the source (onelora prep DIR --upscale 1024)")
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert shown and "--upscale" not in shown[-1] and "e on the crops screen" in shown[-1]


async def test_captions_made_in_the_tui_reach_the_run_config(cropped):
    """Caption (C) → keep one trait by hand → training (4) → start (ctrl+g): the run's frozen
    config holds the captions the user made."""
    engine = FakeEngine()
    cropped.train.optimizer = "AdamW"
    pj.save(cropped)
    app = OneloraApp(cropped.root, engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("C")
        await pilot.pause()
        await pilot.press(*"1girl, red hair, long hair, full body, school uniform", "ctrl+s")
        await settle(pilot)
        crop = app.screen.crop_name
        await cursor_to(pilot, "red_hair")
        await pilot.press("space")  # this trait is kept on this crop
        await pilot.pause()
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("ctrl+g")
        await settle(pilot, "run-start")
        assert engine.started == [("train", False)]
    run_dir = [r for r in runs.list_runs(cropped.root) if r.kind == "train"][-1].path
    frozen = pj.project_from_dict(runs.read_config(run_dir), cropped.root)
    caps = {c.name: tg.caption(frozen, c) for c in frozen.crops.items}
    assert "red hair" in caps[crop] and "school uniform" in caps[crop]
    assert all("long hair" not in c for c in caps.values())
    assert "full body" not in caps["face"] and "close-up" in caps["face"]
    assert all("red hair" not in c for n, c in caps.items() if n != crop)


async def test_a_key_typed_right_after_tab_on_the_tags_screen_goes_to_the_new_field(tagged):
    from textual import events
    from textual.widgets import OptionList

    before = [(c.name, [(t.tag, t.kept) for t in c.tags]) for c in on_disk(tagged).crops.items]
    app = OneloraApp(tagged.root, engine=FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("enter")  # from the crop list into the tags
        assert isinstance(app.focused, TagChecklist)
        crops = app.screen.query_one("#crop-list", OptionList)
        tags_at, crop_at = app.focused.highlighted, crops.highlighted
        # a burst: tab (to the crop list) then down, queued before the app reads the tab
        app.post_message(events.Key("tab", None))
        app.post_message(events.Key("down", None))
        await pilot.pause(0.3)
        assert app.focused is crops and crops.highlighted == crop_at + 1
        assert app.screen.query_one(TagChecklist).highlighted == tags_at or \
            app.screen.crop_name != before[crop_at][0]  # the list shows the next crop's tags
    after = [(c.name, [(t.tag, t.kept) for t in c.tags]) for c in on_disk(tagged).crops.items]
    assert after == before  # nothing changed on disk
