"""onelora train / run-worker / runs / watch / stop."""

from __future__ import annotations

import argparse
import dataclasses

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
    p.add_argument("--force", action="store_true",
                   help="start even though a training run of this project is running")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    # what start_run spawns: no help= so that `onelora --help` does not list it (argparse
    # prints help=SUPPRESS as "run-worker  ==SUPPRESS==")
    p = sub.add_parser("run-worker", description="internal: the detached process of one run "
                       "(started by onelora train --detach and the TUI)")
    p.add_argument("run_dir", help="the run folder (DIR/runs/RUN)")
    p.add_argument("--resume", action="store_true", help="continue from the run's saved state")
    p.set_defaults(func=cmd_run_worker)

    p = sub.add_parser("runs", help="list the project's runs")
    p.add_argument("dir", help="project folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("watch", help="follow a run's events as plain text")
    p.add_argument("dir", help="project folder")
    p.add_argument("run", nargs="?", default=None, help="run id (default: the newest)")
    p.add_argument("--no-follow", action="store_true", help="print the history and exit")
    p.add_argument("--json", action="store_true",
                   help="print the raw events as JSON lines (one object per event)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("stop", help="ask a run to stop (it saves and exits)")
    p.add_argument("dir", help="project folder")
    p.add_argument("run", nargs="?", default=None,
                   help="run id (default: the project's one running run)")
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
            if r.status == "unreadable":
                lines.append(f"{r.id:32} {r.kind:6} unreadable: {r.reason}")
                continue
            loss = f"{r.loss:.4f}" if r.loss is not None else "-"
            line = (f"{r.id:32} {r.kind:6} {r.status:9} {r.step:>5}/{r.total_steps:<5} "
                    f"{r.epoch:>3}/{r.epochs:<3} {loss:>8}")
            if r.phase and r.phase != r.status:
                if r.status == "starting" and not r.step:  # what it does, in place of 0/0 0/0 -
                    line = f"{r.id:32} {r.kind:6} {r.status:9} {r.phase}"[:80]
                else:
                    line += f"  {r.phase}"
            if r.note:
                line += f"  ({r.note})"
            lines.append(line)
        return "\n".join(lines)

    payload = {"runs": [{k: (str(v) if k == "path" else v)
                         for k, v in dataclasses.asdict(r).items()} for r in infos]}
    emit(args, payload, text)
    return 0


def format_event(e: dict) -> str:
    """One readable line per event: its time and engine.events.describe."""
    from engine.events import describe, stamp

    return f"{stamp(e)} {describe(e)}"


def cmd_watch(args: argparse.Namespace) -> int:
    import json

    from engine import events, runs

    from engine.errors import UserError

    run_dir = runs.find_run(args.dir, args.run)
    first = runs.run_info(run_dir, excerpt=True)
    if first.status == "unreadable":
        raise UserError(f"run {first.id} is unreadable: {first.reason}")
    show = (lambda e: print(json.dumps(e), flush=True)) if args.json else \
        (lambda e: print(format_event(e), flush=True))
    if not args.json:
        print(f"# {run_dir}")
    reader = events.EventReader.for_run(run_dir)
    if not args.no_follow:
        stop = lambda: runs.run_info(run_dir, excerpt=True).status not in runs.ACTIVE  # noqa: E731
        for e in reader.follow(poll=0.5, stop=stop):
            show(e)
    for e in reader.read_new():
        show(e)
    if not args.json:
        info = runs.run_info(run_dir, excerpt=True)
        print(f"# run {info.id} is {info.status}" + (f": {info.reason}" if info.reason else "")
              + (f" ({info.note})" if info.note else ""))
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
    is missing or not SD1.x, or an optimizer this machine cannot run.  Nothing here imports
    torch (a .safetensors model is classified from its header; the worker checks again)."""
    import importlib.util

    from engine.cli.model_cmds import check_model
    from engine.errors import UserError

    spec = (project.train.model or "").strip().lower()
    if spec not in ("", "builtin:tiny", "tiny", "builtin"):  # the built-in model needs no check
        report = check_model(project.train.model, None)  # header only, no torch
        if not report["ok"]:
            raise UserError(f"train.model: {report['problem']}")
    from engine.init_lora import file_shapes

    file_shapes(project)  # train.init_lora: a missing or non-LoRA file is refused here, not in the run
    optimizer = project.train.optimizer
    if optimizer == "AdamW8bit" and (importlib.util.find_spec("bitsandbytes") is None
                                     or not _has_nvidia_gpu()):
        raise UserError("AdamW8bit needs bitsandbytes and a CUDA GPU; use optimizer = AdamW "
                        "(onelora train DIR --set optimizer=AdamW)")
    needs = {"Lion": "lion_pytorch", "Prodigy": "prodigyopt"}
    package = needs.get(optimizer)
    if package and importlib.util.find_spec(package) is None:
        pip = {"lion_pytorch": "lion-pytorch"}.get(package, package)
        raise UserError(f"optimizer = {project.train.optimizer} needs the {pip} package "
                        f"(pip install {pip}); or use optimizer = AdamW "
                        "(onelora train DIR --set optimizer=AdamW)")


def _has_nvidia_gpu() -> bool:
    import os

    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")


def cmd_train(args: argparse.Namespace) -> int:
    from engine import runs, supervisor
    from engine.errors import UserError

    project = training_project(args)
    if args.resume and (args.model or args.settings):
        raise UserError("--resume continues a run with its frozen settings; drop --model/--set "
                        "(or start a new run)")
    if not args.force and not args.resume:
        runs.check_no_job(project, "train")  # refuse at once, before the model check
    if not args.resume:
        preflight(project)
    else:  # a damaged state is one line here, before a process starts
        from engine.train import read_state
        read_state(runs.find_run(project.root, args.resume))
    if args.detach:
        run_dir = runs.start_run(project, "train", detach=True, resume=args.resume,
                                 force=args.force)
        info = runs.run_info(run_dir)
        doing = f" ({info.phase})" if info.phase and info.phase != info.status else ""
        emit(args, {"run": run_dir.name, "path": str(run_dir), "detached": True,
                    "status": info.status, "phase": info.phase},
             f"started run {run_dir.name}{doing}\n"
             f"follow it with: onelora watch {args.dir} {run_dir.name}")
        return 0

    run_dir = runs.start_run(project, "train", detach=False, resume=args.resume, force=args.force)
    if not args.json:
        print(f"# run {run_dir.name} (Ctrl-C stops it after the current step; "
              f"resume with --resume {run_dir.name})", flush=True)
    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    code = supervisor.run_here(run_dir, "train", resume=bool(args.resume),
                               on_event=supervisor.Printer(say), say=say)
    return finish_line(args, run_dir, code)


def finish_line(args: argparse.Namespace, run_dir, code: int) -> int:
    """The last line of a foreground run, and its exit code (the supervisor's)."""
    from engine import runs

    info = runs.run_info(run_dir, excerpt=True)
    emit(args, {"run": info.id, "path": str(run_dir), "status": info.status, "step": info.step,
                "epoch": info.epoch, "loss": info.loss, "reason": info.reason, "hint": info.hint},
         f"# run {info.id} is {info.status}" + (f": {info.reason}" if info.reason else "")
         + (f"\n# hint: {info.hint}" if info.hint and info.status == "failed" else ""))
    if info.status == "failed" and not getattr(args, "json", False):
        import sys

        print(f"onelora: run {info.id} failed: {info.reason}", file=sys.stderr)
    return code


def cmd_run_worker(args: argparse.Namespace) -> int:
    """The detached run process (engine/supervisor.py); kept for scripts that start it by hand."""
    from engine import supervisor

    return supervisor.main([args.run_dir] + (["--resume"] if args.resume else []))
