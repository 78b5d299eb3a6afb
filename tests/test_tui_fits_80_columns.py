"""At 80×24 (a user over SSH) the essential part of each message is on screen: the number,
the file, what to do.  Each test reads the composed screen rows (tests/screen_text.py), not a
widget's own text, so a word cut by a container, a scrollbar or a one-row slot fails it."""

from __future__ import annotations

from textual.widgets import Input

from engine import project as pj
from engine import tags as tg
from screen_text import joined, rows_with, screen_lines
from tui.screens.tags import TagsScreen
from tui.widgets.tag_checklist import TagChecklist
from tui_host import ScreenHost

SIZE = (80, 24)

MANY_TAGS = ["1girl", "solo", "standing", "looking_at_viewer", "closed_mouth", "white_headwear",
             "hat_bow", "green_bow", "white_capelet", "striped", "black_corset", "long_skirt",
             "white_skirt", "long_sleeves", "wrist_cuffs", "boots", "simple_background",
             "white_background", "brown_hair", "long_hair", "blue_eyes", "blunt_bangs"]


async def test_tags_pruned_header_shows_its_count_beside_the_scrollbar(project):
    """Walk: the list of a crop with many tags has a scrollbar; the pruned header read
    "── pruned — left to the trigger · space keeps" and its "(4)" was under the scrollbar."""
    project.crops.items = [pj.Crop(name="full_body", box=[0, 0, 96, 160], preset="full_body")]
    tg.tag_crops(project, MANY_TAGS)
    pj.save(project)
    crop = project.crop("full_body")
    kept = sum(1 for t in crop.tags if t.kept and t.source != "crop")
    pruned = sum(1 for t in crop.tags if not t.kept)
    assert pruned >= 3
    app = ScreenHost(project, TagsScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        checklist = app.screen.query_one(TagChecklist)
        checklist.focus()
        await pilot.press("end")
        await pilot.pause()
        assert checklist.max_scroll_y > 0  # the list scrolls: a scrollbar narrows it
        assert rows_with(app, f"pruned ({pruned})"), screen_lines(app)
        checklist.scroll_home(animate=False)
        await pilot.pause()
        assert rows_with(app, f"kept ({kept})"), "\n".join(screen_lines(app))


async def test_train_settings_refused_value_shows_its_limit_at_80_columns(project):
    """Walk: epochs 0 showed "too small: the minimum" beside the field; "is 1" was on a
    second row the one-row slot hides.  Now the slot says the limit and the help line under
    the form gives the whole refusal while the field has focus."""
    from test_tui_train_dashboard import FakeEngine
    from test_tui_train_dashboard import Host as TrainHost
    from tui.widgets.settings_form import SettingsForm

    app = TrainHost(project, FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        form = app.screen.query_one(SettingsForm)
        epochs = form.query_one("#train--epochs", Input)
        epochs.focus()
        await pilot.press("ctrl+u", "0")
        await pilot.pause()
        assert pj.load(project.root).train.epochs == project.train.epochs != 0
        row = next(r for r in screen_lines(app) if r.lstrip().startswith("epochs "))
        assert "min 1" in row, row
        assert "✗ epochs: too small: the minimum is 1" in joined(app), screen_lines(app)
        await pilot.press("ctrl+u", "x")
        await pilot.pause()
        row = next(r for r in screen_lines(app) if r.lstrip().startswith("epochs "))
        assert "use a whole number" in row, row
        await pilot.press("ctrl+u", "4")
        await pilot.pause()
        assert pj.load(project.root).train.epochs == 4
        assert "epochs: Number of" in joined(app)  # the help line is the docstring again
        # a name refused with a reason: the slot starts with the reason, not the setting's
        # name and value ("train.output_name = 'a/…" was all it showed)
        form.query_one("#train--output_name", Input).focus()
        await pilot.press("ctrl+u", "a", "/", "b")
        await pilot.pause()
        row = next(r for r in screen_lines(app) if r.lstrip().startswith("output_name "))
        assert "contains '/'" in row, row
        assert "✗ output_name: not allowed (it contains '/')" in joined(app), screen_lines(app)


async def test_dashboard_log_shows_the_model_note_whole_at_80_columns(project):
    """Walk (short builtin:tiny run): the event list cut the started line after
    "builtin:tiny — a pipeline check, not a bas…"; the list now wraps each event under its
    text and keeps the newest whole events."""
    from engine.events import EventWriter
    from engine.model_files import TINY_LABEL
    from test_tui_train_dashboard import FakeEngine, fake_run, wait_for, write_steps
    from test_tui_train_dashboard import Host as TrainHost

    run_dir = fake_run(project)
    w = EventWriter(run_dir)
    w.emit("started", total_steps=240, epochs=3, steps_per_epoch=80, device="cpu",
           precision="fp32", model="builtin:tiny", model_label=TINY_LABEL,
           latents="cached (8 colour variants per crop)")
    write_steps(w, 1, 3, total=240)
    app = TrainHost(project, FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.snapshot.get("step") == 3)
        await pilot.pause()
        text = joined(app)
        assert f"{TINY_LABEL}; cpu fp32; latents cached (8 colour variants per crop)" in text, \
            "\n".join(screen_lines(app))
        w.emit("epoch_end", epoch=1, step=80, loss=0.5)
        path = run_dir / "zq_tester-000001.safetensors"
        w.emit("checkpoint", epoch=1, step=80, path=str(path))
        await wait_for(pilot, lambda: "saved" in "".join(screen.snapshot.get("recent", [])))
        await pilot.pause()
        text = joined(app)
        assert "saved zq_tester-000001.safetensors" in text
        assert "epoch 1 done at step 80" in text
    w.close()


def test_dashboard_log_keeps_the_newest_whole_events_in_its_rows():
    from tui.widgets.event_log import fit_events

    lines = ["12:00:00 epoch 1 done", "12:00:01 " + "word " * 12, "12:00:02 saved a.safetensors"]
    rows = fit_events(lines, 40, 3)
    assert rows[-1] == "12:00:02 saved a.safetensors"
    assert rows[0].startswith("12:00:01 word") and rows[1].startswith(" " * 9 + "word")
    assert len(rows) == 3 and "epoch 1 done" not in " ".join(rows)  # no room for a part of it
    assert fit_events(lines, 40, 4)[0] == "12:00:00 epoch 1 done"
    alone = fit_events(["12:00:00 " + "x" * 200], 40, 2)
    assert len(alone) == 2 and alone[-1].endswith("…")


async def test_reg_prompt_fields_show_their_start_after_editing_and_reopening(project):
    """Walk: after Tab had passed through the prompt fields, they stayed scrolled to their
    end ("lo, clothes, __expression__, …"), also when the Reg screen was opened again, so the
    start of each prompt was not visible."""
    from textual.screen import Screen

    from tui.screens.reg import RegScreen

    prompt = "1woman, solo, clothes, __expression__, __camera__, {indoors|outdoors}, detailed"
    negative = ("duplicated, disfigured, deformed, poorly drawn, low quality, watermark, "
                "username, blurry")
    project.reg.prompt, project.reg.negative = prompt, negative
    pj.save(project)
    app = ScreenHost(project, RegScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        reg = app.screen

        def row(label: str) -> str:
            return next(r for r in screen_lines(app) if r.lstrip().startswith(label + " "))

        assert "1woman, solo" in row("prompt") and "duplicated, dis" in row("negative")
        await pilot.press("tab")  # into the prompt: selected whole, showing its start
        await pilot.pause()
        field = reg.query_one("#reg-prompt", Input)
        assert reg.focused is field and field.selected_text == prompt
        assert "1woman, solo" in row("prompt"), row("prompt")
        await pilot.press("tab", "tab", "escape")  # through negative and count, then out
        await pilot.pause()
        assert "1woman, solo" in row("prompt"), row("prompt")
        assert "duplicated, dis" in row("negative"), row("negative")
        await pilot.press("tab")
        await pilot.pause()
        await app.push_screen(Screen())  # another screen, then back to Reg with a field focused
        await pilot.pause()
        app.pop_screen()
        await pilot.pause()
        assert app.screen is reg
        assert "duplicated, dis" in row("negative"), row("negative")
        assert "1woman, solo" in row("prompt"), row("prompt")
        assert pj.load(project.root).reg.prompt == prompt  # nothing was typed over
        await pilot.press("end", "x")  # End still goes to the end to add to the prompt
        await pilot.pause()
        assert pj.load(project.root).reg.prompt == prompt + "x"
        await pilot.press("tab", "shift+tab", *"a dress")  # typing replaces the whole value
        await pilot.pause()
        assert pj.load(project.root).reg.prompt == "a dress"


async def test_save_preset_dialog_says_how_to_cancel_at_80_columns():
    """Walk: ctrl+s on the settings read "Save the training settings as preset (enter to
    save, esc" — the rest of the question was cut at the dialog's width."""
    from textual.app import App

    from tui.widgets.train_dialogs import PickScreen, PresetNameScreen

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(PresetNameScreen())

    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "(enter to save, esc to cancel):" in joined(app), screen_lines(app)
        app.pop_screen()
        title = "Attach to run (enter), esc to cancel — the newest run of this project is first"
        app.push_screen(PickScreen(title, [("a", "20261127-205137-train finished")]))
        await pilot.pause()
        assert title in joined(app), screen_lines(app)


async def test_grow_shows_the_run_progress_and_the_whole_prompt_at_80_columns(project):
    """Walk: the counts line wrapped ("… kept ones train as / 2_zq_tester girl grown") and
    pushed the run's progress line out of the 2-row head, so a drawing run showed no progress;
    a candidate's caption showed 2 rows of its prompt and hid its end (the view, pose and
    expression that tell candidates apart)."""
    import os

    from engine import events, runs
    from test_tui_grow_screen import FakeEngine, planted
    from tui.screens.grow import GrowScreen

    planted(project)
    tail = "from above, leaning forward, embarrassed, portrait"
    long = ("zq_tester, girl, 1girl, solo, standing, looking at viewer, closed mouth, white "
            "headwear, hat bow, green bow, white capelet, striped, black corset, long skirt, "
            f"white skirt, long sleeves, wrist cuffs, boots, simple background, {tail}")
    from engine import candidates as cd
    cd.candidate_path(project, 1).with_suffix(".txt").write_text(long + "\n")
    run_dir = runs.start_run(project, "grow", detach=False, first=5, txt2img=8, img2img=8)
    (run_dir / "pid").write_text(str(os.getpid()))
    with events.EventWriter(run_dir) as w:
        w.emit("started", total_steps=16, job="grow", unit="image")
        w.emit("progress", step=3, total_steps=16)
    app = ScreenHost(project, GrowScreen, FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert rows_with(app, "3/16") and rows_with(app, "running"), "\n".join(screen_lines(app))
        assert tail in joined(app), "\n".join(screen_lines(app))


async def test_samples_head_shows_the_whole_prompt_at_80_columns(project):
    """Walk: prompts 2-4 of a run (the crops' captions) all read "d3mochar, girl, 1girl, solo,
    standing, looking at viewer, closed mouth, white" — the 2-row head cut each prompt before
    the framing tag that tells them apart."""
    import numpy as np
    from PIL import Image
    from safetensors.numpy import save_file

    from engine import epochs as ep
    from engine import events, overfit, runs
    from tui.screens.samples import SamplesScreen

    ends = ("upper body", "cowboy shot", "full body")
    prompts = [("zq_tester, girl, 1girl, solo, standing, looking at viewer, closed mouth, white "
                "headwear, hat bow, green bow, white capelet, striped, black corset, long skirt, "
                f"white skirt, long sleeves, wrist cuffs, simple background, {end}")
               for end in ends]
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    with events.EventWriter(run_dir) as w:
        path = run_dir / "zq_tester-000001.safetensors"
        save_file({"lora_unet_x.lora_down.weight": np.ones((2, 2), np.float32)}, str(path),
                  metadata={"ss_epoch": "1"})
        w.emit("checkpoint", epoch=1, path=str(path))
        recs = []
        for i, prompt in enumerate(prompts):
            f = ep.epoch_dir(run_dir, 1) / ep.sample_file_name(i, 1, 1.0)
            f.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (i * 60, 90, 90)).save(f)
            recs.append(ep.SampleRecord(epoch=1, weight=1.0, prompt_index=i, prompt=prompt,
                                        seed=1, file=str(f.relative_to(run_dir))))
        ep.write_index(run_dir, 1, recs)
    overfit.write(run_dir, [])
    app = ScreenHost(project, SamplesScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for end in ends:
            assert f"simple background, {end}" in joined(app), "\n".join(screen_lines(app))
            assert "epoch 1 · weight 1 · seed 1" in joined(app)
            await pilot.press("]")
            await pilot.pause()


async def test_reg_gallery_shows_a_long_caption_whole(project):
    """A reg image's caption (the prompt that made it) longer than one row was cut after its
    first row under the image: the 2-row caption also holds the "1/3 0000.png · kept" line."""
    from test_tui_reg_screen import planted_images
    from tui.screens.reg import RegScreen

    planted_images(project)
    from engine import reg as rg
    end = "detailed background, from side, looking back, smiling, holding umbrella"
    long = f"1woman, solo, clothes, light smile, cowboy shot, outdoors, rain, {end}"
    (rg.reg_folder(project) / "0000.txt").write_text(long + "\n")
    app = ScreenHost(project, RegScreen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")  # the gallery
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert rows_with(app, "1/3 0000.png"), "\n".join(screen_lines(app))
        assert end in joined(app), "\n".join(screen_lines(app))
