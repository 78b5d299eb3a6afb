"""The project: every decision a user makes, stored in ``project.toml``.

The project directory is the user's data (docs/architecture.md, Boundaries 4).  Everything derived
(prepared image, crop images, captions, latents) can be rebuilt from this file.

Settings are dataclasses with a docstring under each field (engine/settings.py reads them as
help text and checks each value against the field's type, choices and range); :func:`validate`
adds the checks that span several fields.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine import names
from engine.block_presets import check_preset
from engine.errors import UserError
from engine.grow_settings import GrowSettings  # noqa: F401 (re-exported)
from engine.files import (  # noqa: F401 (re-exported)
    atomic_write_bytes, atomic_write_text, remove_stale_temps)
from engine.settings import (  # noqa: F401 (re-exported: callers use engine.project.*)
    LORA_WEIGHT_MAX, LORA_WEIGHT_MIN, check_lora_weights, check_value, field_help, from_dict, opt,
    parse_value, to_dict, type_hints)

FORMAT_VERSION = 1
PROJECT_FILE = "project.toml"
MAX_SEED = 2 ** 63 - 1
"""Largest seed: torch generators and TOML integers are 64-bit signed."""


# ---------------------------------------------------------------------------------------
# Settings sections
# ---------------------------------------------------------------------------------------

@dataclass
class SourceInfo:
    """The one drawing the project starts from."""

    image: str = ""
    """Path of the project's copy of the image, relative to the project folder (source/...)."""
    original: str = ""
    """Where the image was copied from. Informational; onelora never writes there."""
    sha256: str = ""
    """SHA-256 of the copied image, to notice if it was replaced."""


@dataclass
class PrepSettings:
    """Source preparation: upscale, stray-colour fix, background flatten."""

    upscale_to: int = opt(2048, min=0, max=16384)
    """Upscale so the long side is at least this many pixels (0 = keep the size)."""
    upscaler_model: str = ""
    """Local ESRGAN-family weights file used instead of Lanczos when spandrel is installed."""
    fix_artifacts: bool = False
    """Replace stray-colour pixel islands (e.g. blue specks in the hair) from their surroundings."""
    artifact_max_pixels: int = opt(400, min=1, max=100000)
    """Largest island (in pixels of the original image) the artifact finder reports."""
    artifact_min_contrast: float = opt(60.0, min=1.0, max=442.0)
    """How far (RGB distance) an island's colour must be from its surroundings to count."""
    flatten_background: bool = False
    """Flood a near-uniform border background to plain white."""
    background_tolerance: int = opt(24, min=0, max=255)
    """Colour tolerance for the background flood fill."""


@dataclass
class Tag:
    """One tag on one crop, with whether it goes into the caption and why."""

    tag: str = ""
    """The tag text, Danbooru style (underscores or spaces)."""
    kept: bool = True
    """True if the tag is written into the caption."""
    reason: str = ""
    """Why a tag is pruned or kept against the rules ("trait: hair colour", "user")."""
    source: str = opt("user", choices=("user", "tagger", "crop"))
    """Where the tag came from: the user's list, the WD14 tagger, or the crop's framing."""
    override: bool = False
    """True when the user decided kept/pruned by hand; rules no longer change it."""


@dataclass
class Crop:
    """A rectangle of the prepared image that becomes one training image."""

    name: str = ""
    """Unique name, used for the exported file name (e.g. face, wrist_cuffs)."""
    box: list[int] = opt(factory=lambda: [0, 0, 0, 0])
    """x, y, width, height in pixels of the prepared image."""
    preset: str = ""
    """Preset it was made from (full_body, cowboy_shot, ...), empty for a custom crop."""
    tags: list[Tag] = opt(factory=list)
    """Tags for this crop with their kept/pruned state."""
    image: str = ""
    """Image the box is cut from, relative to the project folder (imported datasets: imported/...);
    empty = the prepared image."""
    removed: list[str] = opt(factory=list)
    """Tags taken off this crop by hand: a new caption step does not put them back (adding the
    tag to the crop again takes it off this list)."""


@dataclass
class CropSettings:
    """Crops and the boxes the presets are computed from."""

    figure_box: list[int] = opt(factory=list)
    """x, y, w, h of the whole figure in the prepared image (guessed, then adjustable)."""
    face_box: list[int] = opt(factory=list)
    """x, y, w, h of the face in the prepared image (guessed, then set by the user)."""
    items: list[Crop] = opt(factory=list)
    """The crops, in order."""


@dataclass
class TagSettings:
    """How tags become captions."""

    image_tags: list[str] = opt(factory=list)
    """Tags describing the whole image, given by the user (comma separated in the CLI)."""
    tagger_model: str = ""
    """Local WD14 tagger folder (model.onnx + selected_tags.csv); empty = no tagger."""
    general_threshold: float = opt(0.35, min=0.0, max=1.0)
    """WD14 tagger probability threshold for general tags."""
    character_threshold: float = opt(0.85, min=0.0, max=1.0)
    """WD14 tagger probability threshold for character tags."""
    underscores: bool = False
    """Write tags with underscores (long_hair) instead of spaces (long hair)."""
    extra_trait_tags: list[str] = opt(factory=list)
    """Tags always pruned as the character's own traits, in addition to the built-in rules."""
    never_trait_tags: list[str] = opt(factory=list)
    """Tags never pruned by the trait rules."""


@dataclass
class RegSettings:
    """Regularization images: generic images of the class, generated by the base model."""

    prompt: str = "1girl, solo, clothes, __expression__, __camera__, {indoors|outdoors}"
    """Class prompt with dynamic-prompt syntax ({a|b}, __wildcard__ files from wildcards/); a new
    project's starts with its class word as a tag (girl → 1girl, engine.reg.default_prompt)."""
    negative: str = ("duplicated, disfigured, deformed, poorly drawn, low quality eyes, border, comic, "
                     "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, "
                     "fewer digits, cropped, worst quality, low quality, normal quality, jpeg artifacts, "
                     "signature, watermark, username, blurry, artist name, censored, nsfw")
    """Negative prompt for generation."""
    count: int = opt(60, min=0, max=10000)
    """How many regularization images to generate."""
    seed: int = opt(1234, min=0, max=MAX_SEED)
    """Seed for prompt expansion and generation."""
    steps: int = opt(25, min=1, max=200)
    """Sampling steps per image."""
    cfg: float = opt(7.0, min=0.0, max=30.0)
    """Classifier-free guidance scale."""
    width: int = opt(512, min=64, max=2048)
    """Image width in pixels."""
    height: int = opt(512, min=64, max=2048)
    """Image height in pixels."""
    repeats: int = opt(1, min=1, max=1000)
    """Repeats of the regularization folder (reg/<repeats>_<class>)."""
    class_name: str = ""
    """Class folder name; empty = the project's class."""
    prior_loss_weight: float = opt(1.0, min=0.0, max=10.0)
    """Weight of the regularization images' loss."""
    removed: list[str] = opt(factory=list)
    """Generated image files the user pruned (kept out of the export)."""


@dataclass
class TrainSettings:
    """Training settings; the defaults are the seed workflow's (kohya_ss GUI)."""

    output_name: str = ""
    """LoRA file name without extension; empty = the trigger word."""
    model: str = "builtin:tiny"
    """Base model: a .safetensors/.ckpt SD1.x file, a diffusers folder, or builtin:tiny (pipeline check only)."""
    epochs: int = opt(10, min=1, max=10000)
    """Number of epochs."""
    repeats: int = opt(5, min=1, max=1000)
    """How often each crop is seen per epoch (the N in N_name folders)."""
    max_steps: int = opt(0, min=0)
    """Stop after this many optimizer steps (0 = run all epochs)."""
    save_every_n_epochs: int = opt(1, min=1)
    """Save a LoRA every N epochs (the last epoch is always saved)."""
    batch_size: int = opt(1, min=1, max=64)
    """Images per optimizer step."""
    resolution: int = opt(512, min=64, max=2048)
    """Training resolution (bucket area = resolution²)."""
    enable_bucket: bool = True
    """Aspect-ratio buckets, so crops are not squashed."""
    min_bucket_reso: int = opt(256, min=64, max=2048)
    """Smallest bucket side."""
    max_bucket_reso: int = opt(1024, min=64, max=4096)
    """Largest bucket side."""
    bucket_reso_steps: int = opt(64, min=8, max=256)
    """Bucket side granularity in pixels."""
    network_dim: int = opt(16, min=1, max=1024)
    """LoRA rank."""
    network_alpha: float = opt(16.0, min=0.0, max=1024.0)
    """LoRA alpha; the update is scaled by alpha/rank."""
    conv_dim: int = opt(0, min=0, max=1024)
    """Rank for 3×3 conv layers (LoCon / C3Lier); 0 = linear layers only."""
    conv_alpha: float = opt(0.0, min=0.0, max=1024.0)
    """Alpha for conv layers; 0 = same as conv_dim."""
    train_text_encoder: bool = True
    """Train LoRA on the text encoder too (kohya's default)."""
    learning_rate: float = opt(1e-3, min=0.0)
    """Base learning rate."""
    unet_lr: float = opt(1e-3, min=0.0)
    """UNet learning rate (0 = learning_rate)."""
    text_encoder_lr: float = opt(5e-4, min=0.0)
    """Text-encoder learning rate (0 = learning_rate)."""
    optimizer: str = opt("AdamW8bit", choices=("AdamW", "AdamW8bit", "Lion", "Prodigy", "SGD"))
    """Optimizer. AdamW8bit needs bitsandbytes (and a CUDA GPU)."""
    weight_decay: float = opt(0.01, min=0.0, max=1.0)
    """Optimizer weight decay."""
    max_grad_norm: float = opt(1.0, min=0.0)
    """Clip gradients to this norm (0 = no clipping)."""
    lr_scheduler: str = opt("constant_with_warmup", choices=(
        "constant", "constant_with_warmup", "cosine", "cosine_with_restarts", "linear"))
    """Learning-rate schedule."""
    lr_warmup_steps: float = opt(0.05, min=0.0)
    """Warmup: below 1 a fraction of all steps (0.05 = 5 %), otherwise a step count."""
    lr_scheduler_num_cycles: int = opt(1, min=1, max=100)
    """Restarts for cosine_with_restarts."""
    block_weight_preset: str = "none"
    """Block LR weights by name: none, seed, OUTD, INALL, MIDD, INS, IND, OUTS, OUTALL, sine, cosine, ..."""
    down_lr_weight: list[float] = opt(factory=list)
    """12 LR weights for the down blocks (IN00–IN11); overrides the preset when set."""
    mid_lr_weight: list[float] = opt(factory=list)
    """1 LR weight for the mid block; overrides the preset when set."""
    up_lr_weight: list[float] = opt(factory=list)
    """12 LR weights for the up blocks (OUT00–OUT11); overrides the preset when set."""
    mixed_precision: str = opt("fp16", choices=("fp16", "bf16", "no"))
    """Compute precision (fp16 uses a gradient scaler)."""
    save_precision: str = opt("fp16", choices=("fp16", "bf16", "float"))
    """Precision of the saved LoRA."""
    seed: int = opt(42, min=0, max=MAX_SEED)
    """Random seed."""
    noise_offset: float = opt(0.1, min=0.0, max=1.0)
    """Noise offset (helps very dark/bright images)."""
    min_snr_gamma: float = opt(0.0, min=0.0, max=100.0)
    """Min-SNR loss weighting gamma (0 = off, 5 is the paper's value)."""
    clip_skip: int = opt(2, min=1, max=12)
    """Use the output of the N-th last text-encoder layer (2 for anime models)."""
    keep_tokens: int = opt(2, min=0, max=75)
    """Tags at the start of each caption kept in place when shuffling (trigger, class)."""
    shuffle_caption: bool = True
    """Shuffle the caption's tags after the kept ones each step."""
    caption_dropout_rate: float = opt(0.0, min=0.0, max=1.0)
    """Chance of training a step with an empty caption."""
    caption_tag_dropout_rate: float = opt(0.0, min=0.0, max=1.0)
    """Chance of dropping each (non-kept) tag."""
    color_aug: bool = True
    """Small random hue/brightness changes (with color_aug_variants > 0 the jittered copies are encoded once, so latents stay cached)."""
    color_aug_variants: int = opt(8, min=0, max=64)
    """With color_aug: colour-jittered copies of each crop encoded once and drawn from each step (no VAE in the loop); 0 = jitter and encode every step."""
    flip_aug: bool = False
    """Random horizontal flips (off: characters are often asymmetric)."""
    cache_latents: bool = True
    """Encode images with the VAE once (with color_aug: its fixed set of colour variants)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory."""
    compile: bool = False
    """torch.compile the UNet (CUDA only; fastest at batch 1)."""
    nonfinite_patience: int = opt(3, min=1, max=100)
    """Non-finite steps in a row before rolling back to the last good state."""
    nonfinite_lr_factor: float = opt(0.5, min=0.01, max=1.0)
    """LR multiplier applied after a rollback."""
    nonfinite_max_rollbacks: int = opt(3, min=0, max=100)
    """Rollbacks allowed before the run stops with a diagnosis."""
    sample_every_n_epochs: int = opt(1, min=0)
    """Write samples every N epochs (0 = never during training)."""
    init_lora: str = ""
    """Start from this LoRA's weights, not zero: "picked" (output/<name>.safetensors) or a path; empty = fresh."""


@dataclass
class SampleSettings:
    """Samples of each epoch's LoRA."""

    prompts: list[str] = opt(factory=list)
    """Prompts (sd-scripts line syntax: --n --w --h --d --l --s); empty = trigger + class + crop captions."""
    weights: list[float] = opt(factory=lambda: [0.6, 0.8, 1.0])
    """LoRA weights to sample at."""
    seeds: list[int] = opt(factory=lambda: [1, 2])
    """Seeds; every prompt is sampled with each seed."""
    steps: int = opt(20, min=1, max=200)
    """Sampling steps."""
    cfg: float = opt(7.0, min=0.0, max=30.0)
    """Classifier-free guidance scale."""
    width: int = opt(512, min=64, max=2048)
    """Sample width."""
    height: int = opt(512, min=64, max=2048)
    """Sample height."""
    negative: str = "lowres, bad anatomy, bad hands, worst quality, low quality"
    """Negative prompt."""
    sampler: str = opt("euler_a", choices=("euler_a", "euler", "dpmpp_2m", "ddim"))
    """Sampler."""
    picked_run: str = ""
    """Run the picked LoRA came from."""
    picked_epoch: int = opt(0, min=0)
    """Epoch picked for output/<trigger>.safetensors (0 = none yet)."""
    picked_file: str = ""
    """The file the pick wrote (relative to the project folder); round two and init_lora=picked
    use it, so renaming the trigger later does not lose it (empty = output/<trigger>.safetensors)."""


@dataclass
class Project:
    """Everything onelora knows about one character."""

    trigger: str = ""
    """Unique trigger word; always the first caption token."""
    class_name: str = "girl"
    """Class of the character (girl, boy, woman, ...); second caption token and reg folder class."""
    source: SourceInfo = field(default_factory=SourceInfo)
    prep: PrepSettings = field(default_factory=PrepSettings)
    crops: CropSettings = field(default_factory=CropSettings)
    tags: TagSettings = field(default_factory=TagSettings)
    reg: RegSettings = field(default_factory=RegSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    samples: SampleSettings = field(default_factory=SampleSettings)
    grow: GrowSettings = field(default_factory=GrowSettings)
    format_version: int = FORMAT_VERSION
    """Version of the project.toml layout."""

    # Not stored: where the project lives, and warnings found while loading.
    root: Path = field(default=Path("."), compare=False, repr=False,
                       metadata={"stored": False})
    warnings: list[str] = field(default_factory=list, compare=False, repr=False,
                                metadata={"stored": False})
    unknown: dict = field(default_factory=dict, compare=False, repr=False,
                          metadata={"stored": False})
    """Keys of project.toml this onelora does not know (a typo, a newer version's setting):
    warned about at load and written back unchanged at every save."""
    store: Any = field(default=None, compare=False, repr=False, metadata={"stored": False})
    """The :class:`engine.store.ProjectStore` this project was read through: it remembers the
    file as read, so a save writes only this object's own changes (None = not read from a
    file yet; the first save writes it whole)."""

    @property
    def path(self) -> Path:
        return self.root / PROJECT_FILE

    def crop(self, name: str) -> Crop:
        for c in self.crops.items:
            if c.name == name:
                return c
        raise UserError(f"no crop named {name!r}; crops are: "
                        + (", ".join(c.name for c in self.crops.items) or "(none)"))


# ---------------------------------------------------------------------------------------
# Validation across fields
# ---------------------------------------------------------------------------------------

def validate(project: Project) -> None:
    """Cross-field checks that single values cannot express, and every value that becomes part
    of a path (engine.names): trigger, class, output name, crop names, stored relative paths."""
    check_trigger(project.trigger)
    check_class_name(project.class_name)
    if project.reg.class_name:
        names.check_name(project.reg.class_name, "reg.class_name", spaces=True)
    if project.train.output_name:
        names.check_name(project.train.output_name, "train.output_name")
    names.check_relative(project.source.image, "source.image")
    check_preset(project.train.block_weight_preset)
    check_lora_weights(list(project.samples.weights), "samples.weights")
    for i, seed in enumerate(project.samples.seeds):
        if not 0 <= seed <= MAX_SEED:
            raise UserError(f"samples.seeds[{i}] = {seed} is not allowed: use 0 to {MAX_SEED}")
    for name in ("down_lr_weight", "up_lr_weight"):
        vec = getattr(project.train, name)
        if vec and len(vec) != 12:
            raise UserError(f"train.{name} has {len(vec)} values: it needs exactly 12 (or none)")
    if project.train.mid_lr_weight and len(project.train.mid_lr_weight) != 1:
        raise UserError(f"train.mid_lr_weight has {len(project.train.mid_lr_weight)} values: "
                        "it needs exactly 1 (or none)")
    if project.train.min_bucket_reso > project.train.resolution or \
            project.train.max_bucket_reso < project.train.resolution:
        raise UserError(f"train.resolution = {project.train.resolution} must lie between "
                        f"min_bucket_reso ({project.train.min_bucket_reso}) and "
                        f"max_bucket_reso ({project.train.max_bucket_reso})")
    if project.train.lr_scheduler == "constant" and project.train.lr_warmup_steps:
        raise UserError("train.lr_warmup_steps must be 0 with lr_scheduler = 'constant'; "
                        "use constant_with_warmup for a warmup")
    crop_names = [c.name for c in project.crops.items]
    dupes = {n for n in crop_names if crop_names.count(n) > 1}
    if dupes:
        raise UserError(f"crop names must be unique: {', '.join(sorted(dupes))} repeated")
    for c in project.crops.items:
        names.check_name(c.name, "crop name")
        names.check_relative(c.image, f"crop {c.name!r} image")
        if len(c.box) != 4 or c.box[2] <= 0 or c.box[3] <= 0:
            raise UserError(f"crop {c.name!r} box = {c.box} is not allowed: "
                            "use [x, y, width, height] with a positive size")


def check_trigger(trigger: str) -> str:
    """A trigger is one token of the caption: no spaces, commas or emptiness."""
    if not trigger or not trigger.strip():
        raise UserError("the trigger word is empty: give a unique word such as 'isab3lla'")
    if any(ch.isspace() for ch in trigger) or "," in trigger:
        raise UserError(f"trigger {trigger!r} contains a space or comma: "
                        "use one word, e.g. 'isab3lla' (underscores are fine)")
    return names.check_name(trigger, "trigger")  # it names the LoRA file and the kohya folder


def check_class_name(class_name: str) -> str:
    """The class word (``girl``): a caption word and part of the kohya folder name
    ``5_<trigger> <class>``, so no commas, not empty, and safe in a folder name."""
    if not class_name.strip() or "," in class_name:
        raise UserError(f"class_name = {class_name!r} is not allowed: "
                        "use a non-empty word such as girl, boy, woman")
    return names.check_name(class_name, "class_name", spaces=True)


# ---------------------------------------------------------------------------------------
# Load / save
# ---------------------------------------------------------------------------------------

def project_from_dict(data: dict, root: Path = Path(".")) -> Project:
    warnings: list[str] = []
    version = data.get("format_version", None)
    if version is None:
        warnings.append("project.toml has no format_version; assuming version 1")
        data = {**data, "format_version": FORMAT_VERSION}
    elif not isinstance(version, int):
        raise UserError(f"format_version = {version!r} is not allowed: it must be a whole number")
    elif version > FORMAT_VERSION:
        raise UserError(f"project.toml has format_version {version}, newer than this onelora "
                        f"understands ({FORMAT_VERSION}); upgrade onelora (pip install -U onelora)")
    elif version < 1:
        raise UserError(f"format_version = {version} is not allowed: the oldest layout is 1")
    unknown: dict = {}
    project = from_dict(Project, data, "", warnings, unknown)
    from engine.reg import upgrade_prompt
    upgrade_prompt(project, data.get("reg", {}))  # the old fixed '1woman' default → the class's
    project.root = root
    project.warnings = warnings
    project.unknown = unknown
    validate(project)
    return project


warning_sink: Callable[[str], None] | None = None
"""Where :func:`load` reports what it found odd (the CLI prints to stderr); None = keep quiet
(the warnings stay in ``project.warnings``)."""
_announced: set[str] = set()


def announce(path: Path, warnings: list[str]) -> None:
    """Each load warning once per process (a TUI reloads the project often)."""
    if warning_sink is None:
        return
    for w in warnings:
        line = f"{path}: {w}"
        if line not in _announced:
            _announced.add(line)
            warning_sink(line)


def load(root: str | os.PathLike) -> Project:
    """Read ``root/project.toml``; errors name the file and the key.  Read through a store
    (engine/store.py), so a later :func:`save` merges what others changed since."""
    from engine import store  # the store builds on this module
    return store.load(root)


def _merge_unknown(data: dict, unknown: dict) -> dict:
    """``data`` with the unknown keys put back where they were (known keys win)."""
    out = dict(data)
    for key, value in unknown.items():
        if key not in out:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge_unknown(out[key], value)
    return out


def file_dict(project: Project) -> dict:
    """Everything ``project.toml`` holds for ``project``: its settings plus the keys this
    onelora does not know (kept from the file it was read from, written back unchanged)."""
    return _merge_unknown(to_dict(project), project.unknown)


def dumps(project: Project) -> str:
    """``project.toml``'s text for ``project`` as a fresh file (saves keep the existing file's
    comments and layout: engine/store.py)."""
    from engine import toml_edit  # tomlkit is only needed once a file is written

    return toml_edit.fresh(file_dict(project))


def check(project: Project) -> None:
    """Check every value as :func:`load` would (so a project that saves also loads) and
    validate; raises UserError naming the setting."""
    for section in ("source", "prep", "tags", "reg", "train", "samples", "grow"):  # crops: validate()
        from_dict(type(getattr(project, section)), to_dict(getattr(project, section)),
                  f"{section}.", [])
    validate(project)


def save(project: Project) -> Path:
    """Check the project and write ``project.toml`` atomically through its store
    (engine/store.py): what another program (or another loaded copy) changed since this
    project was read is merged in, never overwritten."""
    from engine import store  # the store builds on this module
    return store.save(project)


def set_setting(project: Project, dotted: str, raw: Any) -> None:
    """Set ``section.field`` (or a train field by its bare name) from a CLI/TUI value.

    String values from the command line are parsed as TOML values when possible, so
    ``--set epochs=3`` gives an int and ``--set down_lr_weight=[1,0,...]`` a list.
    """
    section, _, name = dotted.rpartition(".")
    section = section or "train"
    target = getattr(project, section, None)
    if target is None or not dataclasses.is_dataclass(target):
        raise UserError(f"unknown settings section {section!r} in {dotted!r}")
    value = parse_value(raw) if isinstance(raw, str) else raw
    hints = type_hints(type(target))
    if name in hints and hints[name] is str and not isinstance(value, str):
        value = str(raw)
    if name in hints and typing.get_origin(hints[name]) is list and isinstance(value, str):
        value = [parse_value(v.strip()) for v in value.split(",") if v.strip()]
    if name in hints and typing.get_origin(hints[name]) is list and isinstance(value, (int, float)):
        value = [value]
    value = check_value(type(target), name, value, f"{section}.")
    check = _NAME_CHECKS.get(f"{section}.{name}")
    if check is not None and value:
        check(value, f"{section}.{name}")
    setattr(target, name, value)


# Settings whose value becomes part of a path (or names something only the engine can resolve),
# checked as they are set, so --set and the TUI refuse them at once.
_NAME_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "train.output_name": names.check_name,
    "source.image": names.check_relative,
    "reg.class_name": lambda v, what: names.check_name(v, what, spaces=True),
    "train.block_weight_preset": check_preset,
}


# ---------------------------------------------------------------------------------------
# A new project from an image
# ---------------------------------------------------------------------------------------

def create(image: str | os.PathLike, root: str | os.PathLike, trigger: str,
           class_name: str = "girl", force: bool = False, check_image: bool = True) -> Project:
    """Make ``root/project.toml`` and copy the image to ``root/source/`` (the original is
    only read, never written).  With ``check_image`` a tiny or blank drawing is refused and a
    small one warned about (``project.warnings``); an imported dataset's stand-in source is not
    checked."""
    import shutil

    validate(Project(trigger=trigger, class_name=class_name))  # names, before anything is written
    image, root = Path(image), Path(root)
    if not image.is_file():
        raise UserError(f"image {image} not found (or not a file)")
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise UserError(f"{root} is not empty; choose a new folder or pass --force to reuse it")
    from engine.images import check_source, load_image

    loaded = load_image(image)  # a corrupt or non-image file is refused here, not at the first prep
    warnings = check_source(loaded) if check_image else []
    made = not root.exists()
    try:
        return _create_files(image, root, trigger, class_name, warnings)
    except BaseException:
        if made:  # a half-made project (a full disk): remove what this call wrote, nothing else
            shutil.rmtree(root, ignore_errors=True)
        raise


def _create_files(image: Path, root: Path, trigger: str, class_name: str,
                  warnings: list[str]) -> Project:
    import hashlib
    import shutil

    data = image.read_bytes()
    (root / "source").mkdir(parents=True, exist_ok=True)
    copy = root / "source" / f"original{image.suffix.lower() or '.png'}"
    atomic_write_bytes(copy, data)
    shutil.copystat(image, copy, follow_symlinks=True)
    project = Project(trigger=trigger, class_name=class_name, root=root, warnings=warnings)
    from engine.reg import default_prompt
    project.reg.prompt = default_prompt(class_name)  # girl → 1girl, boy → 1boy
    project.source = SourceInfo(image=str(copy.relative_to(root)), original=str(image.resolve()),
                                sha256=hashlib.sha256(data).hexdigest())
    validate(project)
    save(project)
    from engine.wildcards import ensure_wildcards

    ensure_wildcards(project)  # the reg prompt's __wildcard__ files, visible from the start
    return project
