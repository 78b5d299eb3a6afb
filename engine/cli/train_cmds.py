"""onelora train / run-worker / runs / watch / stop."""

from __future__ import annotations

import argparse
import dataclasses
import time

from engine.cli import emit


def register(sub) -> None:
    p = sub.add_parser("train", help="train the LoRA (foreground, or --detach to run on its own)")
    p.add_argument("dir", help="project folder")
    p.add_argument("--model", default=None,
                   help="base model: SD1.x .safetensors/.ckpt, a diffusers folder, or builtin:tiny")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting for this run only (train fields by bare name, e.g. "
                        "epochs=2, unet_lr=1e-4, down_lr_weight=1,0,...; others as section.key)")
    p.add_argument("--detach", action="store_true",
                   help="start the run in the background, print its id and return at once")
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="continue a stopped or crashed run from its last saved state")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run-worker", help=argparse.SUPPRESS)  # what start_run spawns
    p.add_argument("run_dir")
    p.add_argument("--resume", action="store_true")
    p.set_defaults(func=cmd_run_worker)

    p = sub.add_parser("runs", help="list the project's runs")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("watch", help="follow a run's events as plain text")
    p.add_argument("dir")
    p.add_argument("run", nargs="?", default=None, help="run id (default: the newest)")
    p.add_argument("--no-follow", action="store_true", help="print the history and exit")
    p.add_argument("--json", action="store_true",
                   help="print the raw events as JSON lines (one object per event)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("stop", help="ask a run to stop (it saves and exits)")
    p.add_argument("dir")
    p.add_argument("run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stop)


def cmd_runs(args: argparse.Namespace) -> int:
    from engine import runs
    from engine.project import load

    load(args.dir)  # a folder with no project.toml is a mistake, not an empty list
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
    if k == "started" and "steps_per_epoch" in e:
        resumed = f" (resumed at step {e['resumed_from']})" if e.get("resumed_from") is not None else ""
        return (f"{stamp} started{resumed}: {e.get('total_steps')} steps = {e.get('epochs')} epochs × "
                f"{e.get('steps_per_epoch')}; {e.get('model_label') or e.get('model')}; "
                f"{e.get('device')} {e.get('precision')}; latents {e.get('latents')}")
    if k in ("failed", "stopped", "finished"):
        extra = " ".join(f"{key}={e[key]}" for key in ("reason", "hint", "path") if e.get(key))
        return f"{stamp} {k.upper()} {extra}".rstrip()
    rest = " ".join(f"{key}={v}" for key, v in e.items() if key not in ("t", "kind"))
    return f"{stamp} {k} {rest}".rstrip()


def cmd_watch(args: argparse.Namespace) -> int:
    import json

    from engine import events, runs

    run_dir = runs.find_run(args.dir, args.run)
    show = (lambda e: print(json.dumps(e), flush=True)) if args.json else \
        (lambda e: print(format_event(e), flush=True))
    if not args.json:
        print(f"# {run_dir}")
    reader = events.EventReader.for_run(run_dir)
    if not args.no_follow:
        stop = lambda: runs.run_info(run_dir).status not in ("running", "paused", "starting")  # noqa: E731
        for e in reader.follow(poll=0.5, stop=stop):
            show(e)
    for e in reader.read_new():
        show(e)
    if not args.json:
        info = runs.run_info(run_dir)
        print(f"# run {info.id} is {info.status}" + (f": {info.reason}" if info.reason else ""))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from engine import runs

    run_dir = runs.stop_run(args.dir, args.run)
    emit(args, {"run": run_dir.name, "command": "stop"}, f"asked run {run_dir.name} to stop")
    return 0


# ---------------------------------------------------------------------------------------
# train and run-worker
# ---------------------------------------------------------------------------------------


def training_project(args: argparse.Namespace):
    """The project with --model/--set applied (for this run only; project.toml is untouched)."""
    from engine import project as pj
    from engine.errors import UserError

    project = pj.load(args.dir)
    if args.model:
        project.train.model = args.model
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item!r}: use KEY=VALUE, e.g. --set epochs=2")
        pj.set_setting(project, key.strip(), value.strip())
    pj.validate(project)
    return project


def preflight(project) -> None:
    """Refuse, before a run folder is made, a run that would fail at once: a model file that
    is missing or not SD1.x, or an optimizer this machine cannot run (AdamW8bit without a GPU)."""
    import torch

    from engine import training_utils as tu
    from engine.cli.model_cmds import check_model
    from engine.errors import UserError

    report = check_model(project.train.model, None)
    if not report["ok"]:
        raise UserError(f"train.model: {report['problem']}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    probe = [{"params": [torch.zeros(1, requires_grad=True)]}]
    tu.make_optimizer(project.train.optimizer, probe, 1e-3, 0.0, device)


def cmd_train(args: argparse.Namespace) -> int:
    from engine import runs
    from engine.errors import UserError

    project = training_project(args)
    if args.resume and (args.model or args.settings):
        raise UserError("--resume continues a run with its frozen settings; drop --model/--set "
                        "(or start a new run)")
    if not args.resume:
        preflight(project)
    else:  # a damaged state is one line here, before a process starts
        from engine.train import read_state
        read_state(runs.find_run(project.root, args.resume))
    if args.detach:
        run_dir = runs.start_run(project, "train", detach=True, resume=args.resume)
        emit(args, {"run": run_dir.name, "path": str(run_dir), "detached": True},
             f"started run {run_dir.name} (follow it: onelora watch {args.dir} {run_dir.name})")
        return 0

    run_dir = runs.start_run(project, "train", detach=False, resume=args.resume)
    if not args.json:
        print(f"# run {run_dir.name} (Ctrl-C stops it after the current step; "
              f"resume with --resume {run_dir.name})", flush=True)

    def work() -> None:
        from engine.train import train

        train(run_dir, resume=bool(args.resume))

    def show(e: dict) -> None:
        if not args.json:
            print(format_event(e), flush=True)

    runs.run_foreground(run_dir, work, show)
    info = runs.run_info(run_dir)
    emit(args, {"run": info.id, "path": str(run_dir), "status": info.status, "step": info.step,
                "epoch": info.epoch, "loss": info.loss, "reason": info.reason, "hint": info.hint},
         f"# run {info.id} is {info.status}" + (f": {info.reason}" if info.reason else "")
         + (f"\n# hint: {info.hint}" if info.hint and info.status == "failed" else ""))
    return 1 if info.status == "failed" else 0


def cmd_run_worker(args: argparse.Namespace) -> int:
    """The detached run process: dispatch on the run's kind; any error ends as a `failed`
    event (train() writes its own) and exit status 1."""
    import signal
    import traceback
    from pathlib import Path

    from engine import events, runs
    from engine.errors import UserError

    run_dir = Path(args.run_dir)
    kind = runs.read_config(run_dir).get("run", {}).get("kind", "train")
    # `kill PID` (SIGTERM) asks the run to stop like the UI's stop: it saves state and ends cleanly.
    signal.signal(signal.SIGTERM, lambda *_: runs.send_command(run_dir, "stop"))
    try:
        if kind == "train":
            from engine.train import train
            train(run_dir, resume=args.resume)
            return 0
        if kind == "grow":
            from engine.grow import grow_worker
            return int(grow_worker(run_dir) or 0)
        from engine import sample
        worker = {"sample": getattr(sample, "sample_run_worker", None),
                  "reg": getattr(sample, "reg_worker", None)}.get(kind)
        if worker is None:
            raise UserError(f"run kind {kind!r} is not known to this onelora")
        return int(worker(run_dir) or 0)
    except BaseException as e:  # noqa: BLE001 — the run must end with an event
        traceback.print_exc()
        last = events.read_events(run_dir)[-1:] or [{}]
        if last[0].get("kind") not in events.END_KINDS:
            with events.EventWriter(run_dir) as w:
                hint = ("fix the setting and start again" if isinstance(e, UserError)
                        else "see worker.log in the run folder; this is a bug")
                w.emit("failed", reason=f"{type(e).__name__}: {e}" if not isinstance(e, UserError)
                       else str(e), hint=hint)
        return 1
