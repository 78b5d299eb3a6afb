"""Benchmark: the training dashboard opening a long run and following a live one.

Prints ONE JSON line:

- ``open_100k_s``: attach the TrainScreen to a run whose events.jsonl has 100,000 lines, until
  the dashboard shows the last step (history read in one pass, folded, drawn once).
- ``naive_open_100k_s``: the same file through a naive follower that posts one message per
  line and updates the widgets for each (measured in the same run; after 20 s it is
  extrapolated from the lines done, see ``naive_lines_done``).
- ``live_*``: a writer appends step events at 50/s (and then a burst at 1000/s) while keys are
  pressed; ``live_max_lag_s`` is the worst delay between a step being written and shown,
  ``key_latency_ms_p95`` the time from a key press to its action having run, ``updates_drawn`` vs
  ``events_written`` shows the coalescing.

Run: ``.venv/bin/python bench/events_follow.py`` (headless, no torch, ~1 minute).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult  # noqa: E402
from textual.message import Message  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import Static  # noqa: E402

from engine import project as pj  # noqa: E402
from engine import runs  # noqa: E402
from engine.api import Engine  # noqa: E402
from engine.events import EventWriter  # noqa: E402
from tui.run_watch import format_event  # noqa: E402
from tui.screens.train import TrainScreen  # noqa: E402
from tui.widgets.loss_chart import LossChart  # noqa: E402

N_LINES = 100_000
NAIVE_CAP_S = 20.0


class Host(App):
    def __init__(self, project: pj.Project) -> None:
        super().__init__()
        self.project = project
        self.engine = Engine()

    def save_project(self) -> bool:
        pj.save(self.project)
        return True


def make_run(root: Path, name: str, n_steps: int) -> Path:
    project = pj.Project(trigger="bench", root=root)
    root.mkdir(parents=True, exist_ok=True)
    pj.save(project)
    run_dir = runs.runs_root(root) / name
    run_dir.mkdir(parents=True)
    runs.freeze_config(project, run_dir, "train")
    (run_dir / "pid").write_text(str(os.getpid()))
    lines = [json.dumps({"t": 1.7e9, "kind": "started", "total_steps": n_steps, "epochs": 10,
                         "steps_per_epoch": n_steps // 10, "device": "cuda",
                         "precision": "bf16"})]
    for s in range(1, n_steps):
        lines.append(json.dumps({
            "t": 1.7e9 + s * 0.1, "kind": "step", "step": s, "epoch": 1 + s * 10 // n_steps,
            "total_steps": n_steps, "loss": 0.1 + 1.0 / s, "loss_ema": 0.1 + 1.2 / s,
            "lr": {"unet": 1e-3, "text_encoder": 5e-4}, "it_s": 9.5, "vram_mb": 4100.0,
            "files": ["crops/face.png"]}, separators=(",", ":")))
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


class NaiveEvent(Message):
    """One message per line, never coalesced (the baseline)."""

    def __init__(self, event: dict) -> None:
        super().__init__()
        self.event = event


class NaiveScreen(Screen):
    """Updates its widgets for every single event line."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.xs: list[float] = []
        self.raw: list[float] = []
        self.ema: list[float] = []
        self.seen = 0
        self.t0 = time.perf_counter()
        self.done_at: float | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="line")
        yield LossChart()

    def on_mount(self) -> None:
        def read() -> None:
            with open(self.run_dir / "events.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    self.post_message(NaiveEvent(json.loads(line)))

        threading.Thread(target=read, daemon=True).start()

    def on_naive_event(self, message: NaiveEvent) -> None:
        if self.done_at is not None:
            return  # over the cap: drain the queue without work
        e = message.event
        self.seen += 1
        if self.seen == N_LINES or time.perf_counter() - self.t0 > NAIVE_CAP_S:
            self.done_at = time.perf_counter()
        self.query_one("#line", Static).update(format_event(e))
        if e["kind"] == "step":
            self.xs.append(e["step"])
            self.raw.append(e["loss"])
            self.ema.append(e["loss_ema"])
            self.query_one(LossChart).set_data(self.xs, self.raw, self.ema)


async def bench_open(root: Path) -> float:
    run_dir = make_run(root / "open", "20250101-000000-train", N_LINES)
    app = Host(pj.load(root / "open"))
    async with app.run_test(size=(80, 24)) as pilot:
        t0 = time.perf_counter()
        screen = TrainScreen()
        await app.push_screen(screen)
        while screen.snapshot.get("step") != N_LINES - 1:
            await asyncio.sleep(0.005)
        await pilot.pause()
        elapsed = time.perf_counter() - t0
        assert screen.snapshot["run"] == run_dir.name
    return elapsed


async def bench_naive(root: Path) -> tuple[float, int]:
    run_dir = make_run(root / "naive", "20250101-000000-train", N_LINES)
    app = Host(pj.load(root / "naive"))
    async with app.run_test(size=(80, 24)):
        screen = NaiveScreen(run_dir)
        await app.push_screen(screen)
        while screen.done_at is None:
            await asyncio.sleep(0.01)
        return screen.done_at - screen.t0, screen.seen


async def bench_live(root: Path) -> dict:
    project = pj.Project(trigger="bench", root=root / "live")
    (root / "live").mkdir(parents=True)
    pj.save(project)
    run_dir = runs.runs_root(project.root) / "20250101-000000-train"
    run_dir.mkdir(parents=True)
    runs.freeze_config(project, run_dir, "train")
    (run_dir / "pid").write_text(str(os.getpid()))
    app = Host(project)
    written: dict[int, float] = {}
    lags: list[float] = []
    key_ms: list[float] = []
    stop = threading.Event()

    def writer(rate: float, seconds: float, start: int) -> int:
        w = EventWriter(run_dir)
        if start == 1:
            w.emit("started", total_steps=10**6, epochs=10, steps_per_epoch=10**5,
                   device="cuda", precision="bf16")
        s, t_end = start, time.perf_counter() + seconds
        while time.perf_counter() < t_end and not stop.is_set():
            written[s] = time.perf_counter()
            w.emit("step", step=s, epoch=1, total_steps=10**6, loss=1.0 / s, loss_ema=1.0 / s,
                   lr={"unet": 1e-3, "text_encoder": 5e-4}, it_s=rate, vram_mb=4000.0,
                   files=["crops/face.png"])
            s += 1
            time.sleep(1.0 / rate)
        w.close()
        return s

    async with app.run_test(size=(80, 24)) as pilot:
        screen = TrainScreen()
        await app.push_screen(screen)
        await screen._ensure_form()  # the one-time settings-form build is not the live cost
        await pilot.pause()
        result: dict[str, int] = {}
        th = threading.Thread(target=lambda: result.update(
            end=writer(1000.0, 2.0, writer(50.0, 4.0, 1))), daemon=True)
        th.start()
        last_seen = 0
        chart = screen.query_one(LossChart)
        while th.is_alive():
            before, t0 = chart.log_scale, time.perf_counter()
            app.simulate_key("l")  # log-scale toggle: a real binding, redraws the chart
            while chart.log_scale == before:
                await asyncio.sleep(0.001)
            key_ms.append((time.perf_counter() - t0) * 1000)
            step = screen.snapshot.get("step", 0)
            if step and step != last_seen and step in written:
                lags.append(time.perf_counter() - written[step])
                last_seen = step
            await asyncio.sleep(0.02)
        th.join()
        while screen.snapshot.get("step") != result["end"] - 1:
            await asyncio.sleep(0.01)
        key_ms.sort()
        return {"live_max_lag_s": round(max(lags), 3) if lags else None,
                "live_mean_lag_s": round(sum(lags) / len(lags), 3) if lags else None,
                "key_latency_ms_p95": round(key_ms[int(len(key_ms) * 0.95)], 1),
                "key_latency_ms_max": round(key_ms[-1], 1),
                "events_written": result["end"] - 1, "updates_drawn": screen.updates}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        open_s = await bench_open(root)
        naive_s, naive_done = await bench_naive(root)
        if naive_done < N_LINES:  # capped: extrapolate linearly (it only gets slower)
            naive_s = naive_s * N_LINES / max(naive_done, 1)
        live = await bench_live(root)
    print(json.dumps({
        "bench": "events_follow", "lines": N_LINES,
        "open_100k_s": round(open_s, 3),
        "naive_open_100k_s": round(naive_s, 3), "naive_lines_done": naive_done,
        "naive_extrapolated": naive_done < N_LINES, **live,
        "live_rate_eps": [50, 1000], "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    asyncio.run(main())
