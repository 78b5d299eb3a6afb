"""onelora runs / watch / stop (and train, run-worker, inspect from the training engine)."""

from __future__ import annotations

import argparse
import dataclasses
import time

from engine.cli import emit


def register(sub) -> None:
    p = sub.add_parser("runs", help="list the project's runs")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("watch", help="follow a run's events as plain text")
    p.add_argument("dir")
    p.add_argument("run", nargs="?", default=None, help="run id (default: the newest)")
    p.add_argument("--no-follow", action="store_true", help="print the history and exit")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("stop", help="ask a run to stop (it saves and exits)")
    p.add_argument("dir")
    p.add_argument("run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stop)


def cmd_runs(args: argparse.Namespace) -> int:
    from engine import runs

    infos = runs.list_runs(args.dir)

    def text() -> str:
        if not infos:
            return f"no runs in {args.dir}/runs"
        lines = [f"{'run':32} {'kind':6} {'status':9} {'step':>11} {'epoch':>7} {'loss':>8}"]
        for r in infos:
            loss = f"{r.loss:.4f}" if r.loss is not None else "-"
            lines.append(f"{r.id:32} {r.kind:6} {r.status:9} {r.step:>5}/{r.total_steps:<5} "
                         f"{r.epoch:>3}/{r.epochs:<3} {loss:>8}")
        return "\n".join(lines)

    payload = {"runs": [{k: (str(v) if k == "path" else v)
                         for k, v in dataclasses.asdict(r).items()} for r in infos]}
    emit(args, payload, text)
    return 0


def format_event(e: dict) -> str:
    """One readable line per event (shared by `watch` and the TUI's event list)."""
    from engine.events import as_float

    k = e.get("kind", "?")
    stamp = time.strftime("%H:%M:%S", time.localtime(float(e.get("t", 0))))
    if k == "step":
        lrs = " ".join(f"{g}={as_float(v):.2e}" for g, v in (e.get("lr") or {}).items())
        return (f"{stamp} step {e.get('step')}/{e.get('total_steps', '?')} epoch {e.get('epoch')} "
                f"loss {as_float(e.get('loss')):.4f} ema {as_float(e.get('loss_ema')):.4f} "
                f"{as_float(e.get('it_s')):.2f} it/s {lrs}")
    if k == "nonfinite":
        return (f"{stamp} !! NON-FINITE {e.get('what')} at step {e.get('step')} "
                f"files {', '.join(map(str, e.get('files', [])))} -> {e.get('action')}")
    if k in ("failed", "stopped", "finished"):
        extra = " ".join(f"{key}={e[key]}" for key in ("reason", "hint", "path") if e.get(key))
        return f"{stamp} {k.upper()} {extra}".rstrip()
    rest = " ".join(f"{key}={v}" for key, v in e.items() if key not in ("t", "kind"))
    return f"{stamp} {k} {rest}".rstrip()


def cmd_watch(args: argparse.Namespace) -> int:
    from engine import events, runs

    run_dir = runs.find_run(args.dir, args.run)
    print(f"# {run_dir}")
    reader = events.EventReader.for_run(run_dir)
    if args.no_follow:
        for e in reader.read_new():
            print(format_event(e))
        return 0
    stop = lambda: runs.run_info(run_dir).status not in ("running", "paused", "starting")  # noqa: E731
    for e in reader.follow(poll=0.5, stop=stop):
        print(format_event(e), flush=True)
    for e in reader.read_new():
        print(format_event(e))
    info = runs.run_info(run_dir)
    print(f"# run {info.id} is {info.status}" + (f": {info.reason}" if info.reason else ""))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from engine import runs

    run_dir = runs.stop_run(args.dir, args.run)
    emit(args, {"run": run_dir.name, "command": "stop"}, f"asked run {run_dir.name} to stop")
    return 0
