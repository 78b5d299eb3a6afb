"""The regularization screen: settings, a preview of expanded prompts, generate/stop with
progress, and a keyboard gallery to prune what was generated.

Generation is a detached "reg" run (engine.sample.reg_worker in its own process); this
screen starts it through ``app.engine``, then follows the newest reg run's events for the
progress bar.  Pruning moves an image out of ``reg/`` (engine.reg.remove) so the export no
longer includes it; keep on a removed image brings it back.  No torch is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static, TabbedContent, TabPane

from engine import project as pj
from engine import reg as rg
from engine import wildcards as wc
from engine.errors import UserError
from tui.messages import ProjectChanged
from tui.widgets.image_view import ImageView

FIELDS = ("prompt", "negative", "count", "seed", "steps", "cfg", "width", "height", "repeats",
          "class_name", "prior_loss_weight")
PREVIEW = 5
LIVE = ("running", "paused", "starting")


@dataclass
class GalleryItem:
    """One generated image, kept (in reg/) or removed (in reg_removed/)."""

    path: Path
    removed: bool


def gallery_items(project: pj.Project) -> list[GalleryItem]:
    items = [GalleryItem(p, False) for p in rg.images(project)]
    gone = Path(project.root) / rg.REMOVED_DIR / rg.reg_folder(project).name
    if gone.is_dir():
        items += [GalleryItem(p, True) for p in gone.glob("*.png")]
    return sorted(items, key=lambda i: i.path.name)


def field_text(value) -> str:
    """How a reg setting is shown in its field."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def progress_bar(done: int, total: int, width: int = 24) -> str:
    if total <= 0:
        return "░" * width
    filled = min(width, int(width * done / total))
    return "█" * filled + "░" * (width - filled)


class RegScreen(Screen):
    """Regularization images: generic pictures of the class that keep the LoRA flexible."""

    HELP_TITLE = "Regularization"
    HELP = ("Settings: the class prompt uses {a|b} variants and __name__ wildcard files from "
            "DIR/wildcards/; the preview shows the first prompts. ctrl+g (or g) generates in "
            "the background, ctrl+n (or x) stops. ctrl+o (or v) switches to the gallery: "
            "←/→ (p/n) move, d removes an image from the set, k keeps it (or brings a removed "
            "one back). Remove anything overly complex or too close to your character.")
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate", priority=True, id="reg-generate"),
        Binding("g", "generate", "Generate", show=False, id="reg-generate-key"),
        Binding("ctrl+n", "stop", "Stop", priority=True, show=False, id="reg-stop"),
        Binding("x", "stop", "Stop", show=False, id="reg-stop-key"),
        Binding("ctrl+o", "toggle_view", "Gallery", priority=True, id="reg-view",
                tooltip="switch between the settings and the gallery"),
        Binding("v", "toggle_view", "Gallery/settings", show=False, id="reg-view-key"),
        Binding("right,n", "move(1)", "Next", show=False, id="reg-next"),
        Binding("left,p", "move(-1)", "Prev", show=False, id="reg-prev"),
        Binding("d,delete", "remove", "Remove", show=False, id="reg-remove"),
        Binding("k", "keep", "Keep", show=False, id="reg-keep"),
    ]
    DEFAULT_CSS = """
    RegScreen #reg-head { height: 2; padding: 0 1; }
    RegScreen TabbedContent { height: 1fr; }
    RegScreen .reg-row { height: 1; }
    RegScreen .reg-row Label { width: 18; padding: 0 1; }
    RegScreen .reg-row Input { width: 1fr; height: 1; border: none; padding: 0 1; }
    RegScreen #reg-form { height: 1fr; }
    RegScreen #reg-status { height: auto; max-height: 2; padding: 0 1; color: $success; }
    RegScreen #reg-status.-bad { background: $error; color: $text; }
    RegScreen #reg-preview { height: auto; max-height: 7; padding: 0 1; color: $text-muted; }
    RegScreen ImageView { height: 1fr; }
    RegScreen #reg-caption { height: 2; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.items: list[GalleryItem] = []
        self.pos = 0
        self.run_dir: Path | None = None
        self.run_status = ""
        self._last_step = -1

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("", id="reg-head")
        with TabbedContent(id="reg-tabs", initial="reg-settings"):
            with TabPane("Settings", id="reg-settings"):
                with VerticalScroll(id="reg-form"):
                    for name in FIELDS:
                        with Horizontal(classes="reg-row"):
                            yield Label(name.replace("_", " "))
                            yield Input(id=f"reg-{name}")
                yield Static("", id="reg-status")
                yield Static("", id="reg-preview")
            with TabPane("Gallery", id="reg-gallery"):
                with Vertical():
                    yield ImageView(id="reg-image")
                    yield Static("", id="reg-caption")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load_form()
        self.refresh_gallery()
        self.poll_run()
        self.set_interval(1.0, self.poll_run)

    @on(ProjectChanged)
    def _project_changed(self, message: ProjectChanged) -> None:
        self.load_form()
        self.refresh_gallery()

    @property
    def project(self) -> pj.Project | None:
        return getattr(self.app, "project", None)

    # -- settings ------------------------------------------------------------------------
    def load_form(self) -> None:
        if self.project is None:
            return
        for name in FIELDS:
            self.query_one(f"#reg-{name}", Input).value = field_text(getattr(self.project.reg, name))
        self.update_preview()

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("reg-")
        if name not in FIELDS or self.project is None:
            return
        status = self.query_one("#reg-status", Static)
        if field_text(getattr(self.project.reg, name)) == event.value:
            return
        try:
            pj.set_setting(self.project, f"reg.{name}", event.value)
        except UserError as e:
            status.update(str(e))
            status.add_class("-bad")
            return
        status.update(f"reg.{name} saved")
        status.remove_class("-bad")
        self.app.save_project()
        if name in ("prompt", "seed"):
            self.update_preview()
        if name in ("repeats", "class_name"):
            self.refresh_gallery()

    def update_preview(self) -> None:
        if self.project is None:
            return
        preview = self.query_one("#reg-preview", Static)
        try:
            wc.ensure_wildcards(self.project)
            lines = wc.preview(self.project, PREVIEW)
        except UserError as e:
            preview.update(f"preview: {e}")
            return
        except OSError as e:
            preview.update(f"preview: cannot read the wildcards folder ({e})")
            return
        preview.update("preview:\n" + "\n".join(f"  {p}" for p in lines))

    # -- run -----------------------------------------------------------------------------
    def latest_reg_run(self):
        if self.project is None:
            return None
        infos = [i for i in self.app.engine.list_runs(self.project.root) if i.kind == "reg"]
        return infos[-1] if infos else None

    def poll_run(self) -> None:
        """Look for the newest reg run in a thread: list_runs reads files, never on the event
        loop (it runs every second)."""
        self.run_worker(self._poll_in_thread, thread=True, group="reg-poll", exclusive=True,
                        exit_on_error=False)

    def _poll_in_thread(self) -> None:
        info = self.latest_reg_run()
        self.app.call_from_thread(self.show_run, info)

    def show_run(self, info) -> None:
        if info is not None:
            self.run_dir = Path(info.path)
            self.run_status = info.status
            if info.step != self._last_step:
                self._last_step = info.step
                self.refresh_gallery()
        self.update_head(info)

    def update_head(self, info=None) -> None:
        if self.project is None:
            return
        kept = sum(1 for i in self.items if not i.removed)
        removed = sum(1 for i in self.items if i.removed)
        folder = rg.reg_folder(self.project)
        line1 = (f"{folder.relative_to(self.project.root)} · kept {kept} of "
                 f"{self.project.reg.count} · removed {removed}")
        if info is None:
            line2 = "no generation yet: ctrl+g generates in the background"
        else:
            line2 = (f"{info.status} {progress_bar(info.step, info.total_steps)} "
                     f"{info.step}/{info.total_steps}")
            if info.reason and info.status not in LIVE:
                line2 += f" · {info.reason}"
        self.query_one("#reg-head", Static).update(f"{line1}\n{line2}")

    def action_generate(self) -> None:
        if self.project is None:
            return
        info = self.latest_reg_run()
        if info is not None and info.status in LIVE:
            self.notify(f"run {info.id} is already generating", severity="warning")
            return
        try:
            wc.ensure_wildcards(self.project)
            wc.preview(self.project, 1)
            self.run_dir = self.app.engine.start_run(self.project, "reg")
        except UserError as e:
            self.notify(str(e), title="not started", severity="error", timeout=8)
            return
        self.notify(f"generating {self.project.reg.count} images: run {self.run_dir.name}")
        self.poll_run()

    def action_stop(self) -> None:
        info = self.latest_reg_run()
        if info is None or info.status not in LIVE:
            self.notify("no generation is running", severity="warning")
            return
        self.app.engine.send(info.path, "stop")
        self.notify(f"asked run {info.id} to stop")

    # -- gallery -------------------------------------------------------------------------
    def in_gallery(self) -> bool:
        return self.query_one(TabbedContent).active == "reg-gallery"

    def action_toggle_view(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "reg-settings" if self.in_gallery() else "reg-gallery"
        if self.in_gallery():
            self.query_one(ImageView).focus()
            self.show_item()
        else:
            self.query_one("#reg-prompt", Input).focus()

    def refresh_gallery(self) -> None:
        if self.project is None:
            return
        current = self.items[self.pos].path.name if self.items else None
        self.items = gallery_items(self.project)
        names = [i.path.name for i in self.items]
        self.pos = names.index(current) if current in names else min(self.pos, max(0, len(names) - 1))
        self.show_item()
        self.update_head(None if self.run_dir is None else self.latest_reg_run())

    def show_item(self) -> None:
        view = self.query_one(ImageView)
        caption = self.query_one("#reg-caption", Static)
        if not self.items:
            view.set_image(None, "no regularization images yet")
            caption.update("")
            return
        item = self.items[self.pos]
        try:
            with Image.open(item.path) as img:
                view.set_image(img.convert("RGB"))
        except OSError as e:
            view.set_image(None, f"cannot read {item.path.name}: {e}")
        state = "REMOVED (k brings it back)" if item.removed else "kept"
        caption.update(f"{self.pos + 1}/{len(self.items)} {item.path.name} · {state}\n"
                       f"{rg.caption_of(item.path)}")

    def action_move(self, delta: int) -> None:
        if self.in_gallery() and self.items:
            self.pos = (self.pos + delta) % len(self.items)
            self.show_item()

    def action_remove(self) -> None:
        if not self.in_gallery() or not self.items or self.project is None:
            return
        item = self.items[self.pos]
        if not item.removed:
            try:
                rg.remove(self.project, [item.path.name], save=False)
            except UserError as e:
                self.notify(str(e), severity="error")
                return
            self.app.save_project()
        self.refresh_gallery()
        self.action_move(1)

    def action_keep(self) -> None:
        if not self.in_gallery() or not self.items or self.project is None:
            return
        item = self.items[self.pos]
        if item.removed:
            rg.restore(self.project, item.path.name, save=False)
            self.app.save_project()
            self.refresh_gallery()
        self.action_move(1)
