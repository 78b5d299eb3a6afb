"""The training screen: settings form and a live dashboard that survives disconnects.

The dashboard attaches to a run directory (one this TUI started, one started from the CLI, or
one from an earlier session), reads its whole ``events.jsonl`` history, then follows it in a
thread worker (tui/run_watch.py) that posts coalesced updates.  Once a second it looks for a
newer training run of the project (``onelora train DIR --detach`` while the TUI is open): one
that starts while the dashboard shows an ended run (or none) is followed at once, with a note
saying so; a run the user is watching live is never left — the note names the new one and r.  Runs are separate processes
started detached by the engine, so quitting the TUI never stops a run; the keys here only
write commands into the run's ``control`` file.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from engine import project as pj
from engine.errors import UserError
from tui.keys import SCREEN_TAB_BINDINGS, TabFocus
from tui.messages import ProjectChanged
from tui.wording import TuiTerms, in_tui_terms
from tui.run_watch import RunFollower, RunUpdated, train_runs_after
from tui.widgets.event_log import EventLog
from tui.widgets.loss_chart import LossChart
from tui.widgets.nan_panel import NanPanel
from tui.widgets.settings_form import SettingsForm, optimizer_note, optimizer_warning
from tui.widgets.key_footer import KeyFooter
from tui.widgets.train_dialogs import (
    PREVIOUS_PRESET, SEED_PRESET, ConfirmScreen, PickScreen, PresetNameScreen, load_preset,
    preset_names, save_preset)

LIVE = ("running", "paused", "starting")
NEWER_RUN_EVERY = 1.0
"""Seconds between two looks for a training run started elsewhere (one directory listing)."""
START_KEY = "ctrl+g"
"""Starts a run — the same key as "generate" on the reg screen; never Redo (ctrl+r on Crops)."""
LR_SHORT = {"text_encoder": "te", "unet": "unet"}
STATUS_STYLE = {"running": "bold green", "paused": "bold yellow", "starting": "bold cyan",
                "finished": "bold green", "stopped": "bold yellow", "failed": "bold white on red",
                "crashed": "bold white on red"}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def eta_text(seconds: float | None, tail_known: bool = True) -> str:
    """The ETA as the dashboard shows it; "+ sampling?" when the time the epochs' samples take
    is not known yet (before the first batch of samples is drawn)."""
    return fmt_duration(seconds) + ("" if tail_known or seconds is None else " + sampling?")


def bar(done: int, total: int, width: int) -> str:
    if total <= 0:
        return "░" * width
    filled = min(width, int(width * done / total))
    return "█" * filled + "░" * (width - filled)


class Dashboard(Vertical, can_focus=True):
    """The live view of one run; holds the run keys so they work only when it has focus."""

    BINDINGS = [
        Binding("s", "screen.stop_run", "Stop", tooltip="Stop the run (asks first)",
                show=False, id="train-stop"),
        Binding("p", "screen.pause_resume", "Pause/resume", show=False, id="train-pause"),
        Binding("n", "screen.sample_now", "Sample now", show=False, id="train-sample-now"),
        Binding("o", "screen.open_samples", "Samples", tooltip="Open the samples screen",
                show=False, id="train-open-samples"),
        Binding("r", "screen.pick_run", "Runs", tooltip="Switch to another run of the project",
                show=False, id="train-runs"),
        Binding("l", "screen.log_scale", "Log scale", show=False, id="train-log"),
        Binding("u", "screen.resume_run", "Resume", tooltip="Resume a crashed or stopped run "
                "(asks first)",
                show=False, id="train-resume"),
    ]
    DEFAULT_CSS = """
    Dashboard { height: 1fr; }
    Dashboard:focus { background-tint: $foreground 3%; }
    Dashboard #dash-head { height: 1; padding: 0 1; }
    Dashboard #dash-progress { height: 2; padding: 0 1; text-wrap: nowrap;
                               text-overflow: ellipsis; }
    Dashboard LossChart { height: 1fr; min-height: 5; }
    Dashboard #dash-end { height: auto; max-height: 7; padding: 0 1; display: none; }
    Dashboard #dash-end.-shown { display: block; }
    Dashboard #dash-end.-bad { background: $error; color: $text; text-style: bold; }
    Dashboard #dash-end.-good { background: $success 30%; }
    Dashboard #dash-end.-keys { color: $text-muted; }
    Dashboard #dash-events { height: 5; padding: 0 1; color: $text-muted;
                             border-top: solid $panel; }
    """

    def compose(self) -> ComposeResult:
        yield Static("no run yet — ctrl+g starts one · r picks one · ctrl+o settings", id="dash-head")
        yield Static("", id="dash-progress")
        yield NanPanel(id="dash-nan")
        yield LossChart(id="dash-chart")
        yield Static("", id="dash-end")
        yield EventLog(id="dash-events")


class TrainScreen(TabFocus, TuiTerms, Screen):
    """Training settings and the live dashboard of the project's runs."""

    HELP_TITLE = "Training"
    HELP_TEXT = ("Runs are separate processes: quitting onelora or losing SSH never stops "
                 "them. Reopen the project and this screen attaches to the newest run.")
    PALETTE_GROUP = "train"
    AUTO_FOCUS = "#dash"
    BINDINGS = [
        *SCREEN_TAB_BINDINGS,
        Binding(START_KEY, "start_run", "Start", tooltip="Start a training run with these "
                "settings (asks first if one is running)", id="train-start"),
        Binding("ctrl+o", "toggle_view", "Settings", id="train-toggle",
                tooltip="switch between the settings form and the dashboard"),
        Binding("ctrl+s", "save_preset", "Save preset", show=False, id="train-save-preset"),
        Binding("ctrl+l", "load_preset", "Load preset", show=False, id="train-load-preset"),
    ]
    DEFAULT_CSS = """
    TrainScreen TabbedContent { height: 1fr; }
    TrainScreen TabPane { padding: 0; height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.follower: RunFollower | None = None
        self.snapshot: dict[str, Any] = {}
        self.updates = 0
        self._form_lock = asyncio.Lock()
        self._newest_seen = ""
        """The newest training-run folder name this screen knows of: a later one is new."""
        self._other_runs: set[str] = set()
        self._note = ""
        """A "following the new run" note made while another screen was shown."""

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("Training", classes="screen-title")
        with TabbedContent(initial="dashboard"):
            with TabPane("Dashboard", id="dashboard"):
                yield Dashboard(id="dash")
            yield TabPane("Settings", id="settings")  # the form is built when first shown
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one(Dashboard).focus()
        self._attach_newest()
        # Build the (large) settings form once the dashboard is up, so the tab opens at once.
        self.set_timer(1.0, self._ensure_form)
        self.set_interval(1.0, self._tick_eta)
        self.set_interval(NEWER_RUN_EVERY, self._look_for_newer_run)

    def _attach_newest(self) -> None:
        """Follow the project's newest training run (found without reading any events)."""
        self._newest_seen, self._other_runs = "", set()
        found = train_runs_after(self.app.project.root, other_kinds=self._other_runs)
        if found:
            self._newest_seen = found[-1].name
            self.attach(found[-1])

    def _look_for_newer_run(self) -> None:
        """A training run started elsewhere since the last look (the CLI's ``onelora train
        DIR --detach``): follow it unless the run shown is live; say so either way."""
        if self.app.project is None:
            return
        found = train_runs_after(self.app.project.root, self._newest_seen, self._other_runs)
        if not found:
            return
        newest = found[-1]
        self._newest_seen = newest.name
        if self.run_dir == newest:
            return
        if self.follower is not None and self._status() in LIVE:
            self._tell(f"run {newest.name} started too; you stay on {self.run_dir.name}, "
                       "which is still training — r switches", "warning")
            return
        before = self.run_dir.name if self.run_dir else ""
        was = f" ({before} {self._status() or 'shown'} before)" if before else ""
        self.attach(newest)
        self._tell(f"following the new run {newest.name}{was}; r shows the others")

    def _tell(self, text: str, severity: str = "information") -> None:
        """A note now if this screen is shown, else when it is shown next."""
        if self.app.screen is self:
            self.notify(text, severity=severity, timeout=8)
        else:
            self._note = text

    def on_screen_resume(self) -> None:
        if self._note:
            note, self._note = self._note, ""
            self.notify(note, timeout=8)

    def _form(self) -> SettingsForm | None:
        found = self.query(SettingsForm)
        return found.first() if found else None

    async def _ensure_form(self) -> SettingsForm:
        async with self._form_lock:  # the timer and the tab key may both ask for it
            form = self._form()
            if form is None:
                form = SettingsForm(self.app.project, id="form")
                await self.query_one("#settings", TabPane).mount(form)
            return form

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "settings":
            await self._ensure_form()

    @on(ProjectChanged)
    async def _project_changed(self, message: ProjectChanged) -> None:
        """Another project (or a reloaded one): rebuild the form, follow its newest run."""
        if message.project is None:
            return
        form = self._form()
        if form is not None:
            await form.remove()
            if self.query_one(TabbedContent).active == "settings":
                await self._ensure_form()
        if self.follower:
            self.follower.stop()
            self.follower = None
        self._attach_newest()

    def on_unmount(self) -> None:
        if self.follower:
            self.follower.stop()

    @property
    def run_dir(self) -> Path | None:
        return self.follower.run_dir if self.follower else None

    def _runs(self) -> list:
        try:
            return [r for r in self.app.engine.list_runs(self.app.project.root)
                    if r.kind == "train"]
        except (UserError, OSError):
            return []

    # --- following a run -------------------------------------------------------------------

    def attach(self, run_dir: str | Path) -> None:
        """Show ``run_dir``: its whole history, then live updates."""
        if self.follower:
            self.follower.stop()
        self._newest_seen = max(self._newest_seen, Path(run_dir).name)
        self.snapshot = {}
        self.follower = RunFollower(run_dir, self)
        self.run_worker(self.follower.run, thread=True, group="run-follow",
                        name=f"follow {Path(run_dir).name}", exit_on_error=False)

    @on(RunUpdated)
    def _run_updated(self, message: RunUpdated) -> None:
        if message.follower is not self.follower:
            return  # a run we already switched away from
        self.updates += 1
        self.snapshot = snap = message.follower.snapshot()
        self._draw(snap)

    def _head(self, snap: dict[str, Any]) -> Text:
        status = snap["status"]
        head = Text()
        head.append(f"{snap['run']} ", style="bold")
        head.append(f" {status} ", style=STATUS_STYLE.get(status, "bold"))
        ep = f" epoch {snap['epoch']}/{snap['epochs'] or '?'}"
        head.append(f" step {snap['step']}/{snap['total_steps'] or '?'}{ep}")
        if status in ("running", "paused"):
            head.append(f"  ETA {eta_text(snap['eta_s'], snap.get('eta_tail_known', True))}")
        return head

    def _tick_eta(self) -> None:
        """Once a second: the ETA counts down while no events come (samples being drawn)."""
        snap, follower = self.snapshot, self.follower
        if follower is None or snap.get("status") != "running":
            return
        eta, known = follower.eta()
        if eta_text(eta, known) != eta_text(snap.get("eta_s"), snap.get("eta_tail_known", True)):
            snap["eta_s"], snap["eta_tail_known"] = eta, known
            self.query_one(Dashboard).query_one("#dash-head", Static).update(self._head(snap))

    def _draw(self, snap: dict[str, Any]) -> None:
        dash = self.query_one(Dashboard)
        status = snap["status"]
        dash.query_one("#dash-head", Static).update(self._head(snap))

        width = max(10, dash.size.width - 10)
        total = snap["total_steps"]
        pct = f"{100 * snap['step'] / total:5.1f}%" if total else "   –  "
        lrs = " ".join(f"{LR_SHORT.get(g, g)} {v:.1e}" for g, v in snap["lr"].items()) or "–"
        it = f"{snap['it_s']:.2f} it/s" if math.isfinite(snap["it_s"]) else "– it/s"
        vram = (f"{snap['vram_mb'] / 1024:.1f} GiB" if math.isfinite(snap["vram_mb"])
                else "–")
        loss = snap["loss"][-1] if len(snap["loss"]) else math.nan
        ema = snap["loss_ema"][-1] if len(snap["loss_ema"]) else math.nan
        progress = Text(f"{bar(snap['step'], total, width - 2)} {pct}\n", no_wrap=True,
                        overflow="ellipsis")
        loss_s = f"loss {loss:.4f} ema {ema:.4f}" if len(snap["loss"]) else "loss –"
        progress.append(f"{loss_s}  {it}  GPU {vram}  LR {lrs}")
        dash.query_one("#dash-progress", Static).update(progress)

        dash.query_one(LossChart).set_data(snap["steps"], snap["loss"], snap["loss_ema"])
        dash.query_one(NanPanel).show_records(snap["nonfinite"], snap["nonfinite_total"])

        end = dash.query_one("#dash-end", Static)
        ended = status in ("finished", "failed", "stopped", "crashed")
        end.set_class(ended, "-shown")
        end.set_class(status in ("failed", "crashed"), "-bad")
        end.set_class(status == "finished", "-good")
        # The run keys are kept out of the 80-column footer; say them while they apply.
        live = status in LIVE
        end.set_class(ended or live, "-shown")
        end.set_class(live, "-keys")
        if live:
            end.update(Text("s stop · p pause/resume · n sample now · o samples · r runs",
                            no_wrap=True, overflow="ellipsis"))
        elif ended:
            what = in_tui_terms(snap['reason'] or snap['final_path'] or '')
            lines = [f"{status.upper()}: {what}".rstrip(": ")]
            if snap["hint"]:
                lines.append(f"hint: {in_tui_terms(snap['hint'])}")
            if status in ("crashed", "stopped", "failed") and "resume" not in snap["hint"]:
                lines.append("u resume from the last saved state · r pick another run")
            end.update(Text("\n".join(lines)))
        dash.query_one(EventLog).show(snap["recent"][-8:])

    # --- actions -------------------------------------------------------------------------

    def _status(self) -> str:
        return self.snapshot.get("status", "") if self.follower else ""

    async def action_toggle_view(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "dashboard":
            tabs.active = "settings"
            form = await self._ensure_form()
            # the form itself, not a field: digits still switch screens, tab enters a field
            form.query_one("#form-scroll").focus()
        else:
            tabs.active = "dashboard"
            self.query_one(Dashboard).focus()

    def _problems(self) -> list[str]:
        """What stops a run: the form's messages, or the engine's checks if it was never
        opened (values loaded from project.toml were checked when it was read)."""
        form = self._form()
        if form is not None:
            return form.problems()
        try:
            pj.validate(self.app.project)
        except UserError as e:
            return [str(e)]
        return []

    def action_start_run(self) -> None:
        """Start a training run; asks first when one of this project is already running
        (the project's runs are listed in a thread: reading events can take a moment)."""
        problems = self._problems()
        if problems:
            self.query_one(TabbedContent).active = "settings"
            self.notify("cannot start: " + problems[0], title="Settings", severity="error")
            return
        if not self.app.save_project():
            return
        self.run_worker(self._check_then_start, thread=True, group="run-start",
                        exclusive=True, exit_on_error=False)

    def _check_then_start(self) -> None:
        live = [r for r in self._runs() if r.status in LIVE]
        self.app.call_from_thread(self._start_or_ask, live[-1].id if live else "")

    def _start_or_ask(self, running: str, message: str = "") -> None:
        if not running:
            self._start(force=False)
            return
        question = message or (f"Run {running} of this project is still training.\n"
                               "Start a second training run at the same time?")

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(force=True)
            else:
                self.notify("not started: one training run at a time")

        self.app.push_screen(ConfirmScreen(question), answered)

    def _start(self, force: bool) -> None:
        try:
            extra = {"force": True} if force else {}
            run_dir = self.app.engine.start_run(self.app.project, "train", **extra)
        except UserError as e:
            if type(e).__name__ == "JobRunning" and not force:  # the run supervisor's lock
                self._start_or_ask("?", f"{e}\nStart a second training run anyway?")
                return
            self.notify(str(e), title="Cannot start", severity="error")
            return
        self.query_one(TabbedContent).active = "dashboard"
        self.query_one(Dashboard).focus()
        self.attach(run_dir)
        self.notify(f"started {Path(run_dir).name} — it keeps running if you quit")
        form = self._form()
        note = form.note_for("train.optimizer") if form else optimizer_note(
            self.app.project.train.optimizer)
        if note:
            self.notify(optimizer_warning(note), severity="warning", timeout=10)

    def _need_live(self, what: str) -> bool:
        if not self.follower:
            self.notify("no run: start one with ctrl+g", severity="warning")
            return False
        if self._status() not in LIVE:
            self.notify(f"cannot {what}: run {self.run_dir.name} is {self._status()}",
                        severity="warning")
            return False
        return True

    def _send(self, command: str) -> None:
        try:
            self.app.engine.send(self.run_dir, command)
        except (UserError, OSError) as e:
            self.notify(str(e), severity="error")
            return
        self.notify(f"sent {command} to {self.run_dir.name}")

    def action_stop_run(self) -> None:
        if not self._need_live("stop"):
            return
        run = self.run_dir

        def answered(yes: bool | None) -> None:
            if yes and self.follower and self.follower.run_dir == run:
                self._send("stop")

        self.app.push_screen(ConfirmScreen(
            f"Stop run {run.name}?\nIt saves the current LoRA and exits."), answered)

    def action_pause_resume(self) -> None:
        if self._need_live("pause"):
            self._send("resume" if self._status() == "paused" else "pause")

    def action_sample_now(self) -> None:
        if self._need_live("sample"):
            self._send("sample-now")

    def action_open_samples(self) -> None:
        try:
            self.app.switch_mode("samples")
        except Exception as e:  # no samples mode in this app
            self.notify(f"no samples screen: {e}", severity="warning")

    def action_log_scale(self) -> None:
        chart = self.query_one(LossChart)
        chart.log_scale = not chart.log_scale

    def action_pick_run(self) -> None:
        """List the project's runs (a thread: reading long runs' events takes a moment)."""
        self.run_worker(self._list_runs_then_pick, thread=True, group="run-list",
                        exclusive=True, exit_on_error=False)

    def _list_runs_then_pick(self) -> None:
        found = self._runs()
        items = []
        for r in reversed(found):
            loss = f"{r.loss:.4f}" if r.loss is not None and math.isfinite(r.loss) else "–"
            items.append((str(r.path), f"{r.id}  {r.status:8} {r.step}/{r.total_steps} "
                                       f"loss {loss}"))
        self.app.call_from_thread(self._show_pick, items)

    def _show_pick(self, items: list[tuple[str, str]]) -> None:
        if not items:
            self.notify("no runs yet: start one with ctrl+g", severity="warning")
            return

        def picked(run: str | None) -> None:
            if run:
                self.attach(run)

        self.app.push_screen(PickScreen("Attach to run (enter), esc to cancel", items,
                                        str(self.run_dir or "")), picked)

    def action_resume_run(self) -> None:
        if not self.follower:
            self.notify("no run to resume", severity="warning")
            return
        if self._status() not in ("crashed", "stopped", "failed"):
            self.notify(f"run {self.run_dir.name} is {self._status()}: nothing to resume",
                        severity="warning")
            return
        run = self.run_dir

        def answered(yes: bool | None) -> None:
            if yes and self.follower and self.follower.run_dir == run:
                self._resume(run)

        self.app.push_screen(ConfirmScreen(
            f"Resume run {run.name}?\nIt goes on from its last saved state."), answered)

    def _resume(self, run: Path) -> None:
        try:
            run_dir = self.app.engine.resume_run(self.app.project, run.name)
        except UserError as e:
            self.notify(str(e), title="Cannot resume", severity="error")
            return
        self.attach(run_dir)
        self.notify(f"resuming {Path(run_dir).name}")

    def action_save_preset(self) -> None:
        def save(name: str) -> None:
            try:
                path = save_preset(self.app.project, name)
            except UserError as e:
                self.notify(str(e), severity="error")
                return
            self.notify(f"saved preset {path.name}")

        def named(name: str | None) -> None:
            if not name:
                return
            if name != SEED_PRESET and name in preset_names(self.app.project):  # asks first
                self.app.push_screen(ConfirmScreen(
                    f"Preset {name!r} exists. Replace it with the current settings?"),
                    lambda yes: save(name) if yes else self.notify(f"preset {name} kept"))
                return
            save(name)

        self.app.push_screen(PresetNameScreen(preset_names(self.app.project)), named)

    def action_load_preset(self) -> None:
        names = preset_names(self.app.project)

        def picked(name: str | None) -> None:
            if not name:
                return
            try:
                warnings = load_preset(self.app.project, name)
            except UserError as e:
                self.notify(str(e), severity="error")
                return
            form = self._form()
            if form is not None:
                form.reload()
            if not self._problems():
                self.app.save_project()
            self.notify(f"loaded preset {name}" + (f" ({'; '.join(warnings)})" if warnings
                                                   else "") +
                        f"; the settings before it are preset {PREVIOUS_PRESET!r} (ctrl+l)")

        self.app.push_screen(PickScreen("Load preset (enter), esc to cancel",
                                        [(n, n) for n in names]), picked)

    @on(SettingsForm.Changed)
    def _settings_changed(self, event: SettingsForm.Changed) -> None:
        """Each valid value is saved at once, whatever other field is refused; a refused
        combination keeps the edit pending (quitting then asks)."""
        form = self._form()
        if event.ok:
            self.app.save_project()
        elif form is not None:
            self.app.mark_unsaved(form.cross_error)

    def unsaved_problems(self) -> list[str]:
        """Settings on screen that are not in project.toml (refused text or combination)."""
        form = self._form()
        return form.problems() if form is not None else []
