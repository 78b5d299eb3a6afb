"""The onelora App: one mode per workflow screen, global keys, themes, project handling.

Modes (each an independent screen stack, Textual ``MODES``):

====  =========  ============================
key   mode       screen
====  =========  ============================
1 F1  crops      source preparation and crops
2 F2  tags       tags per crop, trait pruning
3 F3  reg        regularization images
4 F4  train      training settings and live run
5 F5  samples    samples per epoch, pick the LoRA
6 F6  grow       round two: grow the data set
====  =========  ============================

Digits are ordinary bindings (a focused text field still gets them); F-keys are priority
bindings that work everywhere.  Both reach the app over SSH and inside tmux.  The footer shows
the keys of the other modes (the one on screen is named by its title), so all six fit in 80
columns.  A mode key pressed over the help or the project picker closes it and switches
(screens with ``CLOSES_ON_MODE_KEY``); it never leaves them stacked under another mode.

The App is given an :class:`engine.api.Engine` (tests inject a fake one) and never imports
torch, diffusers, peft or transformers — screens are imported lazily when first shown, so
startup only pays for Textual.

Saving: every save goes through the project folder's :class:`engine.store.ProjectStore`, which
merges changes another program made to ``project.toml`` meanwhile instead of overwriting them.
A thread stats the file twice a second; an outside change is merged into ``app.project`` (in
place, unsaved edits kept) and screens get :class:`ProjectChanged` with reason "external".
Rapid edits (crop moves) call :meth:`OneloraApp.save_project_soon`: at most one write per
``SAVE_EVERY`` seconds, flushed before a screen switch, a run start and on quit.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Callable, Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

import themes
from engine import clip_tokens
from engine.errors import UserError
from engine.store import ProjectGone, ProjectStore, store_of
from tui.commands import ScreenCommands
from tui.messages import ProjectChanged, ProjectSaved
from tui.wording import TuiTerms
from tui.widgets.key_footer import KeyFooter

# (mode, module, class, title, footer label, digit key, f-key)
MODE_TABLE: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("crops", "tui.screens.crops", "CropsScreen", "Source & crops", "Crops", "1", "f1"),
    ("tags", "tui.screens.tags", "TagsScreen", "Tags", "Tags", "2", "f2"),
    ("reg", "tui.screens.reg", "RegScreen", "Regularization", "Reg", "3", "f3"),
    ("train", "tui.screens.train", "TrainScreen", "Training", "Train", "4", "f4"),
    ("samples", "tui.screens.samples", "SamplesScreen", "Samples", "Samples", "5", "f5"),
    ("grow", "tui.screens.grow", "GrowScreen", "Grow (round two)", "Grow", "6", "f6"),
)
FOOTER_MODES = MODE_TABLE
"""The modes the footer shows: all of them, less the one on screen (80 columns hold five)."""
MODE_NAMES = tuple(m[0] for m in MODE_TABLE)

SAVE_EVERY = 0.25
"""Seconds between two writes of project.toml while rapid edits (a held key) arrive."""
WATCH_EVERY = 0.5
"""Seconds between two looks (a stat) at project.toml for another program's changes."""


def _mode_bindings() -> list[Binding]:
    out: list[Binding] = []
    for entry in MODE_TABLE:
        mode, _, _, title, short, digit, fkey = entry
        show = entry in FOOTER_MODES
        out.append(Binding(digit, f"app.mode('{mode}')", short, tooltip=f"show {title}",
                           id=f"mode-{mode}", show=show))
        # Shown too: the footer shows one key per action, the digit first; when a text field
        # takes the digits (they leave the active bindings), it shows the F-key instead.
        out.append(Binding(fkey, f"app.mode('{mode}')", short, priority=True,
                           tooltip=f"show {title}", id=f"mode-{mode}-fkey", show=show))
    return out


class LoadErrorScreen(Screen):
    """Shown in a mode whose screen failed to import or construct (a bug, not user error)."""

    def __init__(self, title: str, error: str) -> None:
        super().__init__()
        self._title, self._error = title, error

    def compose(self) -> ComposeResult:
        yield Static(self._title, classes="screen-title")
        yield Static(f"This screen could not be opened:\n{self._error}", classes="placeholder")
        yield KeyFooter(compact=True)


class OneloraApp(TuiTerms, App[int]):  # TuiTerms: notifications speak keys, not CLI flags
    """Turn one character drawing into a LoRA, from a terminal."""

    TITLE = "onelora"
    CSS = themes.stylesheet()
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        *_mode_bindings(),
        Binding("question_mark", "help", "Help", tooltip="keys of this screen", id="help"),
        Binding("q", "quit", "Quit", show=False, id="quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit-now"),
        Binding("ctrl+t", "toggle_theme", "Dark/light", show=False, id="theme-toggle"),
    ]

    def __init__(self, project_dir: Path | str | None = None, engine=None,
                 graphics: str = "auto", start_mode: str = "crops",
                 defer_first_screen: bool = False) -> None:
        super().__init__()
        self.start_mode = start_mode
        """The mode shown first when a project is open (the demo opens on "train")."""
        self.defer_first_screen = defer_first_screen
        """Draw the app's frame (title, footer keys) first and build the start screen right
        after it: importing a screen (Pillow, numpy, widgets) costs more than Textual's own
        start, so a user sees the first frame well before that. ``run_app`` sets it."""
        if engine is None:
            from engine.api import Engine
            engine = Engine()
        self.engine = engine
        self.graphics = graphics
        """Image protocol: "halfblock", "kitty" or "sixel" (see tui.widgets.graphics)."""
        self.project_dir: Path | None = Path(project_dir) if project_dir else None
        self.project = None
        self.store: ProjectStore | None = None
        """The store of the open project (engine.store): saves merge outside changes."""
        self._mode_screens: dict[str, Screen] = {}
        self.listing_keys = False
        """True while the help lists a screen's keys: every mode key then counts, the one on
        screen too (the footer leaves that one out, see check_action)."""
        self._load_error = ""
        self._save_timer = None
        self._save_pending = False
        self._unsaved_reason = ""
        """Why the last save failed ("" once one succeeds): the quit question names it."""
        self._disk_error = ""
        self._gone = ""
        """Why the project folder is gone ("" while it is there): said once, see _folder_gone."""
        self._watch_stop = threading.Event()
        self._watcher: threading.Thread | None = None
        if self.project_dir is not None:
            try:
                self.project = self.engine.load(self.project_dir)
                self.store = store_of(self.project)
            except UserError as e:
                self._load_error = str(e)
        for mode, module, cls, title, _, _, _ in MODE_TABLE:
            self.add_mode(mode, self._factory(mode, module, cls, title))

    # -- modes ---------------------------------------------------------------------------
    def _factory(self, mode: str, module: str, cls: str, title: str) -> Callable[[], Screen]:
        def make() -> Screen:
            try:
                screen = getattr(importlib.import_module(module), cls)()
            except Exception as e:  # keep the other modes usable
                screen = LoadErrorScreen(title, f"{e.__class__.__name__}: {e}")
            self._mode_screens[mode] = screen
            return screen
        return make

    def compose(self) -> ComposeResult:
        """The frame under every mode: seen for a moment while the first screen is built."""
        where = f" — opening {self.project_dir}…" if self.project_dir else ""
        yield Static(f"onelora{where}", classes="screen-title")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        clip_tokens.warm_up()  # the first token count must not load the BPE table on the event loop
        for theme in themes.THEMES:
            self.register_theme(theme)
        self.theme = themes.DARK.name
        self._start_watching()
        if self.project is not None:
            if self.defer_first_screen:
                self.call_after_refresh(self._show_start_mode)
            else:
                self.switch_mode(self.start_mode)
        else:
            if self._load_error:
                self.notify(self._load_error, severity="error", timeout=10)
            self._show_picker(can_cancel=False)

    def _show_start_mode(self) -> None:
        if self.current_mode == "_default":  # a mode key may have been pressed meanwhile
            self.switch_mode(self.start_mode)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mode":
            if self.project is None:
                return False
            # The mode on screen is left out of the footer (its title names it; the picker
            # over it has "esc Back"): hidden and inert there.  Over the help (a dialog,
            # no footer) its key closes the help like any other mode key.
            if parameters and parameters[0] == self.current_mode and not self.listing_keys \
                    and not isinstance(self.screen, ModalScreen):
                return False
        return True

    async def action_mode(self, mode: str) -> None:
        """Show a workflow screen; the help or the picker open over the current one is closed
        first (leaving it there would show it again on coming back)."""
        if self.project is None:
            return
        while len(self.screen_stack) > 1 and getattr(self.screen, "CLOSES_ON_MODE_KEY", False):
            await self.screen.dismiss(None)
        if mode == self.current_mode:
            return
        self.flush_project()
        await self.switch_mode(mode)

    def pop_screen(self):
        """Pop the top screen — unless a screen that is already closed asks again.

        A dialog dismissed by a key can still have keys of the same burst queued (Enter
        Enter, a paste, tmux send-keys); a second dismiss from it would pop the screen under
        it (or crash on the last one).  Such a late request is ignored here, for every
        dialog of every screen."""
        from textual._context import active_message_pump
        from textual.await_complete import AwaitComplete

        caller = active_message_pump.get(None)
        try:
            screen = caller if isinstance(caller, Screen) or caller is None or caller is self \
                else caller.screen
        except Exception:  # a widget no longer on any screen
            screen = None
        if isinstance(screen, Screen) and screen not in self.screen_stack:
            return AwaitComplete.nothing()
        return super().pop_screen()

    def action_quit(self) -> None:
        """Quit (q, ctrl+q), after writing edits still waiting for their coalesced save; if
        some cannot be written (or a screen holds text it refused), ask before dropping them."""
        saved = self.flush_project()
        problems = [] if saved else [self._unsaved_reason]
        for screen in self._mode_screens.values():
            problems += getattr(screen, "unsaved_problems", lambda: [])()
        if not problems:
            self.exit()
            return
        from tui.widgets.train_dialogs import ConfirmScreen

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self._cancel_save_timer()
                self.exit()

        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        self.clear_notifications()  # the question says why; a toast must not cover it
        self.push_screen(ConfirmScreen(
            f"Not in project.toml: {problems[0]}{more}\n"
            "Quit anyway and lose it? (n: stay and fix it)"), answered)

    def mark_unsaved(self, reason: str) -> None:
        """An edit in memory that cannot be saved yet (a refused combination of settings):
        kept pending, so a screen switch tries again and quitting asks."""
        self._save_pending = True
        self._unsaved_reason = reason

    def exit(self, result=None, return_code: int = 0, message=None) -> None:
        """Quit, after writing edits still waiting for their coalesced save."""
        self.flush_project()
        self._watch_stop.set()
        super().exit(result, return_code, message)

    def action_help(self) -> None:
        """Show the keys of the current screen."""
        from tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_toggle_theme(self) -> None:
        self.theme = themes.other(self.theme)

    # -- project -------------------------------------------------------------------------
    def _show_picker(self, can_cancel: bool = True) -> None:
        from tui.screens.picker import PickerScreen

        base = self.project_dir.parent if self.project_dir else None
        self.push_screen(PickerScreen(base, can_cancel=can_cancel), self._picked)

    def _picked(self, path: Path | None) -> None:
        if path is not None and self.open_project(path) and self.current_mode == "_default":
            self.switch_mode("crops")

    def open_project(self, path: Path | str) -> bool:
        """Load the project at ``path`` and tell every screen. Errors become notifications."""
        self.flush_project()
        try:
            project = self.engine.load(path)
        except UserError as e:
            self.notify(str(e), severity="error", timeout=10)
            return False
        self.project_dir = Path(path)
        self.store = store_of(project)
        self.set_project(project, "opened")
        return True

    def reload_project(self) -> bool:
        """Re-read ``project.toml`` from disk (e.g. after a CLI command changed it); edits
        not yet written are saved first, so nothing is lost."""
        if self.project_dir is None:
            return False
        return self.open_project(self.project_dir)

    def set_project(self, project, reason: str = "changed") -> None:
        """Replace the project and post :class:`ProjectChanged` to every mode screen."""
        self.project = project
        if project is not None:
            self.store = store_of(project)
        self.refresh_bindings()
        for screen in list(self._mode_screens.values()):
            screen.post_message(ProjectChanged(project, reason))
        self.post_message(ProjectChanged(project, reason))

    def save_project(self) -> bool:
        """Save ``project.toml`` now, through the project store: another program's changes
        since the last read are merged in (and shown), not overwritten.  Never raises: a
        problem is shown as a notification and ``False`` is returned."""
        self._cancel_save_timer()
        if self.project is None:
            return False
        self.store = store_of(self.project)
        try:
            report = self.store.save(self.project)
        except (UserError, OSError) as e:
            reason = str(e) if isinstance(e, UserError) else \
                f"could not write {self.project.path}: {e.strerror or e}"
            if not isinstance(e, ProjectGone):
                self.notify(reason, title="not saved", severity="error", timeout=10)
            elif reason != self._gone:  # said once, not at every edit while it is gone
                self._gone = reason
                self.notify(reason, title="project folder gone", severity="error", timeout=30)
            self._save_pending = True  # still unsaved: the next flush (switch, quit) tries again
            self._unsaved_reason = reason
            return False
        self._unsaved_reason = ""
        self._show_notices()
        if report.merged:
            self.set_project(self.project, "external")
        if report.wrote:
            self.post_message(ProjectSaved(Path(report.path)))
        return True

    def save_project_soon(self) -> None:
        """Save within ``SAVE_EVERY`` seconds, together with whatever else changes until
        then (a held key writes a few times a second, not once per repeat)."""
        if self.project is None:
            return
        self._save_pending = True
        if self._save_timer is None:
            self._save_timer = self.set_timer(SAVE_EVERY, self._save_due, name="project-save")

    def _save_due(self) -> None:
        self._save_timer = None
        if self._save_pending:
            self.save_project()

    def _cancel_save_timer(self) -> None:
        self._save_pending = False
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None

    def flush_project(self) -> bool:
        """Write an edit still waiting for its coalesced save (before a screen switch, a run
        start, quitting).  True if nothing was waiting or it was saved."""
        if not self._save_pending:
            return True
        return self.save_project()

    @property
    def save_pending(self) -> bool:
        """True while an edit waits for its coalesced save."""
        return self._save_pending

    def _show_notices(self) -> None:
        if self.store is None:
            return
        for line in self.store.take_notices():
            self.notify(line, title="project.toml changed elsewhere too", severity="warning",
                        timeout=10)

    # -- another program changing project.toml ---------------------------------------------
    def _start_watching(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_disk, name="project-watch",
                                             daemon=True)
            self._watcher.start()

    def _watch_disk(self) -> None:
        """Thread: a stat of project.toml every WATCH_EVERY s; the merge runs on the loop."""
        while not self._watch_stop.wait(WATCH_EVERY):
            store = self.store
            try:
                gone = store.gone() if store is not None and self.project is not None else ""
                if gone or self._gone:
                    self.call_from_thread(self._folder_gone, gone)
                elif store is not None and self.project is not None and store.changed_on_disk():
                    self.call_from_thread(self.absorb_disk_changes)
            except Exception:  # the app is closing, or the folder went away meanwhile
                if self._watch_stop.is_set() or not self.is_running:
                    return

    def _folder_gone(self, text: str) -> None:
        """Say once that the project folder went away (moved or deleted), and once that it is
        back; edits made meanwhile stay in memory, unsaved, and quitting asks about them."""
        if text == self._gone:
            return
        self._gone = text
        if text:
            self.notify(text, title="project folder gone", severity="error", timeout=30)
        elif self._save_pending:
            self.notify("the project folder is back: saving your edits", title="project.toml")
            self.save_project()

    def absorb_disk_changes(self) -> bool:
        """Merge another program's changes to project.toml into the open project (unsaved
        edits kept) and refresh the screens.  True if the project changed."""
        if self.project is None or self.store is None:
            return False
        try:
            report = self.store.absorb(self.project)
        except (UserError, OSError) as e:
            text = str(e)
            if text != self._disk_error:  # once per problem, not twice a second
                self._disk_error = text
                self.notify(f"{text} (your edits here are kept and saved when it is fixed)",
                            title="project.toml", severity="error", timeout=10)
            return False
        self._disk_error = ""
        if report is None:
            return False
        self._show_notices()
        if report.merged:
            self.set_project(self.project, "external")
        return report.merged

    def on_unmount(self) -> None:
        self._watch_stop.set()

    # -- command palette -----------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if self.project is not None:
            for mode, _, _, title, _, digit, _ in MODE_TABLE:
                yield SystemCommand(f"mode: {title.lower()}", f"key {digit}",
                                    lambda m=mode: self.run_worker(self.action_mode(m)))
            yield SystemCommand("project: reload", "re-read project.toml from disk",
                                self.reload_project)
        yield SystemCommand("project: open another", "pick a project folder",
                            lambda: self._show_picker(can_cancel=True))
        yield SystemCommand("theme: toggle dark/light", "ctrl+t", self.action_toggle_theme)
        yield SystemCommand("app: keys of this screen", "?", self.action_help)
        yield SystemCommand("app: quit", "q / ctrl+q", self.action_quit)


def start_mode_for(project_dir: str | os.PathLike) -> str:
    """Where ``onelora open`` lands: the training dashboard while a training run of the
    project is going (reopening the TUI over SSH mid-run), else the Crops screen."""
    from engine import runs

    live = [r for r in runs.list_runs(project_dir) if r.kind == "train" and r.status in runs.ACTIVE]
    return "train" if live else "crops"


def run_app(project_dir: str | os.PathLike | None = None, graphics: str = "auto",
            mode: str | None = None) -> int:
    """Entry point of ``onelora open``: returns the process exit code.  ``mode`` is the
    first screen (None: :func:`start_mode_for` the project)."""
    from tui.widgets.graphics import resolve

    if project_dir is not None:
        from engine.project import PROJECT_FILE

        path = Path(project_dir)
        if not (path / PROJECT_FILE).is_file():
            raise UserError(f"{path / PROJECT_FILE} not found: create a project with "
                            f"'onelora new IMAGE {path} --trigger NAME' or run 'onelora open' "
                            "to pick one")
    if mode is None:
        mode = start_mode_for(project_dir) if project_dir is not None else "crops"
    protocol, note = resolve(graphics)
    app = OneloraApp(project_dir, graphics=protocol, start_mode=mode, defer_first_screen=True)
    if note:
        app.call_later(app.notify, note, severity="warning")
    app.run()
    return app.return_code or 0
