"""The samples screen: the epoch × weight grid of one prompt and seed, the overfit meter beside
it, the selected sample as a half-block image, and ``enter`` to pick the epoch.  An epoch whose
LoRA is saved but not sampled (sampling off, still drawing, or its samples deleted) has a row
too (cells "–"), so ``enter`` picks it all the same.

Rows are epochs, columns LoRA weights, the last column the overfit score (a bar; ★ marks the
suggested epoch).  Arrows move the cursor and the image follows it; ``enter`` copies that
epoch's LoRA to ``output/<trigger>.safetensors`` (engine.epochs.pick_epoch — no torch).
Everything is read from the run directory (``samples/epoch-NNN/index.json``, or the newest
pass ``epoch-NNN-2/`` ... when the epoch was sampled again, and
``overfit.json``, written by the sampling process), re-read every few seconds while a run
adds epochs.  At 80×24 the table and the image share the screen; ``z`` shows the image alone.

``c`` compares rounds: the epoch picked from an earlier run (``samples.picked_run`` /
``picked_epoch``, round one) becomes a ◆ row above this run's epochs, its cells the same prompt
and seed drawn by that LoRA (engine.epochs.picked_samples), so round two's new views can be
judged against it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from engine import epochs as ep
from engine import overfit
from engine.errors import UserError
from tui.keys import SCREEN_TAB_BINDINGS, TabFocus
from tui.messages import ProjectChanged
from tui.wording import TuiTerms
from tui.widgets.image_view import ImageView
from tui.widgets.key_footer import KeyFooter

def score_bar(score: float | None, width: int = 6) -> str:
    """A horizontal bar for a 0..1 score."""
    if score is None:
        return "–".ljust(width)
    filled = max(0, min(width, round(score * width)))
    return "█" * filled + "░" * (width - filled)


def _has_epochs(info) -> bool:
    """A run with an epoch to look at or pick: sampled, or a training run's saved LoRA."""
    return bool(ep.sampled_epochs(info.path)) or (
        info.kind == "train" and ep.has_saved_epochs(info.path))


class SamplesScreen(TabFocus, TuiTerms, Screen):
    """Samples per epoch × LoRA weight; pick the epoch that captured the character."""

    HELP_TITLE = "Samples"
    MAIN_WIDGET = "DataTable"
    HELP = ("Arrows move over the epoch × weight grid; the image shows that sample. "
            "enter picks the epoch (copies its LoRA to output/). [ ] change the prompt, "
            "s the seed, r the run, z the image alone, n samples the run now, c compares with the "
            "epoch picked from an earlier run (a ◆ row, same prompt and seed). "
            "The overfit column is the meter: "
            "how alike the samples are across seeds and to the crops (★ = suggested epoch).")
    BINDINGS = [
        *SCREEN_TAB_BINDINGS,
        Binding("enter", "pick", "Pick epoch", id="samples-pick", priority=True),
        Binding("right_square_bracket", "prompt(1)", "Prompt", tooltip="next prompt",
                id="samples-next-prompt"),
        Binding("left_square_bracket", "prompt(-1)", "Prev prompt", show=False,
                id="samples-prev-prompt"),
        Binding("s", "seed(1)", "Seed", show=False, id="samples-seed"),
        Binding("r", "run(1)", "Run", show=False, id="samples-run"),
        Binding("z", "zoom", "Image alone", show=False, id="samples-zoom"),
        Binding("c", "compare", "Compare rounds", show=False, id="samples-compare",
                tooltip="show the epoch picked from an earlier run (round one) as a ◆ row "
                        "above this run's epochs: same prompts and seeds"),
        # with the table hidden (z), the arrows still move over the grid
        Binding("up", "cursor('up')", "Up", show=False, id="samples-up"),
        Binding("down", "cursor('down')", "Down", show=False, id="samples-down"),
        Binding("left", "cursor('left')", "Left", show=False, id="samples-left"),
        Binding("right", "cursor('right')", "Right", show=False, id="samples-right"),
        Binding("n", "sample_now", "Sample now", show=False, id="samples-now",
                tooltip="Sample the run: a live training run samples after this step; a "
                        "finished one is sampled from its saved epochs in the background"),
    ]
    DEFAULT_CSS = """
    SamplesScreen #samples-head { height: auto; max-height: 5; padding: 0 1; }
    SamplesScreen #samples-sampling { height: 1; padding: 0 1; color: $warning; }
    SamplesScreen #samples-body { height: 1fr; }
    SamplesScreen #samples-left { width: 44; }
    SamplesScreen #samples-left.-hidden { display: none; }
    SamplesScreen DataTable { height: 1fr; }
    SamplesScreen #samples-meter { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    SamplesScreen #samples-right { width: 1fr; }
    SamplesScreen ImageView { height: 1fr; }
    SamplesScreen #samples-caption { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.run_dir: Path | None = None
        self.grid: ep.SampleGrid | None = None
        self.meter: dict = {"epochs": [], "suggested_epoch": None}
        self.prompt_pos = 0
        self.seed_pos = 0
        self.shown: ep.SampleRecord | None = None
        self._stamp: tuple = ()
        self.compare = False
        self.compare_note = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="samples-head")
        yield Static("", id="samples-sampling")
        with Horizontal(id="samples-body"):
            with Vertical(id="samples-left"):
                yield DataTable(id="samples-table", cursor_type="cell", zebra_stripes=True)
                yield Static("", id="samples-meter")
            with Vertical(id="samples-right"):
                yield ImageView(id="samples-image")
                yield Static("", id="samples-caption")
        yield KeyFooter(compact=True)

    POLL_S = 2.0
    """How often the run folders are looked at again (new epochs, sampling progress)."""

    def on_mount(self) -> None:
        self.query_one("#samples-sampling", Static).display = False
        self.choose_run(None)
        self.poll_runs()
        self.set_interval(self.POLL_S, self.reload_if_changed)

    @on(ProjectChanged)
    def _project_changed(self, message: ProjectChanged) -> None:
        self.choose_run(None)

    # -- data ----------------------------------------------------------------------------
    @property
    def project(self):
        return getattr(self.app, "project", None)

    def runs_with_epochs(self) -> list[Path]:
        """Runs with an epoch to look at or pick: sampled, or a training run's saved LoRA."""
        project = self.project
        if project is None:
            return []
        infos = self.app.engine.list_runs(project.root)
        return [Path(i.path) for i in infos if _has_epochs(i)]

    def choose_run(self, run_dir: Path | None) -> None:
        """Show ``run_dir`` (default: the picked run, else the newest run with epochs)."""
        candidates = self.runs_with_epochs()
        if run_dir is None and candidates:
            picked = self.project.samples.picked_run if self.project else ""
            named = [p for p in candidates if p.name == picked]
            run_dir = named[0] if named else candidates[-1]
        self.run_dir = run_dir
        self.prompt_pos = self.seed_pos = 0
        self.reload()

    def _current_stamp(self) -> tuple:
        if self.run_dir is None:
            return ()
        files = [ep.latest_pass_dir(self.run_dir, e) / ep.INDEX_FILE for e in ep.sampled_epochs(self.run_dir)]
        files.append(self.run_dir / overfit.OVERFIT_FILE)
        files += sorted(self.run_dir.glob("*.safetensors"))  # a newly saved epoch
        return tuple((str(f), f.stat().st_mtime_ns) for f in files if f.exists())

    def reload_if_changed(self) -> None:
        self.poll_runs()
        if self.run_dir is not None and self._current_stamp() != self._stamp:
            self.reload()

    def poll_runs(self) -> None:
        """Look at the project's runs in a thread (list_runs reads files: never the event
        loop): which one is drawing samples now, and the first run with samples."""
        self.run_worker(self._poll_runs_in_thread, thread=True, group="samples-poll",
                        exclusive=True, exit_on_error=False)

    def _poll_runs_in_thread(self) -> None:
        project = self.project
        if project is None:
            return
        infos = self.app.engine.list_runs(project.root)
        live = next((i for i in reversed(infos) if i.sampling), None)
        line = f"{live.sampling} · run {live.id}" if live is not None else ""
        self.app.call_from_thread(self._show_sampling, line)
        if self.run_dir is None and any(_has_epochs(i) for i in infos):
            self.app.call_from_thread(self._first_samples_appeared)

    def _show_sampling(self, line: str) -> None:
        """The "sampling epoch N: k/M images" line while a run draws samples; gone after."""
        status = self.query_one("#samples-sampling", Static)
        status.update(line)
        status.display = bool(line)

    def _first_samples_appeared(self) -> None:
        if self.run_dir is None:
            self.choose_run(None)

    def reload(self) -> None:
        if self.run_dir is None:
            self.grid = None
            self.meter = {"epochs": [], "suggested_epoch": None}
        else:
            self.grid = ep.SampleGrid.of_run(self.run_dir, saved=True)
            self.meter = overfit.read(self.run_dir)
            self._stamp = self._current_stamp()
            self.compare_note = ""
            if self.compare and self.project is not None:
                try:
                    self.grid = self.grid.compare_with(ep.picked_samples(self.project, self.run_dir))
                except UserError as e:
                    self.compare_note = str(e)
        self.build_table()

    # -- table ---------------------------------------------------------------------------
    @property
    def prompt_index(self) -> int | None:
        if not self.grid or not self.grid.prompts:
            return None
        return self.grid.prompts[self.prompt_pos % len(self.grid.prompts)][0]

    def seeds_of_prompt(self) -> list[int]:
        if not self.grid or self.prompt_index is None:
            return []
        return sorted({r.seed for r in self.grid.records if r.prompt_index == self.prompt_index})

    @property
    def seed(self) -> int | None:
        seeds = self.seeds_of_prompt()
        return seeds[self.seed_pos % len(seeds)] if seeds else None

    def build_table(self) -> None:
        table = self.query_one(DataTable)
        row, col = table.cursor_coordinate.row, table.cursor_coordinate.column
        table.clear(columns=True)
        head = self.query_one("#samples-head", Static)
        if not self.grid or not self.grid.epochs:
            head.update("No samples yet: a training run saves a LoRA and draws samples after "
                        "each epoch (sample_every_n_epochs); n samples a finished run.")
            self.query_one("#samples-meter", Static).update("")
            self.show_cell()
            return
        table.add_column("epoch", key="epoch")
        for w in self.grid.weights:
            table.add_column(f"w {w:g}", key=f"w{w:g}")
        if not self.grid.weights:  # saved LoRAs, no sample at all yet
            table.add_column("samples", key="samples")
        table.add_column("overfit", key="overfit")
        curve = {c["epoch"]: c for c in self.meter.get("epochs", [])}
        suggested = self.meter.get("suggested_epoch")
        picked = self.project.samples if self.project else None
        earlier = self.grid.earlier
        prompt = self.grid.prompt_text(self.prompt_index)
        if earlier is not None:
            cells = ["●" if earlier.cell(w, prompt, self.seed) else "·" for w in self.grid.weights]
            table.add_row(f"◆{earlier.epoch:>3}", *cells, "", key="earlier")
        for e in self.grid.epochs:
            mark = "★" if e == suggested else " "
            if picked and picked.picked_run == self.run_dir.name and picked.picked_epoch == e:
                mark = "✔"
            sampled = self.grid.sampled(e)
            cells = [("●" if self.grid.cell(e, w, self.prompt_index, self.seed) else "·")
                     if sampled else "–" for w in self.grid.weights] or ["–"]
            c = curve.get(e, {})
            score = c.get("score")
            table.add_row(f"{mark}{e:>3}", *cells,
                          f"{score_bar(score)} {'' if score is None else f'{score:.2f}'}",
                          key=str(e))
        prompts = self.grid.prompts
        text = prompts[self.prompt_pos % len(prompts)][1] if prompts else ""
        if prompts:
            head.update(f"run {self.run_dir.name} · prompt {self.prompt_pos % len(prompts) + 1}/"
                        f"{len(prompts)} · seed {self.seed}\n{text}")
        else:
            head.update(f"run {self.run_dir.name}: epoch LoRAs saved, no samples yet\n"
                        "enter picks the highlighted epoch; n samples the run")
        if earlier is not None:
            head.update(f"run {self.run_dir.name} · ◆ = picked epoch {earlier.epoch} of run "
                        f"{earlier.run_dir.name} · seed {self.seed}\n{text}")
        elif self.compare_note:
            head.update(f"compare: {self.compare_note}\n{text}")
        meter = (f"★ suggested epoch {suggested}" if suggested else "overfit: not measured")
        meter += " · overfit = seeds alike + like a crop"
        if any(not self.grid.sampled(e) for e in self.grid.epochs):
            meter += " · – = LoRA saved, not sampled yet"
        self.query_one("#samples-meter", Static).update(meter)
        table.move_cursor(row=min(row, table.row_count - 1),
                          column=max(1, min(col, len(self.grid.weights))), animate=False)
        self.show_cell()

    def on_earlier_row(self) -> bool:
        """True when the cursor is on the ◆ row (the earlier run's picked epoch)."""
        return bool(self.grid and self.grid.earlier and self.query_one(DataTable).cursor_row == 0)

    def cursor_cell(self) -> tuple[int | None, float | None]:
        """(epoch, weight) under the cursor (on the ◆ row: the earlier run's epoch)."""
        if not self.grid or not self.grid.epochs:
            return None, None
        table = self.query_one(DataTable)
        row, col = table.cursor_coordinate.row, table.cursor_coordinate.column
        if self.grid.earlier is not None:
            if row == 0:
                return self.grid.earlier.epoch, self._weight_at(col)
            row -= 1
        epoch = self.grid.epochs[min(row, len(self.grid.epochs) - 1)]
        return epoch, self._weight_at(col)

    def _weight_at(self, col: int) -> float | None:
        weights = self.grid.weights
        if not weights:
            return None
        return weights[col - 1] if 1 <= col <= len(weights) else weights[-1]

    def show_cell(self) -> None:
        view = self.query_one(ImageView)
        caption = self.query_one("#samples-caption", Static)
        epoch, weight = self.cursor_cell()
        earlier = self.grid.earlier if self.on_earlier_row() else None
        if earlier is not None:
            rec = earlier.cell(weight, self.grid.prompt_text(self.prompt_index), self.seed)
        else:
            rec = self.grid.cell(epoch, weight, self.prompt_index, self.seed) \
                if (self.grid and epoch is not None) else None
        self.shown = rec
        if rec is None:
            if earlier is not None:
                why = f"run {earlier.run_dir.name} has no sample of this prompt and seed"
            elif epoch is not None and not self.grid.sampled(epoch):
                why = f"epoch {epoch}: LoRA saved, no samples yet"  # the head says the keys
            else:
                why = "no sample here"
            view.set_image(None, why)
            caption.update("")
            return
        path = earlier.path(rec) if earlier is not None else self.run_dir / rec.file
        try:
            with Image.open(path) as img:
                view.set_image(img.convert("RGB"))
        except OSError as e:
            view.set_image(None, f"cannot read {rec.file}: {e}")
        where = f"◆ run {earlier.run_dir.name} " if earlier is not None else ""
        again = ep.pass_number(rec)  # a later `onelora sample` of the epoch: its newest pass
        caption.update(f"{where}epoch {rec.epoch} · weight {rec.weight:g} · seed {rec.seed}"
                       + (f" · pass {again}" if again > 1 else ""))

    @on(DataTable.CellHighlighted)
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        self.show_cell()

    # -- actions -------------------------------------------------------------------------
    def action_pick(self) -> None:
        epoch, _ = self.cursor_cell()
        if self.project is None:
            return
        if epoch is None or self.run_dir is None:
            self.notify(self._why_nothing_to_pick(), title="nothing to pick", severity="warning",
                        timeout=8)
            return
        if self.on_earlier_row():
            self.notify(f"the ◆ row is epoch {epoch} of run {self.grid.earlier.run_dir.name}, "
                        "picked already", severity="warning")
            return
        try:
            kept: list[Path] = []
            dest = ep.pick_epoch(self.project, self.run_dir, epoch, kept=kept)
        except UserError as e:
            self.notify(str(e), title="not picked", severity="error", timeout=8)
            return
        except OSError as e:
            self.notify(f"could not write the output LoRA: {e}", severity="error", timeout=8)
            return
        try:  # a path inside the project, so the toast does not break it mid-name at 80 columns
            shown = dest.relative_to(self.project.root)
        except ValueError:
            shown = dest
        self.notify(f"picked epoch {epoch}: {shown} (enter on another epoch picks that one "
                    "instead)" + "".join(f"; the LoRA it replaced exists nowhere else: kept as "
                                         f"{k.name}" for k in kept), title="LoRA picked")
        self.build_table()

    def _why_nothing_to_pick(self) -> str:
        """Why no run has an epoch to pick, naming the run and what to do."""
        trains = [i for i in self.app.engine.list_runs(self.project.root) if i.kind == "train"]
        if not trains:
            return ("no training run yet: start one on Train (4, then ctrl+g); each epoch saves a "
                    "LoRA that enter picks here")
        last = trains[-1]
        return (f"run {last.id} ({last.status}) has saved no epoch LoRA yet: it saves one "
                "every save_every_n_epochs epochs (Train settings)")

    def action_prompt(self, delta: int) -> None:
        if self.grid and self.grid.prompts:
            self.prompt_pos = (self.prompt_pos + delta) % len(self.grid.prompts)
            self.seed_pos = 0
            self.build_table()

    def action_seed(self, delta: int) -> None:
        seeds = self.seeds_of_prompt()
        if seeds:
            self.seed_pos = (self.seed_pos + delta) % len(seeds)
            self.build_table()

    def action_run(self, delta: int) -> None:
        runs = self.runs_with_epochs()
        if not runs:
            return
        i = runs.index(self.run_dir) if self.run_dir in runs else -1
        self.choose_run(runs[(i + delta) % len(runs)])
        self.notify(f"run {self.run_dir.name}")

    def action_sample_now(self) -> None:
        """Live training run → its ``sample-now`` command; finished run → a "sample" run."""
        project = self.project
        if project is None:
            return
        infos = self.app.engine.list_runs(project.root)
        trains = [i for i in infos if i.kind == "train"]
        target = next((i for i in trains if self.run_dir is not None and i.id == self.run_dir.name),
                      trains[-1] if trains else None)
        if target is None:
            self.notify("no training run to sample yet", severity="warning")
            return
        try:
            if target.status in ("running", "paused", "starting"):
                self.app.engine.send(target.path, "sample-now")
                self.notify(f"run {target.id} will sample after its current step")
            else:  # a single key that starts a run: ask once
                self._ask_to_sample(target.id)
        except UserError as e:
            self.notify(str(e), title="not sampled", severity="error", timeout=8)

    def _ask_to_sample(self, run_id: str) -> None:
        from tui.widgets.train_dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if not yes or self.project is None:
                return
            try:
                run_dir = self.app.engine.start_run(self.project, "sample", source_run=run_id)
            except UserError as e:
                self.notify(str(e), title="not sampled", severity="error", timeout=8)
                return
            self.notify(f"sampling run {run_id} in the background ({Path(run_dir).name})")

        self.app.push_screen(ConfirmScreen(
            f"Sample the saved epochs of run {run_id}?\nIt runs in the background."), answered)

    def action_compare(self) -> None:
        """Show or hide the earlier run's picked epoch as the ◆ row (round one vs round two)."""
        self.compare = not self.compare
        self.reload()
        if not self.compare:
            self.notify("compare off")
        elif self.compare_note:
            self.notify(self.compare_note, title="nothing to compare", severity="warning", timeout=8)
        elif self.grid and self.grid.earlier:
            self.notify(f"◆ = picked epoch {self.grid.earlier.epoch} of run "
                        f"{self.grid.earlier.run_dir.name}")

    def action_zoom(self) -> None:
        left = self.query_one("#samples-left")
        left.toggle_class("-hidden")
        if not left.has_class("-hidden"):
            self.query_one(DataTable).focus()

    def action_cursor(self, direction: str) -> None:
        """Arrows while the table is hidden (image alone): move its cursor all the same."""
        getattr(self.query_one(DataTable), f"action_cursor_{direction}")()
