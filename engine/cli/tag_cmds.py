"""onelora caption / tag / export / import-kohya: tags per crop, captions and the kohya folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli import emit
from engine.errors import UserError


class _EditAction(argparse.Action):
    """Collect --keep/--prune/--add/--remove in the order given, as (op, tag) pairs."""

    def __call__(self, parser, namespace, values, option_string=None):
        edits = list(getattr(namespace, "edits", None) or [])
        edits.append((self.const, values))
        namespace.edits = edits


def register(sub) -> None:
    p = sub.add_parser("caption", help="tag every crop, prune the character's traits, show captions")
    p.add_argument("dir", help="project folder")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--tags", help='tags for the whole image, comma separated: "1girl, hat, smile"')
    src.add_argument("--tags-file", help="file with the image's tags (comma or newline separated)")
    p.add_argument("--tagger", metavar="MODEL_DIR",
                   help="local WD14 tagger folder (model.onnx + selected_tags.csv)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_caption)

    p = sub.add_parser("tag", help="keep, prune, add or remove tags on a crop (or all crops)")
    p.add_argument("dir", help="project folder")
    p.add_argument("crop", nargs="?", help="crop name (omit with --all)")
    for op in ("keep", "prune", "add", "remove"):
        p.add_argument(f"--{op}", metavar="TAG", action=_EditAction, const=op, dest="edits",
                       help=f"{op} TAG (repeatable, applied in order)")
    p.add_argument("--all", action="store_true", help="apply to every crop")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_tag, edits=None)

    p = sub.add_parser("export", help="write the kohya dataset folder (img/, reg/, dataset_config.toml)")
    p.add_argument("dir", help="project folder")
    p.add_argument("dest", help="export folder (empty, new, or an earlier onelora export)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import-kohya", help="make a project from an existing kohya dataset folder")
    p.add_argument("folder", help="kohya dataset folder (N_name folders with images + .txt)")
    p.add_argument("dir", help="new project folder")
    p.add_argument("--trigger", help="trigger word (default: from the folder name)")
    p.add_argument("--class", dest="class_name", help="class (default: from the folder name)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_import)


def _crop_rows(project) -> list[dict]:
    from engine import tags as tg

    return [{"name": c.name, "caption": tg.caption(project, c),
             "tags": [{"tag": t.tag, "kept": t.kept, "reason": t.reason or None,
                       "source": t.source} for t in c.tags]}
            for c in project.crops.items]


def cmd_caption(args: argparse.Namespace) -> int:
    from engine import project as pj
    from engine import tags as tg

    project = pj.load(args.dir)
    if not project.crops.items:
        raise UserError(f"{project.path} has no crops to caption; make them with "
                        f"'onelora crops {args.dir} --auto' first")
    image_tags = None
    if args.tags is not None:
        image_tags = tg.split_tags(args.tags)
    elif args.tags_file:
        path = Path(args.tags_file)
        try:
            image_tags = tg.split_tags(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"tags file {path} not found") from None
        except IsADirectoryError:
            raise UserError(f"--tags-file {path} is a folder; give a text file with the "
                            "image's tags (comma or newline separated)") from None
        except UnicodeDecodeError:
            raise UserError(f"tags file {path} is not UTF-8 text") from None
        except OSError as e:
            raise UserError(f"tags file {path} could not be read ({e.strerror or e})") from None
    tagger_results = None
    if args.tagger or project.tags.tagger_model:
        from engine import tagger

        if args.tagger:
            project.tags.tagger_model = str(Path(args.tagger).expanduser().resolve())
        tagger_results = tagger.tag_crops_with_tagger(project)
    tg.tag_crops(project, image_tags=image_tags, tagger_results=tagger_results)
    pj.save(project)
    trigger_warnings = tg.trigger_warnings(project)
    caption_warnings = [w for c in project.crops.items for w in tg.caption_warnings(project, c)]
    rows = _crop_rows(project)
    payload = {"trigger_warnings": trigger_warnings, "crops": rows,
               "frequency": tg.frequency(project)}
    if args.json:  # stdout stays one JSON object of the documented shape
        for w in caption_warnings:
            print(f"onelora: warning: {w}", file=sys.stderr)

    def text() -> str:
        lines = []
        for r in rows:
            lines.append(f"{r['name']}: {r['caption']}  ({tg.token_count(r['caption'])} tokens)")
            pruned = [f"{t['tag']} ({t['reason']})" for t in r["tags"] if not t["kept"]]
            if pruned:
                lines.append("    pruned: " + ", ".join(pruned))
        lines += [f"warning: {w}" for w in trigger_warnings + caption_warnings]
        return "\n".join(lines)

    emit(args, payload, text)
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from engine import project as pj
    from engine import tags as tg

    if not args.edits:
        raise UserError("nothing to do: give --keep, --prune, --add or --remove TAG")
    if args.all == bool(args.crop):
        raise UserError("give either a CROP name or --all (not both)")
    project = pj.load(args.dir)
    target = None if args.all else project.crop(args.crop).name
    changes = []
    for op, tag in args.edits:
        changes += tg.edit_tag(project, op, tag, target)
    pj.save(project)
    shown = project.crops.items if target is None else [project.crop(target)]
    payload = {"changes": [{"crop": c.crop, "tag": c.tag, "before": c.before, "after": c.after}
                           for c in changes],
               "crops": [{"name": c.name, "caption": tg.caption(project, c)} for c in shown]}

    def text() -> str:
        lines = [f"{c.crop}: {c.tag} {c.before or 'absent'} -> {c.after or 'removed'}"
                 for c in changes] or ["no change"]
        lines += [f"{c.name:>14}  {tg.caption(project, c)}" for c in shown]
        return "\n".join(lines)

    emit(args, payload, text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from engine import kohya
    from engine import project as pj

    project = pj.load(args.dir)
    r = kohya.export(project, args.dest)
    payload = {"dest": str(r.dest), "img_dir": str(r.img_dir),
               "reg_dirs": [str(d) for d in r.reg_dirs], "images": r.images,
               "reg_images": r.reg_images, "config": str(r.config), "warnings": r.warnings}
    emit(args, payload, lambda: "\n".join(
        [f"exported {r.images} crops to {r.img_dir}"]
        + [f"regularization: {r.reg_images} images in {', '.join(map(str, r.reg_dirs))}"
           if r.reg_dirs else "regularization: none"]
        + [f"dataset config: {r.config}"] + [f"warning: {w}" for w in r.warnings]))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from engine import kohya

    project = kohya.import_kohya(args.folder, args.dir, trigger=args.trigger,
                                 class_name=args.class_name)
    reg = sum(len(files) for _, files in kohya.reg_sources(project))
    payload = {"project": str(project.path), "trigger": project.trigger,
               "class": project.class_name, "crops": len(project.crops.items),
               "reg_images": reg, "repeats": project.train.repeats, "warnings": project.warnings}
    emit(args, payload, lambda: "\n".join(
        [f"imported {len(project.crops.items)} images as crops into {project.path}",
         f"trigger {project.trigger!r}, class {project.class_name!r}, repeats "
         f"{project.train.repeats}, {reg} regularization images"]
        + [f"warning: {w}" for w in project.warnings]))
    return 0
