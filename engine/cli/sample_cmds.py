"""onelora sample / pick / reg: samples of a run's epochs, picking the output LoRA, and the
regularization images (generate, preview, prune)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from engine.cli import emit
from engine.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("sample", help="sample a training run's saved epochs at a few LoRA weights")
    p.add_argument("dir", help="project folder")
    p.add_argument("run", nargs="?", default="latest", help="training run id (default: newest)")
    p.add_argument("--epochs", help="comma-separated epochs, e.g. 3,5,10 (default: all saved)")
    p.add_argument("--weights", help="comma-separated LoRA weights between -2 and 3 "
                                     "(default: samples.weights)")
    p.add_argument("--model", help="base model (default: train.model)")
    p.add_argument("--detach", action="store_true", help="run in the background and return")
    p.add_argument("--force", action="store_true",
                   help="start even though a sampling job of this project is running")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("pick", help="copy one epoch's LoRA to DIR/output/<run output name or trigger>.safetensors")
    p.add_argument("dir", help="project folder")
    p.add_argument("run", help="training run id (or 'latest')")
    p.add_argument("epoch", type=int, help="the epoch whose LoRA to take (see onelora runs)")
    p.add_argument("--force", action="store_true",
                   help="copy the epoch even if training marked it diverged")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pick)

    p = sub.add_parser("reg", help="generate, preview or prune regularization images")
    p.add_argument("dir", help="project folder")
    p.add_argument("--count", type=int, help="how many images in all (saved as reg.count)")
    p.add_argument("--prompt", help="class prompt with {a|b} and __wildcard__ (saved as reg.prompt)")
    p.add_argument("--negative", help="negative prompt (saved as reg.negative)")
    p.add_argument("--model", help="base model for generation (default: train.model)")
    p.add_argument("--preview", type=int, metavar="N",
                   help="print the first N expanded prompts and exit")
    p.add_argument("--remove", nargs="+", metavar="IMAGE",
                   help="prune these images (file names such as 0003.png, or numbers)")
    p.add_argument("--detach", action="store_true", help="run in the background and return")
    p.add_argument("--force", action="store_true",
                   help="start even though a generation job of this project is running")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reg)


def _numbers(text: str | None, kind, what: str) -> list | None:
    if not text:
        return None
    example = "3,5" if kind is int else "0.6,0.8"
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
        if not all(math.isfinite(v) for v in values):  # a nan/inf LoRA weight samples garbage
            raise ValueError
        return values
    except (ValueError, OverflowError):
        raise UserError(f"--{what} {text!r}: use comma-separated finite numbers, "
                        f"e.g. {example}") from None


def _finish(args: argparse.Namespace, run_dir: Path, kind: str) -> dict:
    """Run a job in this process (not detached) with progress lines, through the supervisor,
    and turn its end into an exit status."""
    from engine import runs, supervisor

    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    say(f"# run {run_dir.name} (Ctrl-C stops it)")
    supervisor.run_here(run_dir, kind, on_event=supervisor.Printer(say, every=2.0), say=say)
    info = runs.run_info(run_dir)
    if info.status == "failed":
        raise UserError(f"run {info.id} failed: {info.reason}" + (f" ({info.hint})" if info.hint else ""))
    return {"run": info.id, "status": info.status, "path": str(run_dir)}


def cmd_sample(args: argparse.Namespace) -> int:
    from engine import epochs as ep
    from engine import overfit, runs
    from engine.project import load

    epochs = _numbers(args.epochs, int, "epochs")
    weights = _numbers(args.weights, float, "weights")
    if weights is not None:
        ep.check_lora_weights(weights, f"--weights {args.weights}")
    project = load(args.dir)
    if weights is None:
        ep.check_lora_weights(project.samples.weights, f"samples.weights in {args.dir}/project.toml")
    source = ep.find_training_run(project, args.run)
    saved = ep.epoch_files(source)
    if not saved:
        raise UserError(f"run {source.name} has no saved LoRA files yet")
    for e in epochs or []:
        if e not in saved:
            raise UserError(f"run {source.name} has no LoRA for epoch {e}; saved: "
                            f"{', '.join(map(str, saved))}")
    run_dir = runs.start_run(project, "sample", detach=args.detach, force=args.force,
                             source_run=source.name, epochs=epochs, weights=weights,
                             model=args.model)
    if args.detach:
        emit(args, {"run": run_dir.name, "path": str(run_dir), "detached": True},
             f"sampling run {source.name} in the background: {run_dir.name}\n"
             f"follow it with: onelora watch {args.dir} {run_dir.name}")
        return 0
    result = _finish(args, run_dir, "sample")
    meter = overfit.read(source)
    grids = [str(ep.latest_pass_dir(source, e) / ep.GRID_FILE) for e in ep.sampled_epochs(source)]
    payload = {**result, "source_run": source.name, "grids": grids,
               "overfit": meter.get("epochs", []), "suggested_epoch": meter.get("suggested_epoch")}

    def text() -> str:
        lines = [f"samples of run {source.name}:"] + [f"  {g}" for g in grids]
        for c in meter.get("epochs", []):
            lines.append(f"  epoch {c['epoch']:>3}: collapse {_f(c.get('collapse'))}  "
                         f"memorising {_f(c.get('memorising'))}  score {_f(c.get('score'))}"
                         + (f"  DIVERGED: {c['diverged']}" if c.get("diverged") else ""))
        if meter.get("suggested_epoch"):
            lines.append(f"suggested epoch: {meter['suggested_epoch']} "
                         f"(onelora pick {args.dir} {source.name} {meter['suggested_epoch']})")
        return "\n".join(lines)

    emit(args, payload, text)
    return 0


def _f(x) -> str:
    return "  –  " if x is None else f"{x:.3f}"


def cmd_pick(args: argparse.Namespace) -> int:
    from engine import epochs as ep
    from engine.project import load

    project = load(args.dir)
    kept: list = []
    dest = ep.pick_epoch(project, args.run, args.epoch, force=args.force, kept=kept)
    diverged = ep.read_metadata(dest).get("onelora_diverged")
    emit(args, {"path": str(dest), "run": project.samples.picked_run, "epoch": args.epoch,
                "diverged": diverged, "kept": [str(k) for k in kept]},
         f"picked epoch {args.epoch} of run {project.samples.picked_run}: {dest}"
         + (f" (forced: it diverged, {diverged})" if diverged else "")
         + "".join(f"\nthe LoRA it replaced exists nowhere else: kept as {k}" for k in kept))
    return 0


def cmd_reg(args: argparse.Namespace) -> int:
    from engine import reg as rg
    from engine import runs
    from engine import wildcards as wc
    from engine.project import load, save, set_setting

    project = load(args.dir)
    if args.remove:
        removed = rg.remove(project, args.remove)
        kept = len(rg.images(project))
        emit(args, {"removed": removed, "kept": kept},
             f"removed {len(removed)} image(s); {kept} kept in {rg.reg_folder(project)}")
        return 0
    changed = False
    for key, value in (("count", args.count), ("prompt", args.prompt), ("negative", args.negative)):
        if value is not None:
            set_setting(project, f"reg.{key}", value if key == "count" else str(value))
            changed = True
    if args.preview is not None and args.preview < 1:
        raise UserError(f"--preview {args.preview}: give how many prompts to print, 1 or more "
                        "(leave --preview out to generate the images)")
    wc.ensure_wildcards(project)
    if args.preview:
        prompts = wc.preview(project, args.preview)
        emit(args, {"prompts": prompts}, "\n".join(prompts))
        return 0
    wc.preview(project, 1)  # a bad prompt fails here, before a process starts
    if changed:
        save(project)
    run_dir = runs.start_run(project, "reg", detach=args.detach, force=args.force, model=args.model)
    if args.detach:
        emit(args, {"run": run_dir.name, "path": str(run_dir), "detached": True},
             f"generating {project.reg.count} regularization images in the background: "
             f"{run_dir.name}\nfollow it with: onelora watch {args.dir} {run_dir.name}")
        return 0
    result = _finish(args, run_dir, "reg")
    images = rg.images(project)
    emit(args, {**result, "folder": str(rg.reg_folder(project)), "images": len(images)},
         f"{len(images)} regularization images in {rg.reg_folder(project)}")
    return 0
