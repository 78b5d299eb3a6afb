"""onelora grow: round two — draw new views with the first LoRA, keep or discard them."""

from __future__ import annotations

import argparse

from engine.cli import emit
from engine.errors import UserError

SETTING_OPTIONS = (("txt2img", "txt2img_count", int), ("img2img", "img2img_count", int),
                   ("weight", "weight", float), ("strength", "strength", float),
                   ("lora", "lora", str), ("epoch", "epoch", int), ("repeats", "repeats", int))


def register(sub) -> None:
    p = sub.add_parser(
        "grow", help="round two: draw new views with the picked LoRA, keep some, retrain",
        description="Without --list/--keep/--discard/--undecide/--preview: draw candidates "
                    "into DIR/grow/candidates/ (txt2img from grow.prompt, img2img from the "
                    "crops). Kept candidates join the dataset as their own folder.")
    p.add_argument("dir", help="project folder")
    p.add_argument("--list", action="store_true",
                   help="list the candidates with their state and similarity to the nearest crop")
    p.add_argument("--keep", metavar="N[,N..]", help="keep these candidates (numbers)")
    p.add_argument("--discard", metavar="N[,N..]", help="discard these candidates")
    p.add_argument("--undecide", metavar="N[,N..]", help="forget the decision on these")
    p.add_argument("--preview", type=int, metavar="N", help="print the first N prompts and exit")
    p.add_argument("--txt2img", type=int, metavar="N", help="txt2img candidates per run (saved)")
    p.add_argument("--img2img", type=int, metavar="N", help="img2img candidates per run (saved)")
    p.add_argument("--weight", type=float, help="LoRA weight (saved as grow.weight)")
    p.add_argument("--strength", type=float, help="img2img strength 0..1 (saved as grow.strength)")
    p.add_argument("--lora", help="LoRA file to draw with (saved; default: the picked one)")
    p.add_argument("--epoch", type=int, help="draw with this epoch of grow.run / the picked run")
    p.add_argument("--repeats", type=int, help="repeats of the kept candidates' folder (saved)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="set a [grow] setting and save it, e.g. --set steps=30 --set "
                        "prompt='__grow_view__, sitting'")
    p.add_argument("--model", help="base model for drawing (default: train.model)")
    p.add_argument("--detach", action="store_true", help="run in the background and return")
    p.add_argument("--resume", metavar="RUN", help="finish a stopped or killed grow run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_grow)


def parse_numbers(text: str, option: str) -> list[int]:
    try:
        nums = [int(v) for v in text.replace(" ", ",").split(",") if v.strip()]
    except ValueError:
        nums = []
    if not nums or any(n < 1 for n in nums):
        raise UserError(f"--{option} {text!r}: give candidate numbers, e.g. --{option} 3,7")
    return nums


def cmd_grow(args: argparse.Namespace) -> int:
    from engine import candidates as cd
    from engine.project import load, save, set_setting

    project = load(args.dir)
    decisions = [(args.keep, "keep", "kept"), (args.discard, "discard", "discarded"),
                 (args.undecide, "undecide", "undecided")]
    if any(text for text, _, _ in decisions):
        done = {}
        for text, option, state in decisions:
            if text:
                nums = parse_numbers(text, option)
                cd.decide(project, nums, state)
                done[state] = nums
        emit(args, {**done, "kept": project.grow.kept, "discarded": project.grow.discarded},
             f"kept: {_nums(project.grow.kept)}; discarded: {_nums(project.grow.discarded)} "
             f"(kept ones train as img/{cd.folder_name(project)})")
        return 0
    if args.list:
        return _list(args, project)
    changed = False
    for option, name, _ in SETTING_OPTIONS:
        value = getattr(args, option)
        if value is not None:
            set_setting(project, f"grow.{name}", value)
            changed = True
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item!r}: use KEY=VALUE, e.g. --set steps=30")
        key = key.strip()
        set_setting(project, key if "." in key else f"grow.{key}", value.strip())
        changed = True
    from engine import grow
    from engine import wildcards as wc

    wc.ensure_wildcards(project)  # the grow_*.txt files, also in projects made before grow
    if changed:
        for name in ("prompt", "img2img_prompt"):  # refused before it is saved
            grow.expand_prompts(project, getattr(project.grow, name), 1, 1, setting=f"grow.{name}")
        save(project)
    if args.preview is not None:
        if args.preview < 1:
            raise UserError(f"--preview {args.preview}: give how many prompts to print, 1 or more")
        first = cd.next_number(project)
        jobs = grow.plan(project, first, min(args.preview, project.grow.txt2img_count),
                         min(args.preview, project.grow.img2img_count))
        emit(args, {"prompts": [j.prompt for j in jobs]},
             "\n".join(f"{j.mode} {j.prompt}" + _source_note(j) for j in jobs))
        return 0
    return _start(args, project)


def _source_note(job) -> str:
    return f"  [from {job.crop}{' flipped' if job.flipped else ''}]" if job.crop else ""


def _nums(nums: list[int]) -> str:
    return ", ".join(map(str, nums)) or "none"


def _start(args: argparse.Namespace, project) -> int:
    from engine import candidates as cd
    from engine import grow, runs

    busy = [r for r in runs.list_runs(project.root)
            if r.kind == "grow" and r.status in ("running", "paused", "starting")
            and (not args.resume or r.id != args.resume)]
    if busy:
        raise UserError(f"grow run {busy[0].id} is still running; wait for it or stop it "
                        f"(onelora stop {args.dir} {busy[0].id})")
    grow.resolve_lora(project)  # no picked LoRA: say so before a process starts
    if args.resume:
        run_dir = runs.start_run(project, "grow", detach=args.detach, resume=args.resume)
    else:
        first = cd.next_number(project)
        g = project.grow
        grow.plan(project, first, g.txt2img_count, g.img2img_count)  # bad prompt: fails here
        run_dir = runs.start_run(project, "grow", detach=args.detach, first=first,
                                 txt2img=g.txt2img_count, img2img=g.img2img_count,
                                 model=args.model)
    if args.detach:
        emit(args, {"run": run_dir.name, "path": str(run_dir), "detached": True},
             f"drawing candidates in the background: {run_dir.name}\n"
             f"follow it with: onelora watch {args.dir} {run_dir.name}")
        return 0
    from engine import supervisor

    say = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    # in a thread of this process, each event printed as it comes; Ctrl-C asks it to stop
    supervisor.run_here(run_dir, "grow", on_event=supervisor.Printer(say, every=2.0), say=say)
    info = runs.run_info(run_dir)
    if info.status == "failed":
        raise UserError(f"run {info.id} failed: {info.reason}"
                        + (f" ({info.hint})" if info.hint else ""))
    listed = cd.numbers(project)
    emit(args, {"run": info.id, "status": info.status, "path": str(run_dir),
                "folder": str(cd.candidates_dir(project)), "candidates": listed},
         f"{len(listed)} candidates in {cd.candidates_dir(project)} (run {info.id} {info.status})"
         f"\nlook at them, then: onelora grow {args.dir} --list / --keep N,N / --discard N")
    return 0


def _list(args: argparse.Namespace, project) -> int:
    from engine import candidates as cd

    items = cd.list_candidates(project)
    payload = {"candidates": [{
        "number": c.number, "path": str(c.path), "state": c.state, "caption": c.caption,
        "similarity": c.similarity, "mode": c.info.get("mode", ""),
        "source_crop": c.info.get("source_crop", ""), "prompt": c.info.get("prompt", ""),
        "seed": c.info.get("seed", ""), "weight": c.info.get("weight", ""),
        "strength": c.info.get("strength", "")} for c in items],
        "folder": cd.folder_name(project), "repeats": project.grow.repeats}

    def text() -> str:
        if not items:
            return (f"no candidates in {cd.candidates_dir(project)}; draw some: "
                    f"onelora grow {args.dir}")
        lines = [f"{'#':>4} {'state':9} {'sim':>5} {'mode':7} {'source':18} caption"]
        for c in items:
            sim = "  –  " if c.similarity is None else f"{c.similarity:.3f}"
            lines.append(f"{c.number:>4} {c.state:9} {sim:>5} {c.info.get('mode', '?'):7} "
                         f"{c.info.get('source_crop', '')[:18]:18} {c.caption}")
        lines.append(f"sim: similarity to the nearest training crop (1 = a copy); kept ones "
                     f"train as img/{cd.folder_name(project)}")
        return "\n".join(lines)

    emit(args, payload, text)
    return 0
