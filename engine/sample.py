"""Sample images: each epoch's LoRA at a few weights, and regularization generation.

``sample_epoch`` is called by the training loop after each epoch (and on ``sample-now``) with
the models it already has loaded; ``sample_run_worker`` samples a finished run later from
its saved per-epoch files; ``reg_worker`` generates the regularization images.  All three
write PNGs and events; the denoising loop (:func:`generate_images`) is shared.

Every image has its own CPU generator seeded with its seed, for the starting noise and for
the ancestral sampler's noise, so an image depends on its prompt and seed only — not on
the batch it was drawn in.  At LoRA weight 0 the LoRA adds exactly zero, so the image is
the base model's.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from engine import epochs as ep
from engine import overfit
from engine.errors import UserError
from engine.events import EventWriter
from engine.sample_progress import SamplingProgress, SamplingStopped  # noqa: F401 (re-exported)
from engine.project import Project, SampleSettings, atomic_write_bytes, atomic_write_text

SAMPLERS = {"euler_a": "EulerAncestralDiscreteScheduler", "euler": "EulerDiscreteScheduler",
            "dpmpp_2m": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler"}
SAMPLER_ALIASES = {"k_euler_a": "euler_a", "euler_ancestral": "euler_a", "k_euler": "euler",
                   "dpmsolver++": "dpmpp_2m", "dpm++": "dpmpp_2m", "dpm++_2m": "dpmpp_2m",
                   "k_dpm_2m": "dpmpp_2m"}
BATCH_SIZE = 4
"""Prompt × seed jobs per denoising pass (times the number of LoRA weights when they share a pass)."""
DECODE_BATCH = 8
"""Images per VAE decode call (the decoder's activations are large at 512²)."""
REG_SAMPLER = "euler_a"
CROP_CAPTION_PROMPTS = 3


@dataclass
class SamplePrompt:
    """One sample prompt with its options (sd-scripts prompt-line syntax)."""

    prompt: str
    negative: str = ""
    width: int = 512
    height: int = 512
    seeds: list[int] = field(default_factory=lambda: [1])
    steps: int = 20
    cfg: float = 7.0
    sampler: str = "euler_a"
    index: int = 0


@dataclass
class Job:
    """One image to draw: a prompt with one seed (and, in batched sampling, its LoRA weight)."""

    prompt: SamplePrompt
    seed: int
    weight: float | None = None
    """LoRA weight of this image when several weights share a pass (None = the network's)."""


# ---------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------

def normalise_sampler(name: str) -> str:
    key = name.strip().lower()
    key = SAMPLER_ALIASES.get(key, key)
    if key not in SAMPLERS:
        raise UserError(f"unknown sampler {name!r}; use one of {', '.join(SAMPLERS)}")
    return key


def parse_prompt_line(line: str, settings: SampleSettings, index: int = 0) -> SamplePrompt:
    """Parse ``prompt --n negative --w 512 --h 512 --d seed --l cfg --s steps --ss sampler``.

    Options left out take the project's sample settings; ``--d`` replaces the seed list."""
    parts = (" " + line.strip()).split(" --")
    text = parts[0].strip()
    p = SamplePrompt(prompt=text, negative=settings.negative, width=settings.width,
                     height=settings.height, seeds=list(settings.seeds) or [1],
                     steps=settings.steps, cfg=settings.cfg, sampler=settings.sampler, index=index)
    for opt in parts[1:]:
        key, _, value = opt.strip().partition(" ")
        value = value.strip()
        try:
            if key == "n":
                p.negative = value
            elif key == "w":
                p.width = int(value)
            elif key == "h":
                p.height = int(value)
            elif key == "d":
                p.seeds = [int(value)]
            elif key == "l":
                p.cfg = float(value)
            elif key == "s":
                p.steps = max(1, min(1000, int(value)))
            elif key == "ss":
                p.sampler = normalise_sampler(value)
            # other sd-scripts options (--g, --cn, --ctr, ...) do not apply to SD1.x: ignored
        except ValueError:
            raise UserError(f"sample prompt {line!r}: --{key} {value!r} is not a number") from None
    if not text:
        raise UserError(f"sample prompt {line!r} has no prompt text before its options")
    return p


def default_prompts(project: Project) -> list[str]:
    """Trigger + class, then the captions of a few crops (as training sees them)."""
    from engine import tags as tg

    head = f"{project.trigger}, {project.class_name}"
    lines = [head]
    for crop in project.crops.items:
        if len(lines) > CROP_CAPTION_PROMPTS:
            break
        text = tg.caption(project, crop).strip()
        if text and text not in lines:
            lines.append(text)
    return lines


def resolve_prompts(project: Project) -> list[SamplePrompt]:
    lines = [ln for ln in project.samples.prompts if ln.strip() and not ln.lstrip().startswith("#")]
    lines = lines or default_prompts(project)
    return [parse_prompt_line(ln, project.samples, i) for i, ln in enumerate(lines)]


def images_per_epoch(project: Project) -> int:
    """How many images :func:`sample_epoch` draws for an epoch: prompts × seeds × weights."""
    jobs = sum(len(p.seeds) for p in resolve_prompts(project))
    return jobs * len(list(project.samples.weights) or [1.0])


# ---------------------------------------------------------------------------------------
# The denoising loop
# ---------------------------------------------------------------------------------------

def make_scheduler(base, sampler: str):
    import diffusers

    sampler = normalise_sampler(sampler)
    cls = getattr(diffusers, SAMPLERS[sampler])
    extra = {"algorithm_type": "dpmsolver++", "solver_order": 2} if sampler == "dpmpp_2m" else {}
    return cls.from_config(base.noise_scheduler.config, **extra)


def _size_multiple(base) -> int:
    vae_factor = 2 ** (len(base.vae.config.block_out_channels) - 1)
    unet_factor = 2 ** (len(base.unet.config.block_out_channels) - 1)
    return vae_factor * unet_factor


def _encode(base, texts: list[str], clip_skip: int) -> torch.Tensor:
    from engine import models

    return models.encode_prompt(base, models.tokenize(base, texts), clip_skip)


def _autocast(base, precision: str):
    device = base.unet.device
    if device.type == "cuda" and precision in ("fp16", "bf16") and base.unet.dtype == torch.float32:
        return torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16)
    import contextlib

    return contextlib.nullcontext()


@torch.no_grad()
def _draw(base, jobs: list[Job], clip_skip: int, network=None, on_step=None) -> list[Image.Image]:
    """One batch with the same size, steps, CFG and sampler.  Jobs that carry a LoRA weight
    get it per sample (the network's multiplier is the batch's weights for this pass);
    ``on_step()`` runs after each denoising step (it may raise to end the pass)."""
    if network is not None and any(j.weight is not None for j in jobs):
        network.set_multiplier([1.0 if j.weight is None else float(j.weight) for j in jobs])
    p0 = jobs[0].prompt
    device, dtype = base.unet.device, base.unet.dtype
    mult = _size_multiple(base)
    width, height = max(mult, p0.width // mult * mult), max(mult, p0.height // mult * mult)
    vae_factor = 2 ** (len(base.vae.config.block_out_channels) - 1)
    sched = make_scheduler(base, p0.sampler)
    sched.set_timesteps(p0.steps, device=device)
    gens = [torch.Generator("cpu").manual_seed(int(j.seed)) for j in jobs]
    shape = (1, base.unet.config.in_channels, height // vae_factor, width // vae_factor)
    latents = torch.cat([torch.randn(shape, generator=g, dtype=torch.float32) for g in gens])
    latents = (latents * sched.init_noise_sigma).to(device, dtype)
    guided = p0.cfg != 1.0
    cond = _encode(base, [j.prompt.prompt for j in jobs], clip_skip)
    emb = torch.cat([_encode(base, [j.prompt.negative for j in jobs], clip_skip), cond]) \
        if guided else cond
    emb = emb.to(device, dtype)
    for t in sched.timesteps:
        x = torch.cat([latents, latents]) if guided else latents
        x = sched.scale_model_input(x, t)
        noise = base.unet(x, t, encoder_hidden_states=emb).sample
        if guided:
            uncond, text = noise.chunk(2)
            noise = uncond + p0.cfg * (text - uncond)
        latents = sched.step(noise, t, latents, generator=gens if len(gens) > 1 else gens[0]).prev_sample
        if on_step is not None:
            on_step()
    vae = base.vae
    out = []
    for k in range(0, latents.shape[0], DECODE_BATCH):
        part = latents[k:k + DECODE_BATCH] / vae.config.scaling_factor
        decoded = vae.decode(part.to(vae.dtype)).sample
        arr = ((decoded.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        out += [Image.fromarray(a) for a in arr.permute(0, 2, 3, 1).cpu().numpy()]
    return out


def generate_images(base, jobs: list[Job], *, clip_skip: int = 1, batch_size: int = BATCH_SIZE,
                    precision: str = "no", on_batch=None, network=None,
                    on_step=None) -> list[Image.Image]:
    """Draw every job; jobs with equal size/steps/CFG/sampler share batches.  Returns the
    images in job order.  ``on_batch(done, total)`` is called after each batch.  Jobs with
    a ``weight`` are drawn with ``network``'s multiplier set per sample."""
    modules = [m for m in (base.unet, base.text_encoder, base.vae) if m is not None]
    was_training = [m.training for m in modules]
    for m in modules:
        m.eval()
    groups: dict[tuple, list[int]] = {}
    for i, j in enumerate(jobs):
        p = j.prompt
        groups.setdefault((p.width, p.height, p.steps, p.cfg, p.sampler), []).append(i)
    out: list[Image.Image | None] = [None] * len(jobs)
    done = 0
    try:
        with _autocast(base, precision):
            for idxs in groups.values():
                for k in range(0, len(idxs), max(1, batch_size)):
                    chunk = idxs[k:k + max(1, batch_size)]
                    drawn = _draw(base, [jobs[i] for i in chunk], clip_skip, network, on_step)
                    for i, img in zip(chunk, drawn):
                        out[i] = img
                    done += len(chunk)
                    if on_batch is not None:
                        on_batch(done, len(jobs))
    finally:
        for m, flag in zip(modules, was_training):
            m.train(flag)
    return out  # type: ignore[return-value]


def save_png(path: Path, image: Image.Image, text: dict[str, str] | None = None) -> Path:
    """Write a PNG atomically (with the prompt in its text chunks)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, str(v))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    atomic_write_bytes(path, buf.getvalue())
    return path


# ---------------------------------------------------------------------------------------
# Samples per epoch
# ---------------------------------------------------------------------------------------

def make_grid(images: list[list[Image.Image]], col_labels: list[str], row_labels: list[str],
              cell: int = 192) -> Image.Image:
    """Rows × columns of thumbnails with weight labels on top and prompt/seed labels left."""
    label_h, label_w = 14, 90
    rows, cols = len(images), max((len(r) for r in images), default=0)
    grid = Image.new("RGB", (label_w + cols * cell, label_h + rows * cell), (24, 24, 28))
    draw = ImageDraw.Draw(grid)
    for c, text in enumerate(col_labels):
        draw.text((label_w + c * cell + 4, 1), text, fill=(230, 230, 230))
    for r, row in enumerate(images):
        draw.text((2, label_h + r * cell + 4), row_labels[r][:14], fill=(230, 230, 230))
        for c, img in enumerate(row):
            thumb = img.copy()
            thumb.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            grid.paste(thumb, (label_w + c * cell, label_h + r * cell))
    return grid


def write_grid(run_dir: Path, epoch: int) -> Path:
    """The epoch's grid, in its newest pass's folder: a row per prompt × seed, a column per
    weight (every weight sampled so far of these prompts, also by an earlier pass)."""
    recs = ep.read_epoch(run_dir, epoch)
    weights = sorted({r.weight for r in recs})
    rows = sorted({(r.prompt_index, r.seed) for r in recs})
    by_key = {(r.prompt_index, r.seed, r.weight): r for r in recs}
    blank = Image.new("RGB", (8, 8), (24, 24, 28))
    table = []
    for p, s in rows:
        row = []
        for w in weights:
            rec = by_key.get((p, s, w))
            try:
                row.append(Image.open(run_dir / rec.file).convert("RGB") if rec else blank)
            except OSError:
                row.append(blank)
        table.append(row)
    grid = make_grid(table, [f"w {w:g}" for w in weights], [f"p{p} s{s}" for p, s in rows])
    return save_png(ep.latest_pass_dir(run_dir, epoch) / ep.GRID_FILE, grid)


def sample_epoch(base, network, project: Project, run_dir, epoch: int,
                 writer: EventWriter | None, *, weights: list[float] | None = None,
                 batch_size: int = BATCH_SIZE, batch_weights: bool = True,
                 should_stop=None) -> list[ep.SampleRecord]:
    """Sample ``epoch``'s LoRA (already loaded in ``network`` and applied to ``base``) at each
    weight into a new pass folder, ``run_dir/samples/epoch-NNN/`` or, when the epoch was
    sampled before, ``epoch-NNN-2/``, ``-3``, ... (never over an earlier pass's images, which
    may be of other prompts); one ``sample`` event per image, a grid, the
    index and the overfit meter (``run_dir/overfit.json``).  The network's multiplier and the
    models' train/eval modes are restored afterwards.

    With ``batch_weights`` (the default) every prompt × seed is drawn at all weights in the
    same pass — the LoRA modules take one weight per sample — so ``batch_size`` jobs make a
    pass of ``batch_size × len(weights)`` images; each image still depends only on its
    prompt, seed and weight, so it equals the one a pass per weight draws."""
    run_dir = Path(run_dir)
    weights = list(weights if weights is not None else project.samples.weights) or [1.0]
    prompts = resolve_prompts(project)
    jobs = [Job(p, s) for p in prompts for s in p.seeds]
    folder = ep.next_pass_dir(run_dir, epoch)
    old = getattr(network, "multiplier", 1.0) if network is not None else 1.0
    if network is None and any(w != 0 for w in weights):
        raise UserError("sampling at a LoRA weight other than 0 needs a LoRA network")
    records: list[ep.SampleRecord] = []
    progress = SamplingProgress(writer, epoch, jobs, weights, should_stop)
    common = dict(clip_skip=project.train.clip_skip, precision=project.train.mixed_precision,
                  on_step=progress.check)
    try:
        if batch_weights and network is not None and len(weights) > 1:
            together = [Job(j.prompt, j.seed, float(w)) for j in jobs for w in weights]
            drawn = generate_images(base, together, batch_size=batch_size * len(weights),
                                    network=network, on_batch=progress, **common)
            by_weight = {w: drawn[k::len(weights)] for k, w in enumerate(weights)}
        else:
            by_weight = {}
            for k, w in enumerate(weights):
                if network is not None:
                    network.set_multiplier(float(w))
                by_weight[w] = generate_images(
                    base, jobs, batch_size=batch_size, **common,
                    on_batch=lambda done, _n, k=k: progress(k * len(jobs) + done, 0))
        for w in weights:
            for job, img in zip(jobs, by_weight[w]):
                path = folder / ep.sample_file_name(job.prompt.index, job.seed, w)
                save_png(path, img, {"prompt": job.prompt.prompt, "negative": job.prompt.negative,
                                     "seed": job.seed, "epoch": epoch, "lora_weight": w})
                rec = ep.SampleRecord(epoch=epoch, weight=float(w), prompt_index=job.prompt.index,
                                      prompt=job.prompt.prompt, seed=job.seed,
                                      file=str(path.relative_to(run_dir)),
                                      width=img.width, height=img.height)
                records.append(rec)
                if writer is not None:
                    writer.emit("sample", epoch=epoch, weight=float(w), prompt=job.prompt.prompt,
                                seed=job.seed, path=str(path))
    finally:
        if network is not None:
            network.set_multiplier(old)
    ep.write_index(run_dir, epoch, records, folder)
    write_grid(run_dir, epoch)
    overfit.write(run_dir, overfit.crop_images(project))
    return records


# ---------------------------------------------------------------------------------------
# Workers (separate processes started by engine.runs)
# ---------------------------------------------------------------------------------------

def pick_device(precision: str = "fp16") -> tuple[str, torch.dtype]:
    if torch.cuda.is_available():
        return "cuda", {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    return "cpu", torch.float32


_BASE_CACHE: dict[tuple, object] = {}


def load_base_cached(spec: str, device: str, dtype: torch.dtype):
    """``models.load_base`` remembering the last model (a CLI session or test that runs several
    workers in one process loads it once).  Callers leave it without LoRA hooks."""
    from engine import models

    key = (str(spec), device, dtype, os.environ.get("ONELORA_CACHE", ""))
    if device == "cpu" and str(spec).strip().lower() in ("builtin:tiny", "tiny", "builtin"):
        # The tiny pipeline is far too small to gain from intra-op threads; on a busy CPU they
        # only contend (measured: 4 images 12.8 s with 2 threads, 1.8 s with 1).
        torch.set_num_threads(1)
    if key not in _BASE_CACHE:
        _BASE_CACHE.clear()
        _BASE_CACHE[key] = models.load_base(spec, device=device, dtype=dtype)
    return _BASE_CACHE[key]


def _load_run(run_dir: Path) -> tuple[Project, dict]:
    from engine import runs

    return runs.load_run_project(run_dir)  # rooted at runs/<id>/../.. (a moved project works)


def _parse_list(value, kind=float) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        return [kind(v) for v in value]
    except ValueError:
        raise UserError(f"{value!r} is not a comma-separated list of numbers") from None


def load_network(base, path: Path, network=None):
    """A LoraNetwork applied to ``base`` holding the weights of a saved kohya file.

    The first call builds the network with the file's ranks; later calls (the next epoch's
    file) reuse ``network`` so the models' modules are not wrapped twice."""
    from engine import lora

    sd, _ = lora.read_lora(path)
    if network is None:
        ranks, conv_ranks = [], []
        for key, t in sd.items():
            if key.endswith(".lora_down.weight"):
                is_conv3 = t.dim() == 4 and tuple(t.shape[2:]) != (1, 1)
                (conv_ranks if is_conv3 else ranks).append(int(t.shape[0]))
        if not ranks and not conv_ranks:
            raise UserError(f"{path} holds no LoRA modules")
        dim = max(ranks or conv_ranks)
        network = lora.LoraNetwork(
            base.unet, base.text_encoder, dim=dim, alpha=dim, conv_dim=max(conv_ranks, default=0),
            conv_alpha=max(conv_ranks, default=0),
            train_text_encoder=any(k.startswith("lora_te") for k in sd),
            train_unet=any(k.startswith("lora_unet") for k in sd))
        network.to(base.unet.device)
        network.apply()
    extra = sorted(set(sd) - set(network.kohya_state_dict()))
    if extra:
        raise UserError(f"{path} does not fit the base model: {len(extra)} LoRA keys have no module "
                        f"(e.g. {extra[0]}); sample it with the base model it was trained on")
    network.load_kohya_state_dict(sd, strict=False)
    return network


def sample_run_worker(run_dir) -> int:
    """Sample a finished training run from its saved per-epoch LoRAs (run kind "sample").

    ``[run]`` options: ``source_run`` (id of the training run), ``epochs`` and ``weights``
    (lists; default all saved epochs and project.samples.weights), ``model``."""
    from engine.supervisor import supervise

    return supervise(run_dir, sample_job)


def sample_job(run_dir, writer: EventWriter, control, resume: bool = False) -> None:
    """The supervisor's job function for run kind ``sample`` (see :func:`sample_run_worker`)."""
    run_dir = Path(run_dir)

    def body(writer: EventWriter, control) -> None:
        project, run = _load_run(run_dir)
        source = ep.find_training_run(project, str(run.get("source_run") or "latest"))
        files = ep.epoch_files(source)
        wanted = _parse_list(run.get("epochs"), int) or list(files)
        missing = [e for e in wanted if e not in files]
        if missing or not wanted:
            raise UserError(f"run {source.name} has no saved LoRA for epoch(s) "
                            f"{', '.join(map(str, missing)) or '(any)'}; saved: "
                            f"{', '.join(map(str, files)) or 'none'}")
        weights = ep.check_lora_weights(_parse_list(run.get("weights"), float)
                                        or list(project.samples.weights), "sampling weights")
        device, dtype = pick_device(project.train.mixed_precision)
        model = run.get("model") or project.train.model
        writer.emit("loading", phase="loading model", detail=str(model))
        base = load_base_cached(model, device, dtype)
        writer.emit("started", job="sample", total_steps=len(wanted), unit="epoch",
                    device=str(device), model=str(model), source_run=source.name, weights=weights)
        network = None
        written = 0
        should_stop = lambda: control.peek() == "stop"  # noqa: E731 — after each denoising step
        try:
            for i, epoch in enumerate(wanted):
                if control.poll() == "stop":
                    writer.emit("stopped", reason=f"stopped by the user after {i} of "
                                f"{len(wanted)} epochs ({written} images written)",
                                step=i, images=written)
                    return
                network = load_network(base, files[epoch], network)
                try:
                    written += len(sample_epoch(base, network, project, source, epoch, writer,
                                                weights=weights, should_stop=should_stop))
                except SamplingStopped as e:
                    control.poll()  # handled here
                    writer.emit("stopped", reason=f"stopped by the user: {e}; {written} images "
                                "written before it", step=i, epoch=epoch, images=written)
                    return
                writer.emit("progress", step=i + 1, total_steps=len(wanted), epoch=epoch)
        finally:
            if network is not None:
                network.restore()  # the base model goes back to its own weights
        writer.emit("finished", path=str(ep.epoch_dir(source, wanted[-1]).parent))

    body(writer, control)


# ---------------------------------------------------------------------------------------
# Regularization images
# ---------------------------------------------------------------------------------------

def reg_worker(run_dir) -> int:
    """Generate the regularization images (run kind "reg"), resumably: image ``NNNN`` is
    drawn from prompt ``NNNN`` with seed ``reg.seed + NNNN``; existing and removed images are
    skipped.  ``[run]`` options: ``count``, ``prompt``, ``negative``, ``model`` override the
    project's reg settings."""
    from engine.supervisor import supervise

    return supervise(run_dir, reg_job)


def reg_job(run_dir, writer: EventWriter, control, resume: bool = False) -> None:
    """The supervisor's job function for run kind ``reg`` (see :func:`reg_worker`)."""
    run_dir = Path(run_dir)

    def body(writer: EventWriter, control) -> None:
        from engine import reg as rg
        from engine import wildcards as wc

        project, run = _load_run(run_dir)
        reg = project.reg
        for key in ("count", "prompt", "negative"):
            if run.get(key) not in (None, ""):
                setattr(reg, key, type(getattr(reg, key))(run[key]))
        wc.ensure_wildcards(project)
        prompts = wc.expand(reg.prompt, reg.count, reg.seed, wc.wildcards_dir(project))
        folder = rg.reg_folder(project)
        with rg.folder_lock(project.root):  # a resume after a rename: the set's folder now
            folder = rg.live_folder(project.root, folder)
            gone = rg.removed_in(project, folder)
        todo = [i for i in range(reg.count)
                if not (folder / f"{i:04d}.png").exists() and f"{i:04d}.png" not in gone]
        done = reg.count - len(todo)
        if not todo:
            writer.emit("started", job="reg", total_steps=reg.count, unit="image",
                        folder=str(folder), todo=0)
            writer.emit("progress", step=done, total_steps=reg.count)
            writer.emit("finished", path=str(folder), images=done)
            return
        device, dtype = pick_device(project.train.mixed_precision)
        model = run.get("model") or project.train.model
        writer.emit("loading", phase="loading model", detail=str(model))
        base = load_base_cached(model, device, dtype)
        writer.emit("started", job="reg", total_steps=reg.count, unit="image", device=str(device),
                    model=str(model), folder=str(folder), todo=len(todo))
        writer.emit("progress", step=done, total_steps=reg.count)
        from engine.tagger import general_tagger

        tagger, note = general_tagger(project)
        if note:
            writer.emit("log", message=note)
        batch = max(1, int(run.get("batch_size") or BATCH_SIZE))
        for k in range(0, len(todo), batch):
            if control.poll() == "stop":
                writer.emit("stopped", reason="stopped by the user", step=done)
                return
            idxs = todo[k:k + batch]
            jobs = [Job(SamplePrompt(prompts[i], reg.negative, reg.width, reg.height,
                                     [reg.seed + i], reg.steps, reg.cfg, REG_SAMPLER, i),
                        reg.seed + i) for i in idxs]
            def stop_check(done=done) -> None:  # after each denoising step
                if control.peek() == "stop":
                    raise SamplingStopped(f"stopped by the user after {done} of {reg.count} "
                                          "images (the batch being drawn was dropped)")
            try:
                images = generate_images(base, jobs, clip_skip=project.train.clip_skip,
                                         batch_size=batch, precision=project.train.mixed_precision,
                                         on_step=stop_check)
            except SamplingStopped as e:
                control.poll()
                writer.emit("stopped", reason=str(e), step=done, images=done)
                return
            for i, img in zip(idxs, images):
                caption = wc.caption_from_prompt(prompts[i], project.tags.underscores)
                if tagger is not None:
                    caption = wc.merge_tags(caption, tagger(img), project.tags.underscores)
                with rg.folder_lock(project.root):  # the set may have been renamed meanwhile
                    now = rg.live_folder(project.root, folder)
                    if now != folder:
                        writer.emit("log", message=f"the reg set moved to {now} (reg repeats or "
                                    f"class changed): the images go on there")
                        folder = now
                    path = folder / f"{i:04d}.png"
                    # caption first: an image on disk always has its caption (resume skips it)
                    atomic_write_text(path.with_suffix(".txt"), caption + "\n")
                    save_png(path, img, {"prompt": prompts[i], "negative": reg.negative,
                                         "seed": reg.seed + i})
                done += 1
                writer.emit("progress", step=done, total_steps=reg.count, path=str(path),
                            prompt=prompts[i])
        writer.emit("finished", path=str(folder), images=done)

    body(writer, control)
