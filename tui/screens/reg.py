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

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane
from textual.widgets._tabbed_content import ContentTabs

from engine import project as pj
from engine import reg as rg
from engine import wildcards as wc
from engine.errors import UserError
from tui.keys import SCREEN_TAB_BINDINGS, FieldScroll, TabFocus, focus_main
from tui.messages import ProjectChanged
from tui.wording import TuiTerms
from tui.widgets.image_view import ImageView
from tui.widgets.job_gallery import LIVE, JobGallery, gallery_css
from tui.widgets.key_footer import KeyFooter

FIELDS = ("prompt", "negative", "count", "seed", "steps", "cfg", "width", "height", "repeats",
          "class_name", "prior_loss_weight")
PREVIEW = 5


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


class RegScreen(JobGallery, TabFocus, TuiTerms, Screen):
    """Regularization images: generic pictures of the class that keep the LoRA flexible."""

    HELP_TITLE = "Regularization"
    HELP = ("Settings: the class prompt uses {a|b} variants and __name__ wildcard files from "
            "DIR/wildcards/; the preview shows the first prompts. ctrl+g generates in "
            "the background (g asks first), ctrl+n (or x) stops. Tab moves between the fields, "
            "esc leaves them. ctrl+o (or v) switches to the gallery: "
            "←/→ (p/n) move, d removes an image from the set, k keeps it (or brings a removed "
            "one back). Remove anything overly complex or too close to your character.")
    MAIN_WIDGET = "#reg-form"
    FIELDS = FIELDS
    JOB_KIND = PREFIX = "reg"
    EMPTY = "no regularization images yet"
    IDLE = "no generation yet: ctrl+g generates in the background"
    NOTHING_RUNNING = "no generation is running"
    BINDINGS = [
        *SCREEN_TAB_BINDINGS,
        Binding("ctrl+g", "generate", "Generate", priority=True, id="reg-generate"),
        Binding("g", "generate(True)", "Generate (asks first)", show=False,
                id="reg-generate-key"),
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
    DEFAULT_CSS = gallery_css("RegScreen", "reg", caption="height: auto; max-height: 4;")

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("", id="reg-head")
        with TabbedContent(id="reg-tabs", initial="reg-settings"):
            with TabPane("Settings", id="reg-settings"):
                yield from self.compose_settings(FieldScroll)
            with TabPane("Gallery", id="reg-gallery"):
                yield from self.compose_gallery()
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        # ctrl+o / v switch the tabs: the tab bar takes no focus, so a Shift+Tab too many
        # cannot land on a widget where typed text would run screen and app keys
        self.query_one(ContentTabs).can_focus = False
        focus_main(self)
        self.load_form()
        self.refresh_gallery()
        self.poll_run()
        self.set_interval(1.0, self.poll_run)

    @on(ProjectChanged)
    def _project_changed(self, message: ProjectChanged) -> None:
        self.load_form()
        self.refresh_gallery()

    # -- settings ------------------------------------------------------------------------
    def setting_saved(self, name: str) -> None:
        if name in ("prompt", "seed"):
            self.update_preview()
        if name in ("repeats", "class_name"):
            self.refresh_gallery()

    def preview_lines(self) -> list[str]:
        return wc.preview(self.project, PREVIEW)

    # -- run -----------------------------------------------------------------------------
    def head_line(self) -> str:
        kept = sum(1 for i in self.items if not i.removed)
        removed = sum(1 for i in self.items if i.removed)
        folder = rg.reg_folder(self.project)
        return (f"{folder.relative_to(self.project.root)} · kept {kept} of "
                f"{self.project.reg.count} · removed {removed}")

    def action_generate(self, ask: bool = False) -> None:
        """Generate the reg images in a detached run.  ``g`` (a single key) asks first; any key
        asks when a reg run of this project is still generating."""
        if self.project is None:
            return
        try:
            wc.ensure_wildcards(self.project)
            wc.preview(self.project, 1)
        except UserError as e:
            self.notify(str(e), title="not started", severity="error", timeout=8)
            return
        self.run_worker(lambda: self._check_then_generate(ask), thread=True,
                        group="reg-start", exclusive=True, exit_on_error=False)

    def _check_then_generate(self, ask: bool) -> None:
        live = [i for i in self.app.engine.list_runs(self.project.root)
                if i.kind == "reg" and i.status in LIVE]
        self.app.call_from_thread(self._generate_or_ask, live[-1].id if live else "", ask)

    def _generate_or_ask(self, running: str, ask: bool, message: str = "") -> None:
        from tui.widgets.train_dialogs import ConfirmScreen

        if not running and not ask:
            self._generate(force=False)
            return
        count = self.project.reg.count
        if running:
            question = message or (f"Run {running} is still generating regularization "
                                    f"images.\nStart a second one ({count} images) anyway?")
        else:
            question = f"Generate {count} regularization images in the background?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._generate(force=bool(running))

        self.app.push_screen(ConfirmScreen(question), answered)

    def _generate(self, force: bool) -> None:
        try:
            extra = {"force": True} if force else {}
            self.run_dir = self.app.engine.start_run(self.project, "reg", **extra)
        except UserError as e:
            if type(e).__name__ == "JobRunning" and not force:  # the run supervisor's lock
                self._generate_or_ask("?", False, f"{e}\nStart a second one anyway?")
                return
            self.notify(str(e), title="not started", severity="error", timeout=8)
            return
        self.notify(f"generating {self.project.reg.count} images: run {self.run_dir.name}")
        self.poll_run()

    # -- gallery -------------------------------------------------------------------------
    def load_items(self) -> list[GalleryItem]:
        return gallery_items(self.project)

    def present(self, view: ImageView, item: GalleryItem, image) -> str:
        view.set_image(image)
        state = "REMOVED (k brings it back)" if item.removed else "kept"
        return (f"{self.pos + 1}/{len(self.items)} {item.path.name} · {state}\n"
                f"{rg.caption_of(item.path)}")

    def focus_settings(self) -> None:
        focus_main(self)

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
            self.notify(f"removed {item.path.name} from the set (k brings it back)")
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
