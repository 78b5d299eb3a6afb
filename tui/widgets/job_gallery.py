"""The keyboard gallery of a generating job, shared by the reg and Grow screens.

Both screens start a detached run (``reg`` / ``grow``) through ``app.engine``, follow the
newest run of that kind for a progress line, and walk what it wrote with the keyboard.
:class:`JobGallery` is that shared part, mixed into each screen; the screen keeps its own keys,
texts and decisions (remove/keep vs keep/discard/undecide) and fills in the hooks:

- ``load_items()``: the gallery items (each with a ``.path`` to a PNG), ``item_key(item)`` what
  identifies one across reloads, ``present(view, item, image)`` shows one and returns its caption;
- ``head_line()``: the first head line (counts), ``focus_settings()``: focus on the settings tab,
  ``preview_lines()``: the first prompts, ``setting_saved(name)``: after a field is saved.

The screen composes ``#<PREFIX>-head`` and a ``TabbedContent`` with a ``<PREFIX>-settings``
pane (:meth:`compose_settings`: one field per name in ``FIELDS`` of ``[<PREFIX>]``, a status
and a preview line) and a ``<PREFIX>-gallery`` pane (:meth:`compose_gallery`).  Polling reads run
folders in a thread worker (never on the event loop).  No torch is imported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static, TabbedContent
from textual.widgets.input import Selection

from engine import project as pj
from engine import wildcards as wc
from engine.errors import UserError

from tui.widgets.image_view import ImageView

LIVE = ("running", "paused", "starting")
"""Run statuses of a job that is still generating."""


def field_text(value) -> str:
    """How a setting is shown in its field (as it would be typed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def gallery_css(screen: str, prefix: str, head: str = "height: auto; max-height: 4;",
                caption: str = "height: 2;") -> str:
    """The layout both job screens share: head, tabs, field rows, status, preview, image, caption.
    The head grows with its text: its first line wraps at 80 columns and must not push the run's
    progress line out of sight."""
    s, p = screen, prefix
    return f"""
    {s} #{p}-head {{ {head} padding: 0 1; }}
    {s} TabbedContent {{ height: 1fr; }}
    {s} .{p}-row {{ height: 1; }}
    {s} .{p}-row Label {{ width: 18; padding: 0 1; }}
    {s} .{p}-row Input {{ width: 1fr; height: 1; border: none; padding: 0 1; }}
    {s} #{p}-form {{ height: 1fr; }}
    {s} #{p}-status {{ height: auto; max-height: 2; padding: 0 1; color: $success; }}
    {s} #{p}-status.-bad {{ background: $error; color: $text; }}
    {s} #{p}-preview {{ height: auto; max-height: 7; padding: 0 1; color: $text-muted; }}
    {s} ImageView {{ height: 1fr; }}
    {s} #{p}-caption {{ {caption} padding: 0 1; }}
    """


def progress_bar(done: int, total: int, width: int = 24) -> str:
    if total <= 0:
        return "░" * width
    filled = min(width, int(width * done / total))
    return "█" * filled + "░" * (width - filled)


class JobGallery:
    """Mixin for a Screen: newest run of ``JOB_KIND``, its progress head line, stop, and the
    gallery's refresh / show / move / settings-gallery switch."""

    JOB_KIND = ""
    """Run kind followed (``reg``, ``grow``)."""
    PREFIX = ""
    """Widget id prefix (``#<PREFIX>-head``, ``<PREFIX>-gallery``, ...)."""
    EMPTY = "nothing here yet"
    """What the image area says with no items."""
    IDLE = ""
    """Second head line before any run of this kind."""
    NOTHING_RUNNING = "nothing is running"
    """Notice when stop finds no live run."""
    FIELDS: tuple[str, ...] = ()
    """Settings of ``[<PREFIX>]`` in the settings tab, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items: list[Any] = []
        self.pos = 0
        self.run_dir: Path | None = None
        self.run_status = ""
        self.run_info = None
        self._last_step = -1

    # -- hooks ---------------------------------------------------------------------------
    def load_items(self) -> list[Any]:
        raise NotImplementedError

    def item_key(self, item: Any) -> Any:
        return item.path.name

    def present(self, view: ImageView, item: Any, image: Image.Image) -> str:
        view.set_image(image)
        return item.path.name

    def head_line(self) -> str:
        return f"{len(self.items)} images"

    def focus_settings(self) -> None:
        pass

    def preview_lines(self) -> list[str]:
        return []

    def setting_saved(self, name: str) -> None:
        self.update_preview()

    # -- layout and settings -------------------------------------------------------------
    def compose_settings(self, scroll: type) -> ComposeResult:
        """The settings pane's content: a ``scroll`` of label + field rows, status, preview."""
        with scroll(id=f"{self.PREFIX}-form"):
            for name in self.FIELDS:
                with Horizontal(classes=f"{self.PREFIX}-row"):
                    yield Label(name.replace("_", " "))
                    yield Input(id=f"{self.PREFIX}-{name}")
        yield Static("", id=f"{self.PREFIX}-status")
        yield Static("", id=f"{self.PREFIX}-preview")

    def compose_gallery(self) -> ComposeResult:
        with Vertical():
            yield ImageView(id=f"{self.PREFIX}-image")
            yield Static("", id=f"{self.PREFIX}-caption")

    def update_preview(self) -> None:
        """The first prompts under the settings (the wildcard files are written if missing)."""
        if self.project is None:
            return
        preview = self.query_one(f"#{self.PREFIX}-preview", Static)
        try:
            wc.ensure_wildcards(self.project)
            lines = self.preview_lines()
        except UserError as e:
            preview.update(f"preview: {e}")
            return
        except OSError as e:
            preview.update(f"preview: cannot read the wildcards folder ({e})")
            return
        preview.update("preview:\n" + "\n".join(f"  {p}" for p in lines))

    def settings(self):
        return getattr(self.project, self.PREFIX)

    def load_form(self) -> None:
        if self.project is None:
            return
        for name in self.FIELDS:
            self.query_one(f"#{self.PREFIX}-{name}", Input).value = field_text(getattr(self.settings(), name))
        self.update_preview()
        self.show_field_starts()

    def show_field_starts(self) -> None:
        """Every field not being edited shows the start of its value.  Textual leaves a field
        scrolled to where its cursor was (the end, after Tab selected it), so a prompt wider
        than its field read "lo, clothes, __expression__…" when the screen was opened again."""
        for field in self.query(f".{self.PREFIX}-row Input").results(Input):
            if not field.has_focus and field.cursor_position:
                field.cursor_position = 0

    def on_input_blurred(self, event: Input.Blurred) -> None:
        if not event.input.has_focus:
            event.input.cursor_position = 0

    def on_descendant_focus(self, event) -> None:
        """Entering a field selects its whole value (typing replaces it) with the cursor at
        the start, so the field shows how the value begins, not its end."""
        field = event.widget
        if isinstance(field, Input) and field.parent is not None \
                and field.parent.has_class(f"{self.PREFIX}-row") \
                and field.value and tuple(field.selection) == (0, len(field.value)):
            field.selection = Selection(len(field.value), 0)

    def on_screen_resume(self) -> None:
        self.show_field_starts()

    def on_input_changed(self, event: Input.Changed) -> None:
        """A typed value is saved at once when valid; a refused one is one line in the status."""
        name = (event.input.id or "").removeprefix(f"{self.PREFIX}-")
        if name not in self.FIELDS or self.project is None:
            return
        if field_text(getattr(self.settings(), name)) == event.value:
            return
        status = self.query_one(f"#{self.PREFIX}-status", Static)
        try:
            pj.set_setting(self.project, f"{self.PREFIX}.{name}", event.value)
        except UserError as e:
            status.update(str(e))
            status.add_class("-bad")
            return
        status.update(f"{self.PREFIX}.{name} saved")
        status.remove_class("-bad")
        self.app.save_project()
        self.setting_saved(name)

    # -- the job -------------------------------------------------------------------------
    @property
    def project(self):
        return getattr(self.app, "project", None)

    def latest_run(self):
        """The newest run of ``JOB_KIND`` (reads run folders: call it off the event loop)."""
        if self.project is None:
            return None
        infos = [i for i in self.app.engine.list_runs(self.project.root) if i.kind == self.JOB_KIND]
        return infos[-1] if infos else None

    def poll_run(self) -> None:
        """Look for the newest run in a thread: list_runs reads files (it runs every second)."""
        self.run_worker(self._poll_in_thread, thread=True, group=f"{self.PREFIX}-poll",
                        exclusive=True, exit_on_error=False)

    def _poll_in_thread(self) -> None:
        info = self.latest_run()
        self.app.call_from_thread(self.show_run, info)

    def show_run(self, info) -> None:
        self.run_info = info
        if info is not None:
            self.run_dir = Path(info.path)
            self.run_status = info.status
            if info.step != self._last_step:
                self._last_step = info.step
                self.refresh_gallery()
        self.update_head()

    def update_head(self) -> None:
        if self.project is None:
            return
        info = self.run_info
        if info is None:
            line2 = self.IDLE
        else:
            line2 = (f"{info.status} {progress_bar(info.step, info.total_steps)} "
                     f"{info.step}/{info.total_steps}")
            if info.reason and info.status not in LIVE:
                line2 += f" · {info.reason}"
        self.query_one(f"#{self.PREFIX}-head", Static).update(f"{self.head_line()}\n{line2}")

    def action_stop(self) -> None:
        info = self.latest_run()
        if info is None or info.status not in LIVE:
            self.notify(self.NOTHING_RUNNING, severity="warning")
            return
        self.app.engine.send(info.path, "stop")
        self.notify(f"asked run {info.id} to stop")

    # -- the gallery ---------------------------------------------------------------------
    def in_gallery(self) -> bool:
        return self.query_one(TabbedContent).active == f"{self.PREFIX}-gallery"

    def action_toggle_view(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = f"{self.PREFIX}-settings" if self.in_gallery() else f"{self.PREFIX}-gallery"
        if self.in_gallery():
            self.query_one(ImageView).focus()
            self.show_item()
        else:
            self.focus_settings()

    def refresh_gallery(self) -> None:
        """Re-read the items, staying on the one shown (or the nearest position)."""
        if self.project is None:
            return
        current = self.item_key(self.items[self.pos]) if self.items else None
        self.items = self.load_items()
        keys = [self.item_key(i) for i in self.items]
        self.pos = keys.index(current) if current in keys else min(self.pos, max(0, len(keys) - 1))
        self.show_item()
        self.update_head()

    def show_item(self) -> None:
        view = self.query_one(ImageView)
        caption = self.query_one(f"#{self.PREFIX}-caption", Static)
        if not self.items:
            view.set_image(None, self.EMPTY)
            caption.update("")
            return
        item = self.items[self.pos]
        try:
            with Image.open(item.path) as img:
                image = img.convert("RGB")
        except OSError as e:
            view.set_image(None, f"cannot read {item.path.name}: {e}")
            caption.update("")
            return
        caption.update(self.present(view, item, image))

    def action_move(self, delta: int) -> None:
        if self.in_gallery() and self.items:
            self.pos = (self.pos + delta) % len(self.items)
            self.show_item()
