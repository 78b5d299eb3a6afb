"""Source & crops: prepare the one drawing, then cut the close-ups that become the dataset.

The image is drawn as half-block cells (works over SSH and in tmux), rendered once per view
and cached; crop rectangles, the face box and stray-pixel markers are overlays, so moving a
crop redraws in a few milliseconds.  Everything is keyboard driven and every change is saved
to project.toml (through the app's project store) — there is no save key; rapid changes (a
held arrow key) are drawn at once and written a few times a second (App.save_project_soon),
and flushed on a screen switch, a run start and quit.  Undo/redo (tui.crop_history) are
operations on what this screen owns — boxes, crops, prep steps — never a snapshot, so tags
and other screens' edits survive an undo.  Prep steps (upscale, fix stray pixels, flatten
background) run in a thread worker that reports progress with typed messages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from engine import crops as ec
from engine.errors import UserError
from engine.settings import to_dict
from tui import busy_keys, crop_history as ch
from tui import prep_steps
from tui.messages import ProjectChanged, TaskFailed, TaskFinished, TaskProgress
from tui.widgets.paging import SafePaging
from tui.widgets.preset_picker import PRESET_KEYS, PresetPicker
from tui.widgets import box_edit
from tui.widgets.cells import Overlay
from tui.widgets.crop_info import FACE, info_text, status_text
from tui.widgets.crop_rename import RENAME_KEY, RenameCrop
from tui.widgets.image_view import ImageView
from tui.widgets.key_footer import KeyFooter



@dataclass
class Loaded:
    """Result of the image-loading worker."""

    image: object
    artifacts: list
    error: str = ""


def _hex(color: str, fallback: tuple[int, int, int]) -> tuple[int, int, int]:
    try:
        c = color.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except (ValueError, IndexError, AttributeError):
        return fallback


EDITING = frozenset({"move", "resize", "preset", "undo", "redo", "new_crop", "remove_crop",
                     "auto", "prep"})
"""Actions off while a prep step runs: its end replaces the crops (tui/busy_keys.py)."""


class CropsScreen(RenameCrop, Screen):
    """Prepare the source image and edit the crops, keyboard only."""

    HELP_TITLE = "Source & crops"
    HELP_TEXT = ("tab picks a crop (or the face box, which moves every preset with it); arrows/hjkl "
                 "move it, shift+arrows/HJKL resize it. Changes are saved at once.")
    PALETTE_GROUP = "crops"
    BINDINGS = [
        Binding("tab", "select(1)", "Next crop", show=False, id="crops-next"),
        Binding("shift+tab", "select(-1)", "Previous crop", show=False, id="crops-prev"),
        Binding("left,h", "move(-1, 0)", "Move left", show=False, id="crops-move-left"),
        Binding("right,l", "move(1, 0)", "Move right", show=False, id="crops-move-right"),
        Binding("up,k", "move(0, -1)", "Move up", show=False, id="crops-move-up"),
        Binding("down,j", "move(0, 1)", "Move down", show=False, id="crops-move-down"),
        Binding("shift+left,H", "resize(-1, 0)", "Narrower", show=False, id="crops-narrower"),
        Binding("shift+right,L", "resize(1, 0)", "Wider", show=False, id="crops-wider"),
        Binding("shift+up,K", "resize(0, -1)", "Shorter", show=False, id="crops-shorter"),
        Binding("shift+down,J", "resize(0, 1)", "Taller", show=False, id="crops-taller"),
        Binding("f", "toggle_fine", "Fine/coarse step", show=False, id="crops-step"),
        Binding("a", "toggle_aspect", "Aspect lock", show=False, id="crops-aspect"),
        Binding("p", "preset", "Preset", tooltip="apply a preset to the crop", id="crops-preset"),
        Binding("z", "zoom", "Zoom", tooltip="zoom into the crop", id="crops-zoom"),
        Binding("i", "inspect", "Pixel preview", show=False, id="crops-inspect"),
        Binding("v", "toggle_artifacts", "Stray pixels", show=False, id="crops-artifacts"),
        Binding("o", "toggle_others", "Show other crops", show=False, id="crops-others"),
        Binding("u", "undo", "Undo", id="crops-undo"),
        Binding("ctrl+r,U", "redo", "Redo", show=False, id="crops-redo"),
        Binding("n", "new_crop", "New custom crop", show=False, id="crops-new"),
        Binding("delete,x", "remove_crop", "Remove crop", show=False, id="crops-remove"),
        Binding(RENAME_KEY, "rename_crop", "Rename crop", show=False, priority=True, id="crops-rename"),
        Binding("A", "auto", "Auto crops (all presets)", show=False, id="crops-auto"),
        Binding("e", "prep('upscale')", "Upscale (2k/3k/4k)", show=False, id="prep-upscale"),
        Binding("X", "prep('fix')", "Fix stray pixels", show=False, id="prep-fix"),
        Binding("W", "prep('flatten')", "Flatten background", show=False, id="prep-flatten"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected = 0
        self.fine = False
        self.aspect_lock = False
        self.zoomed = False
        self.show_artifacts = True
        self.show_others = True
        self.busy = ""
        self.artifacts: list = []
        self.history = ch.History()
        self._prep_edit: ch.Edit | None = None
        self._list_labels: tuple = ()
        self._loaded_for: tuple | None = None
        self.refreshes = 0
        """How many times the screen redrew its state (tests check it settles when idle)."""

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("Source & crops", classes="screen-title", id="crops-title")
        with Horizontal(id="crops-body"):
            yield ImageView(id="crops-image")
            with Vertical(id="crops-side"):
                yield SafePaging(id="crop-list")
                yield Static("", id="crop-info")
        yield ProgressBar(total=1.0, show_eta=False, id="prep-progress")
        yield Static("", id="crop-status")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#crop-list", OptionList).can_focus = False
        self.view.focus()
        self.watch(self.app, "theme", self._theme_changed, init=False)
        self.load_image()

    def _theme_changed(self) -> None:
        self.view.invalidate()  # the background behind the image changed
        self.refresh_all()

    @property
    def view(self) -> ImageView:
        return self.query_one("#crops-image", ImageView)

    @property
    def project(self):
        return self.app.project

    def _image_inputs(self) -> tuple:
        p = self.project
        return (p.root, p.source.image, p.source.sha256, to_dict(p.prep)) if p else ()

    def on_project_changed(self, message: ProjectChanged) -> None:
        if message.reason == "external" and self.project is not None:
            # another program (or screen) changed project.toml: keep undo and the selection,
            # and load the image again only if what it is made from changed
            if self._image_inputs() != self._loaded_for:
                self.load_image()
            elif self.view.image is not None:
                self.refresh_all()
            return
        self.history.clear()
        self._prep_edit = None
        self.selected = 0
        self.load_image()

    # -- the image -----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="crops-load", exit_on_error=False)
    def load_image(self) -> Loaded:
        """Load (building if stale) the prepared image and find stray-colour islands."""
        from engine import images, upscale_job

        project = self.project
        if project is None:
            return Loaded(None, [], "no project open")
        self._loaded_for = self._image_inputs()
        try:
            image = upscale_job.load_prepared(project)  # a model upscale runs in its own process
            original = images.load_image(images.source_path(project)).image
            found = images.find_artifacts(original, max_pixels=project.prep.artifact_max_pixels,
                                          min_contrast=project.prep.artifact_min_contrast)
            sx, sy = image.width / original.width, image.height / original.height
            arts = [[int(a.box[0] * sx), int(a.box[1] * sy), max(1, int(a.box[2] * sx)),
                     max(1, int(a.box[3] * sy))] for a in found]
        except UserError as e:
            return Loaded(None, [], str(e))
        self.post_message(TaskFinished("load", Loaded(image, arts)))
        return Loaded(image, arts)

    def on_task_finished(self, message: TaskFinished) -> None:
        if message.task == "load":
            loaded: Loaded = message.result
            self.artifacts = loaded.artifacts
            self.view.set_image(loaded.image)
            self._ensure_crops()
            self.refresh_all()
        else:
            self._end_busy()
            edit, self._prep_edit = self._prep_edit, None
            if edit is not None and self.project is not None:
                size = getattr(message.result, "size", None)
                edit.after = ch.capture(self.project, tuple(size) if size else None)
                if edit.after != edit.before:
                    self.history.push(edit)
            self.notify(f"{message.text or message.task + ' done'} (u undoes)", timeout=4)
            self.load_image()

    def on_task_failed(self, message: TaskFailed) -> None:
        self._end_busy()
        if message.task != "load":
            self._prep_edit = None
        if message.task == "load":
            self.view.set_image(None, message.error)
        self.notify(message.error, title=message.task, severity="error", timeout=10)

    def on_task_progress(self, message: TaskProgress) -> None:
        bar = self.query_one("#prep-progress", ProgressBar)
        bar.update(progress=message.done)
        self.query_one("#crop-status", Static).update(f"{message.task}: {message.text}")

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        if event.state == WorkerState.ERROR:
            name = "load" if event.worker.group == "crops-load" else self.busy or "task"
            error = event.worker.error
            self.post_message(TaskFailed(name, f"{error.__class__.__name__}: {error}"
                                         if not isinstance(error, UserError) else str(error)))
        elif event.state == WorkerState.SUCCESS and event.worker.group == "crops-load":
            result = event.worker.result
            if isinstance(result, Loaded) and result.error:
                self.post_message(TaskFailed("load", result.error))

    def _ensure_crops(self) -> None:
        """A project without crops gets the seven presets (saved at once)."""
        if self.project is not None and not self.project.crops.items:
            try:
                self._engine_auto()
            except UserError as e:
                self.notify(str(e), severity="warning")
                return
            self.app.save_project()

    # -- what is selected ----------------------------------------------------------------
    def items(self) -> list[str]:
        return [c.name for c in self.project.crops.items] + [FACE] if self.project else []

    def selected_name(self) -> str | None:
        items = self.items()
        if not items:
            return None
        self.selected %= len(items)
        return items[self.selected]

    def selected_box(self) -> list[int] | None:
        name = self.selected_name()
        if name is None:
            return None
        if name == FACE:
            return list(self.project.crops.face_box) or None
        return list(self.project.crop(name).box)

    def image_size(self) -> tuple[int, int]:
        img = self.view.image
        return (img.width, img.height) if img is not None else (1, 1)

    # -- drawing -------------------------------------------------------------------------
    def _colors(self) -> dict[str, tuple[int, int, int]]:
        theme = self.app.current_theme
        v = theme.variables
        return {"selected": _hex(v.get("crop-selected", theme.accent or ""), (255, 215, 95)),
                "crop": _hex(v.get("crop-other", theme.primary or ""), (95, 175, 215)),
                "artifact": _hex(v.get("artifact", theme.error or ""), (255, 95, 215))}

    def overlays(self) -> list[Overlay]:
        """The rectangles to draw: other crops, the face box, stray pixels, then the selection."""
        if self.project is None or self.view.image is None:
            return []
        colors = self._colors()
        sel = self.selected_name()
        out: list[Overlay] = []
        if self.show_others:
            for c in self.project.crops.items:
                if c.name != sel:
                    out.append(Overlay(tuple(c.box), colors["crop"], "crop"))
        if self.show_artifacts:
            out += [Overlay(tuple(b), colors["artifact"], "artifact") for b in self.artifacts]
        box = self.selected_box()
        if box:
            out.append(Overlay(tuple(box), colors["selected"], "selected", sel or ""))
        return out

    def refresh_all(self) -> None:
        """Update the view region, overlays, list, info and status after any change."""
        if self.project is None:
            return
        self.refreshes += 1
        box = self.selected_box()
        if self.zoomed and box:
            region = self.view.view_region
            if region is None or not box_edit.inside(box, region):
                self.view.set_region(box_edit.zoom_region(box, self.image_size()))
        else:
            self.view.set_region(None)
        self.view.set_overlays(self.overlays())
        self._refresh_list()
        self._refresh_info()

    def _refresh_list(self) -> None:
        """Rebuild the list only when its labels changed, and move its highlight without a
        highlight event: that event is for a user's click, and answering our own change
        with another refresh made an endless loop (issue 10, reproduction 2)."""
        olist = self.query_one("#crop-list", OptionList)
        labels = tuple((c.name, bool(ec.crop_warnings(c, side=self.project.train.resolution)))
                       for c in self.project.crops.items)
        with olist.prevent(OptionList.OptionHighlighted):
            if labels != self._list_labels or olist.option_count != len(labels) + 1:
                options = [Option(Text(f"{'⚠ ' if warn else '  '}{name}",
                                       style="bold" if warn else "", no_wrap=True,
                                       overflow="ellipsis")) for name, warn in labels]
                options.append(Option(Text(f"  ◎ {FACE}", style="italic")))
                olist.clear_options()
                olist.add_options(options)
                self._list_labels = labels
            index = self.selected % (len(labels) + 1)
            if olist.highlighted != index:
                olist.highlighted = index

    def _refresh_info(self) -> None:
        size = self.image_size()
        self.query_one("#crop-info", Static).update(
            info_text(self.project, self.selected_name(), self.selected_box(), size))
        self.query_one("#crop-status", Static).update(status_text(
            size, fine=self.fine, aspect_lock=self.aspect_lock, zoomed=self.zoomed,
            islands=len(self.artifacts), fixed=self.project.prep.fix_artifacts, busy=self.busy))

    # -- changes (each one undoable and saved) ---------------------------------------------
    def _save_soon(self) -> None:
        soon = getattr(self.app, "save_project_soon", None)
        if soon is not None:
            soon()
        else:  # a host app without coalescing
            self.app.save_project()

    def _change(self, apply) -> bool:
        """Run ``apply()`` as one undoable change; save soon; redraw. Errors are shown, not
        raised."""
        if self.project is None or self.view.image is None:
            return False
        before = ch.capture(self.project, self.image_size())
        objects = {c.name: c for c in self.project.crops.items}
        selected = self.selected_name()
        try:
            apply()
        except UserError as e:
            ch.apply(self.project, ch.capture(self.project), before, dict(objects))
            self.notify(str(e), severity="warning")
            return False
        after = ch.capture(self.project, self.image_size())
        if after == before:
            self.refresh_all()
            return False
        gone = {n: objects[n] for n in before.order if n not in after.crops}
        self.history.push(ch.Edit(before, after, gone, selected))
        self._save_soon()
        self.refresh_all()
        return True

    def _set_box(self, box: list[int]) -> None:
        name = self.selected_name()
        if name == FACE:
            self._engine_face(box)
        else:
            self._engine_set_crop(name, box)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in EDITING and self.busy:
            return None  # greyed in the footer; a press says why (on_key)
        return True

    def on_key(self, event) -> None:
        """While a prep step runs, an editing key says so instead of doing nothing."""
        if self.busy and busy_keys.refuse(self, event.key, self.busy, EDITING):
            event.stop()
            event.prevent_default()

    def action_select(self, delta: int) -> None:
        if self.items():
            self.selected = (self.selected + delta) % len(self.items())
            self.refresh_all()

    def _select_name(self, name: str | None) -> None:
        if name in self.items():
            self.selected = self.items().index(name)

    def _step(self) -> int:
        coarse, fine = box_edit.steps(self.image_size())
        return fine if self.fine else coarse

    def action_move(self, dx: int, dy: int) -> None:
        box = self.selected_box()
        if box:
            step = self._step()
            self._change(lambda: self._set_box(
                ec.move_box(box, dx * step, dy * step, self.image_size())))

    def action_resize(self, dw: int, dh: int) -> None:
        box = self.selected_box()
        if box:
            step = self._step()
            self._change(lambda: self._set_box(
                ec.resize_box(box, dw * step, dh * step, self.image_size(), self.aspect_lock)))

    def action_toggle_fine(self) -> None:
        self.fine = not self.fine
        self._refresh_info()

    def action_toggle_aspect(self) -> None:
        self.aspect_lock = not self.aspect_lock
        self._refresh_info()

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        if self.zoomed and self.selected_box():
            self.view.set_region(box_edit.zoom_region(self.selected_box(), self.image_size()))
        self.refresh_all()

    def action_inspect(self) -> None:
        """Pixel-exact preview (Kitty/Sixel) of the selection; half-block zoom otherwise."""
        box = self.selected_box()
        if box is None or self.view.image is None:
            return
        protocol = getattr(self.app, "graphics", "halfblock")
        if protocol not in ("kitty", "sixel"):
            self.notify("pixel preview needs Kitty or Sixel graphics (--graphics kitty|sixel); "
                        "showing the half-block zoom", timeout=4)
            if not self.zoomed:
                self.action_zoom()
            return
        from tui.widgets.pixel_preview import PixelPreview

        x, y, w, h = box
        name = self.selected_name()
        crop = next((c for c in self.app.project.crops.items if c.name == name), None)
        if crop is not None and crop.image:  # an imported crop is cut from its own image
            from engine.crops import crop_image

            pixels = crop_image(self.app.project, crop)
        else:
            pixels = self.view.image.crop((x, y, x + w, y + h))
        self.app.push_screen(PixelPreview(name or "crop", pixels, protocol))

    def action_toggle_artifacts(self) -> None:
        self.show_artifacts = not self.show_artifacts
        self.refresh_all()

    def action_toggle_others(self) -> None:
        self.show_others = not self.show_others
        self.refresh_all()

    def action_undo(self) -> None:
        """Undo the last change of this screen (a box, a crop added or removed, a prep step)."""
        edit = self.history.step_back(self.project, self.selected_name())
        self._restored(edit, "undone", edit.selected_before if edit else None)

    def action_redo(self) -> None:
        edit = self.history.step_forward(self.project)
        self._restored(edit, "redone", edit.selected_after if edit else None)

    def _restored(self, edit: ch.Edit | None, done: str, select: str | None) -> None:
        """After an undo or redo: select, save, redraw, and say what was undone/redone."""
        if edit is None:
            self.notify(f"nothing to {done.removesuffix('ne')}", timeout=2)
            return
        self._select_name(select)
        self._save_soon()
        self.refresh_all()
        again = "U redoes it" if done == "undone" else "u undoes it"
        self.notify(f"{done}: {ch.describe(edit)} ({again})", timeout=4)
        if edit.left_alone:
            self.notify(f"{', '.join(edit.left_alone)} changed elsewhere since: left as it is")
        if edit.before.prep != edit.after.prep:  # the prepared image follows the prep steps
            self.load_image()

    def action_preset(self) -> None:
        name = self.selected_name()
        if name is None or name == FACE:
            self.notify("select a crop first (tab); the face box has no preset", timeout=3)
            return

        def chosen(preset: str | None) -> None:
            if preset:
                self._change(lambda: self._engine_apply_preset(name, preset))

        self.app.push_screen(PresetPicker(), chosen)

    def action_new_crop(self) -> None:
        names = {c.name for c in self.project.crops.items}
        n = 1
        while f"custom_{n}" in names:
            n += 1
        w, h = self.image_size()
        box = ec.clamp_box([w // 3, h // 3, max(512, w // 4), max(512, w // 4)], (w, h))
        self._change(lambda: self._engine_set_crop(f"custom_{n}", box))
        self.selected = len(self.project.crops.items) - 1
        self.refresh_all()

    def action_remove_crop(self) -> None:
        name = self.selected_name()
        if name == FACE:
            self.notify("the face box cannot be removed: the presets are placed from it. Move "
                        "or resize it (arrows, shift+arrows), or tab to a crop to remove that "
                        "one", title="not removed", severity="warning", timeout=6)
        elif name and self._change(lambda: self._engine_remove(name)):
            self.notify(f"removed crop {name} (u brings it back with its tags)", timeout=4)

    def action_auto(self) -> None:
        self._change(self._engine_auto)
        self.notify("crops set from the presets (u undoes)", timeout=4)

    # -- engine calls ------------------------------------------------------------------------
    # The screen saves once per change itself (App.save_project), so engine calls use
    # save=False.
    def _engine_auto(self) -> None:
        ec.auto_crops(self.project, save=False)

    def _engine_face(self, box: list[int]) -> None:
        ec.set_face_box(self.project, box, save=False)

    def _engine_apply_preset(self, name: str, preset: str) -> None:
        """Give crop ``name`` the box of ``preset`` (from the figure and face boxes)."""
        cs = self.project.crops
        if len(cs.figure_box) != 4 or len(cs.face_box) != 4:
            ec.auto_crops(self.project, save=False)  # guesses the boxes
        crop = self.project.crop(name)
        crop.box = ec.preset_box(preset, cs.figure_box, cs.face_box, self.image_size())
        crop.preset = preset

    def _engine_set_crop(self, name: str, box: list[int]) -> None:
        crop = ec.find_crop(self.project, name)
        if crop is not None and crop.box == list(box):
            return
        ec.set_crop(self.project, name, box, save=False)

    def _engine_remove(self, name: str) -> None:
        ec.remove_crop(self.project, name, save=False)

    # -- prep steps in a worker -----------------------------------------------------------
    def action_prep(self, step: str) -> None:
        if self.project is None or self.busy:
            return
        label, kwargs = prep_steps.request(step, self.project.prep)  # e cycles 2k → 3k → 4k
        shown = self.image_size() if self.view.image is not None else None
        before = ch.capture(self.project, shown)
        self._prep_edit = ch.Edit(before, before, {}, self.selected_name())
        self.busy = label
        bar = self.query_one("#prep-progress", ProgressBar)
        bar.update(total=1.0, progress=0.0)
        bar.add_class("running")
        self._refresh_info()
        self.run_prep(label, kwargs)

    @work(thread=True, exclusive=True, group="crops-prep", exit_on_error=False)
    def run_prep(self, label: str, kwargs: dict) -> None:
        """Rebuild prepared.png with the new step; progress goes out as messages."""
        from engine import upscale_job

        started = time.monotonic()
        phases: list[str] = []

        def progress(text: str) -> None:
            phases.append(text)
            self.post_message(TaskProgress(label, min(0.9, len(phases) / 4), text))

        try:
            result = upscale_job.prepare(self.project, progress=progress, **kwargs)  # torch: own process
        except UserError as e:
            self.post_message(TaskFailed(label, str(e)))
            return
        took = time.monotonic() - started
        self.post_message(TaskProgress(label, 1.0, "done"))
        self.post_message(TaskFinished(label, result,
                                       f"{label}: {result.size[0]}×{result.size[1]}, "
                                       f"{len(result.artifacts)} islands, {result.fixed} fixed "
                                       f"({took:.1f} s)"))

    def _end_busy(self) -> None:
        self.busy = ""
        self.query_one("#prep-progress", ProgressBar).remove_class("running")
        if self.project is not None:
            self._refresh_info()

    # -- palette -------------------------------------------------------------------------
    def palette_commands(self):
        from tui.commands import binding_commands

        own = binding_commands(self)
        for key, preset in PRESET_KEYS:
            own.append((f"crops: apply preset {preset.replace('_', ' ')}", f"p then {key}",
                        lambda p=preset: self._apply_named_preset(p)))
        return own

    def _apply_named_preset(self, preset: str) -> None:
        name = self.selected_name()
        if name and name != FACE:
            self._change(lambda: self._engine_apply_preset(name, preset))

    @on(OptionList.OptionHighlighted, "#crop-list")
    def _list_moved(self, event: OptionList.OptionHighlighted) -> None:
        """A click in the list (our own highlight changes post no event)."""
        if event.option_index != self.selected % max(1, len(self.items())):
            self.selected = event.option_index
            self.refresh_all()
