"""Round two: draw new views of the character with the first LoRA (run kind "grow").

A grow run draws ``grow.txt2img_count`` candidates from wildcard prompts and
``grow.img2img_count`` from the training crops (every second one mirrored when ``grow.flip``),
with the base model plus a LoRA (the picked one by default) at ``grow.weight``.  Every
prompt is ``<trigger>, <class>, <kept outfit tags>, <grow.prompt expanded>``: the outfit
tags are the kept, non-trait tags of the full-body crop, and the expanded part picks a view,
pose, expression and framing from the project's ``wildcards/grow_*.txt`` files.  An img2img
prompt carries the source crop's own kept tags instead of the full-body crop's.

Resumable and kill-safe: the run's first candidate number is frozen in its config, so
candidate ``first + k`` is always job ``k`` with seed ``grow.seed + first + k``; a resumed
run skips numbers whose PNG exists or that the user discarded.  The caption is written
before the PNG and both are atomic, so a PNG on disk always has its caption, and temp files
of a killed write are removed when a grow run starts.

The captions go through the crops' trait rules (engine.tags.classify): the character's own
traits are pruned; trigger first, class second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine import candidates as cd
from engine import tags as tg
from engine import wildcards as wc
from engine.errors import UserError
from engine.events import EventWriter
from engine.framing import preset_key
from engine.tagger import general_tagger
from engine.project import Project, atomic_write_text


@dataclass
class GrowJob:
    """One candidate to draw."""

    number: int
    mode: str
    """``txt2img`` or ``img2img``."""
    prompt: str
    seed: int
    crop: str = ""
    """Source crop name (img2img)."""
    flipped: bool = False


# ---------------------------------------------------------------------------------------
# Prompts and captions (no torch)
# ---------------------------------------------------------------------------------------

def outfit_crop(project: Project):
    """The full-body crop (by preset, then by name), else the tallest crop; None without crops."""
    items = project.crops.items
    for c in items:
        if preset_key(c.preset) == "full_body" or c.name == "full_body":
            return c
    return max(items, key=lambda c: c.box[3], default=None)


def outfit_tags(project: Project, crop=None) -> list[str]:
    """The kept, non-trait, non-framing tags of ``crop`` (default: the full-body crop): the
    outfit and props it shows."""
    crop = crop if crop is not None else outfit_crop(project)
    if crop is None:
        return []
    u = project.tags.underscores
    return [tg.display(t.tag, u) for t in crop.tags
            if t.kept and t.source != "crop" and tg.classify(t.tag, project.tags)[0]]


def prompt_head(project: Project, crop=None) -> str:
    return ", ".join([project.trigger, project.class_name, *outfit_tags(project, crop)])


def img2img_crops(project: Project) -> list:
    """The crops img2img starts from, largest first (full body and cowboy shot carry most of
    the outfit); equal sizes keep the project's order."""
    return sorted(project.crops.items, key=lambda c: -(c.box[2] * c.box[3]))


def expand_prompts(project: Project, template: str, count: int, start: int,
                   salt: int = 0, setting: str = "grow.prompt",
                   heads: list[str] | None = None) -> list[str]:
    """``count`` prompts for candidate numbers ``start ..``: a head (``heads[k]``, default
    trigger, class and the full-body crop's outfit) plus ``template`` expanded (prompt ``k``
    depends on the seed and its number only)."""
    if count <= 0:
        return []
    heads = heads or [prompt_head(project)] * count
    if not template.strip():
        return heads
    try:
        tails = wc.expand(template, count, project.grow.seed + salt, wc.wildcards_dir(project),
                          start=start)
    except UserError as e:
        raise UserError(str(e).replace("reg.prompt", setting)) from None
    return [wc.clean_prompt(f"{head}, {t}") for head, t in zip(heads, tails)]


def caption(project: Project, prompt: str, tagger_tags: list[str] | None = None) -> str:
    """The candidate's caption: the prompt's tags (quality words and emphasis dropped) and the
    tagger's, each through the trait rules; trigger first, class second."""
    u = project.tags.underscores
    trigger, cls = project.trigger.strip(), tg.normalize(project.class_name)
    raw = [t for t in wc.caption_from_prompt(prompt, u).split(",") if t.strip()]
    kept: list[str] = []
    seen = {tg.normalize(trigger), cls}
    for t in raw + list(tagger_tags or []):
        key = tg.normalize(t)
        if not key or key in seen or wc.is_quality_word(key):
            continue
        seen.add(key)
        if tg.classify(key, project.tags)[0]:
            kept.append(tg.display(key, u))
    return ", ".join([trigger, tg.display(cls, u), *kept])


def plan(project: Project, first: int, txt_count: int, img_count: int) -> list[GrowJob]:
    """Every job of a grow run whose first candidate number is ``first``."""
    jobs: list[GrowJob] = []
    txt = expand_prompts(project, project.grow.prompt, txt_count, first)
    for k, p in enumerate(txt):
        n = first + k
        jobs.append(GrowJob(n, "txt2img", p, project.grow.seed + n))
    crops = img2img_crops(project)
    if img_count > 0 and not crops:
        raise UserError("img2img needs training crops; make them with 'onelora crops DIR --auto' "
                        "or set grow.img2img_count = 0")
    start = first + len(txt)
    flip = project.grow.flip
    sources = [crops[(k // 2 if flip else k) % len(crops)] for k in range(img_count)]
    img = expand_prompts(project, project.grow.img2img_prompt, img_count, start, salt=1,
                         setting="grow.img2img_prompt",
                         heads=[prompt_head(project, c) for c in sources])
    for k, (p, crop) in enumerate(zip(img, sources)):
        n = start + k
        jobs.append(GrowJob(n, "img2img", p, project.grow.seed + n, crop.name, flip and k % 2 == 1))
    return jobs


def resolve_lora(project: Project) -> Path:
    """The LoRA file the candidates are drawn with (see GrowSettings.lora/run/epoch)."""
    from engine import epochs as ep

    g = project.grow
    if g.epoch > 0:
        run = g.run or project.samples.picked_run or "latest"
        run_dir = ep.find_training_run(project, run)
        files = ep.epoch_files(run_dir)
        if g.epoch not in files:
            raise UserError(f"grow.epoch = {g.epoch}: run {run_dir.name} has no LoRA for it; "
                            f"saved: {', '.join(map(str, files)) or 'none'}")
        return files[g.epoch]
    if g.lora:
        path = Path(g.lora)
        path = path if path.is_absolute() else Path(project.root) / path
        if not path.is_file():
            raise UserError(f"grow.lora = {g.lora!r}: {path} not found; give a .safetensors LoRA "
                            "or leave it empty for the picked one")
        return path
    path = ep.picked_path(project)
    if not path.is_file():
        raise UserError(f"no picked LoRA ({path} not found): pick an epoch first "
                        f"('onelora pick {project.root} RUN EPOCH') or set grow.lora / grow.epoch")
    return path


def clear_temps(project: Project) -> list[Path]:
    """Temp files a killed write left in the candidates folder (only one grow run at a time)."""
    folder = cd.candidates_dir(project)
    gone = []
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


# ---------------------------------------------------------------------------------------
# The job (run kind "grow", run by engine/supervisor.py)
# ---------------------------------------------------------------------------------------

def grow_job(run_dir, writer: EventWriter, control, resume: bool = False) -> None:
    """The supervisor's job for run kind "grow" (engine/supervisor.py): draw the run's
    candidates into ``DIR/grow/candidates/``.

    ``[run]`` options: ``first`` (first candidate number, frozen at start), ``txt2img`` and
    ``img2img`` (counts), ``model``.  A resume draws the numbers still missing."""
    import torch
    from PIL import ImageOps

    from engine import img2img, runs
    from engine import sample as sm
    from engine.kohya import crop_pixels

    run_dir = Path(run_dir)
    project, run = runs.load_run_project(run_dir)
    g = project.grow
    wc.ensure_wildcards(project)
    first = int(run.get("first") or cd.next_number(project))
    txt_n = int(run.get("txt2img", g.txt2img_count))
    img_n = int(run.get("img2img", g.img2img_count))
    jobs = plan(project, first, txt_n, img_n)
    clear_temps(project)
    todo = [j for j in jobs if not cd.candidate_path(project, j.number).exists()
            and j.number not in g.discarded]
    done = len(jobs) - len(todo)
    folder = str(cd.candidates_dir(project))
    if not todo:
        writer.emit("started", job="grow", total_steps=len(jobs), unit="image", todo=0,
                    first=first, folder=folder)
        writer.emit("progress", step=done, total_steps=len(jobs))
        writer.emit("finished", path=folder, images=done)
        return
    lora_path = resolve_lora(project)
    device, dtype = sm.pick_device(project.train.mixed_precision)
    model = run.get("model") or project.train.model
    writer.emit("loading", phase="loading model", detail=str(model))
    base = sm.load_base_cached(model, device, dtype)
    writer.emit("started", job="grow", total_steps=len(jobs), unit="image", todo=len(todo),
                first=first, folder=folder, device=str(device), model=str(model))
    writer.emit("progress", step=done, total_steps=len(jobs))
    tagger, note = general_tagger(project)
    if note:
        writer.emit("log", message=note)
    sources = {c.name: c for c in project.crops.items}
    network = sm.load_network(base, lora_path)
    try:
        network.set_multiplier(float(g.weight))
        for job in todo:
            if control.poll() == "stop":
                writer.emit("stopped", reason="stopped by the user", step=done)
                return
            source = None
            if job.mode == "img2img":
                source = crop_pixels(project, sources[job.crop]).convert("RGB")
                if job.flipped:
                    source = ImageOps.mirror(source)
            with torch.no_grad():
                img = img2img.generate(
                    base, job.prompt, negative=g.negative, seed=job.seed, steps=g.steps,
                    cfg=g.cfg, sampler=g.sampler, width=g.width, height=g.height,
                    clip_skip=project.train.clip_skip, source=source,
                    strength=g.strength if source is not None else 1.0)
            path = cd.candidate_path(project, job.number)
            text = caption(project, job.prompt, tagger(img) if tagger else None)
            # caption first: a candidate PNG on disk always has its caption
            atomic_write_text(path.with_suffix(".txt"), text + "\n")
            sm.save_png(path, img, {
                "prompt": job.prompt, "negative": g.negative, "seed": job.seed,
                "weight": g.weight, "mode": job.mode,
                "strength": g.strength if job.mode == "img2img" else 1.0,
                "source_crop": job.crop + (" (flipped)" if job.flipped else ""),
                "lora": str(lora_path), "run": run_dir.name, "steps": g.steps, "cfg": g.cfg,
                "sampler": g.sampler})
            done += 1
            writer.emit("progress", step=done, total_steps=len(jobs), path=str(path),
                        prompt=job.prompt)
    finally:
        network.restore()  # the cached base model goes back to its own weights
    writer.emit("finished", path=str(cd.candidates_dir(project)), images=done)
