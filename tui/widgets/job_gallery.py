"""The keyboard gallery of a generating job, shared by the reg and Grow screens.

Both screens start a detached run (``reg`` / ``grow``) through ``app.engine``, follow the
newest run of that kind for a progress line, and walk what it wrote with the keyboard.
:class:`JobGallery` is that shared part, mixed into each screen; the screen keeps its own keys,
texts and decisions (remove/keep vs keep/discard/undecide) and fills in the hooks:

- ``load_items()``: the gallery items (each with a ``.path`` to a PNG), ``item_key(item)`` what
  identifies one across reloads, ``present(view, item, image)`` shows one and returns its caption;
- ``head_line()``: the first head line (counts), ``focus_settings()``: focus on the settings tab.

The screen composes ``#<PREFIX>-head``, a ``TabbedContent`` with ``<PREFIX>-gallery`` and
``<PREFIX>-settings`` panes, an ``ImageView`` and ``#<PREFIX>-caption``.  Polling reads run
folders in a thread worker (never on the event loop).  No torch is imported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from textual.widgets import Static, TabbedContent

from tui.widgets.image_view import ImageView

LIVE = ("running", "paused", "starting")
"""Run statuses of a job that is still generating."""


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
