"""onelora prep / crops: make the one drawing fit for training, then cut the close-ups."""

from __future__ import annotations

import argparse

from engine.cli import emit
from engine.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("prep", help="upscale, fix stray-colour pixels, flatten the background",
                       description="Rebuild source/prepared.png from the original and the prep "
                                   "steps in project.toml; options change those steps first.")
    p.add_argument("dir", help="project folder")
    p.add_argument("--upscale", type=int, metavar="PX", default=None,
                   help="upscale so the long side is at least PX pixels (0 = keep the size; "
                        "default: prep.upscale_to, 2048)")
    p.add_argument("--fix-artifacts", action=argparse.BooleanOptionalAction, default=None,
                   help="replace stray-colour pixel islands from their surroundings")
    p.add_argument("--flatten-background", action=argparse.BooleanOptionalAction, default=None,
                   help="flood a near-uniform border background to plain white")
    p.add_argument("--upscaler-model", metavar="FILE", default=None,
                   help="local ESRGAN-family weights used instead of Lanczos (needs spandrel); "
                        "'' = Lanczos")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_prep)

    p = sub.add_parser("crops", help="list, create and adjust the crops",
                       description="Crops are rectangles x,y,w,h in pixels of the prepared image. "
                                   "Options apply in this order: --auto, --face, --set, --rename, "
                                   "--remove.")
    p.add_argument("dir", help="project folder")
    p.add_argument("--auto", action="store_true",
                   help="(re)create the seven preset crops (full_body, cowboy_shot, upper_body, "
                        "lower_body, face, bangs, head_out_of_frame); custom crops are kept")
    p.add_argument("--face", metavar="x,y,w,h", default=None,
                   help="set the face box; the presets that depend on it follow")
    p.add_argument("--figure", metavar="x,y,w,h", default=None,
                   help="set the figure box; every preset follows")
    p.add_argument("--set", metavar="NAME=x,y,w,h", action="append", default=[],
                   help="create or move a crop (a new name is a custom crop, e.g. wrist_cuffs)")
    p.add_argument("--rename", metavar="OLD=NEW", action="append", default=[],
                   help="give a crop a new name; its box and tags follow")
    p.add_argument("--remove", metavar="NAME", action="append", default=[], help="delete a crop")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_crops)


def parse_box(text: str, what: str) -> list[int]:
    """``x,y,w,h`` → four ints; a UserError naming the option otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 4:
            raise ValueError
        box = [int(round(float(p))) for p in parts]
    except (ValueError, OverflowError):  # OverflowError: inf, -inf, 1e400
        raise UserError(f"{what} = {text!r} is not allowed: use x,y,w,h in pixels, "
                        "e.g. 100,200,512,512") from None
    if box[2] <= 0 or box[3] <= 0:
        raise UserError(f"{what} = {text!r}: width and height must be positive")
    return box


def cmd_prep(args: argparse.Namespace) -> int:
    import sys

    from engine import images
    from engine import project as pj

    project = pj.load(args.dir)
    progress = None if args.json else (lambda msg: print(f"  {msg}...", file=sys.stderr))
    result = images.prepare(project, upscale_to=args.upscale, fix_artifacts=args.fix_artifacts,
                            flatten_background=args.flatten_background,
                            upscaler_model=args.upscaler_model, progress=progress)

    def text() -> str:
        w, h = result.size
        lines = [f"prepared {result.prepared} ({w}x{h})"]
        n = len(result.artifacts)
        if n:
            lines.append(f"{n} stray-colour island{'s' * (n != 1)} found, {result.fixed} fixed"
                         + ("" if result.fixed else " (fix with --fix-artifacts)"))
            for a in result.artifacts:
                x, y, bw, bh = a.box
                lines.append(f"  at {x},{y} {bw}x{bh}: {a.pixels} px of rgb{a.color} "
                             f"in rgb{a.around}")
        else:
            lines.append("no stray-colour islands found")
        return "\n".join(lines)

    for warning in result.warnings:
        print(f"onelora: warning: {warning}", file=sys.stderr)
    emit(args, result.to_json(), text)
    return 0


def cmd_crops(args: argparse.Namespace) -> int:
    from engine import crops
    from engine import project as pj

    project = pj.load(args.dir)
    sets = []
    for item in args.set:
        name, eq, box = item.partition("=")
        if not eq or not name.strip():
            raise UserError(f"--set {item!r} is not allowed: use NAME=x,y,w,h, "
                            "e.g. --set wrist_cuffs=100,900,300,300")
        sets.append((name.strip(), parse_box(box, f"--set {name.strip()}")))
    face = parse_box(args.face, "--face") if args.face else None
    figure = parse_box(args.figure, "--figure") if args.figure else None

    changed = False
    if args.auto:
        crops.auto_crops(project, save=False)
        changed = True
    if figure:
        crops.set_figure_box(project, figure, save=False)
        changed = True
    if face:
        crops.set_face_box(project, face, save=False)
        changed = True
    for name, box in sets:
        crops.set_crop(project, name, box, save=False)
        changed = True
    for item in args.rename:
        old, eq, new = item.partition("=")
        if not eq or not old.strip():
            raise UserError(f"--rename {item!r} is not allowed: use OLD=NEW, "
                            "e.g. --rename custom_1=wrist_cuffs")
        crops.rename_crop(project, old.strip(), new, save=False)
        changed = True
    for name in args.remove:
        crops.remove_crop(project, name, save=False)
        changed = True
    if changed:
        pj.save(project)

    payload = crops.crops_json(project)

    def text() -> str:
        if not payload["crops"]:
            return "no crops yet: run 'onelora crops DIR --auto' for the seven presets"
        lines = []
        for c in payload["crops"]:
            x, y, w, h = c["box"]
            kind = f"preset {c['preset']}" if c["preset"] else "custom"
            lines.append(f"{c['name']:<20} {x:>5},{y:<5} {w:>5}x{h:<5} {kind}")
            lines += [f"{'':<20} warning: {w_}" for w_ in c["warnings"]]
        return "\n".join(lines)

    emit(args, payload, text)
    return 0
