"""onelora new / open."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli import emit
from engine.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("new", help="create a project from one image")
    p.add_argument("image", help="the character drawing (png, jpg, webp...)")
    p.add_argument("dir", help="project folder to create")
    p.add_argument("--trigger", required=True, help="unique trigger word, e.g. isab3lla")
    p.add_argument("--class", dest="class_name", default="girl", help="class: girl, boy, woman...")
    p.add_argument("--force", action="store_true", help="reuse a non-empty folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("demo", help="build a demo project and run every workflow step on it")
    p.add_argument("dir", nargs="?", default="onelora-demo", help="folder (default ./onelora-demo)")
    p.add_argument("--headless", action="store_true", help="no TUI; print where each output went")
    p.add_argument("--force", action="store_true", help="rebuild an existing demo folder")
    p.add_argument("--graphics", choices=("auto", "kitty", "sixel", "halfblock"), default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object (implies quiet)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("open", help="open a project in the TUI")
    p.add_argument("dir", nargs="?", default=None, help="project folder (omit for a picker)")
    p.add_argument("--graphics", choices=("auto", "kitty", "sixel", "halfblock"), default="auto",
                   help="how to draw images (halfblock works everywhere)")
    p.set_defaults(func=cmd_open)


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.demo import run_demo

    result = run_demo(args.dir, force=args.force,
                      say=(lambda line: None) if args.json else print)
    if args.json:
        emit(args, {"project": str(result.root), "run": str(result.run_dir), **result.outputs}, "")
    if args.headless:
        return 0
    from engine import project as pj
    from tui.app import run_app

    pj.warning_sink = None  # the TUI owns the terminal: no stray lines on stderr

    return run_app(args.dir, graphics=args.graphics, mode="train")


def cmd_new(args: argparse.Namespace) -> int:
    from engine import project as pj

    root = Path(args.dir)
    if (root / pj.PROJECT_FILE).exists():  # --force reuses a folder, never replaces a project
        raise UserError(f"{root} already holds a project ({root / pj.PROJECT_FILE}); open it "
                        f"with 'onelora open {root}' or choose a new folder")
    project = pj.create(args.image, args.dir, args.trigger, args.class_name, force=args.force)
    for w in project.warnings:
        print(f"onelora: warning: {w}", file=sys.stderr)
    emit(args, {"project": str(project.path), "source": str(project.root / project.source.image)},
         f"created {project.path}\nsource copied to {project.root / project.source.image}")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    from engine import project as pj
    from tui.app import run_app

    pj.warning_sink = None  # the TUI owns the terminal: no stray lines on stderr

    return run_app(args.dir, graphics=args.graphics)
