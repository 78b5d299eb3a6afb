"""What ``onelora inspect`` reports about a kohya LoRA file, without torch.

Reads the file through :mod:`engine.lora_file` (header bytes + numpy), so it answers in a
fraction of a second. A malformed file is reported, not crashed on: every oddity (a metadata
value that is not a string or not the JSON it claims to be, an unusual tensor shape, an alpha
holding several values, a tensor with no partner) becomes a sentence in ``odd``; weights that
cannot come from a sane training run become ``implausible``. Everything shown passes through
:func:`engine.lora_file.printable`.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from engine import lora_file
from engine.block_presets import block_index, block_name  # noqa: F401 (re-exported)
from engine.errors import UserError
from engine.lora_file import printable

IMPLAUSIBLE_MAX_ABS = 1e3
"""A ``lora_up``/``lora_down`` value above this (in absolute value) is called implausible.
Trained kohya factors stay well below 1 (down starts near 1/sqrt(fan-in), up at zero, and
learning rates of 1e-5…1e-3 move them by far less than 1); a factor of 1000 makes the
up·down product a million times a normal update: the run diverged (issue 13 saw 5e8 at LR 1e9)."""

PARTS = ("lora_down.weight", "lora_up.weight", "alpha")

# Settings shown first when inspecting someone else's LoRA (the seed workflow learns them this way).
KEY_SETTINGS = ("ss_sd_model_name", "ss_network_module", "ss_network_dim", "ss_network_alpha",
                "ss_network_args", "ss_learning_rate", "ss_unet_lr", "ss_text_encoder_lr", "ss_optimizer",
                "ss_lr_scheduler", "ss_lr_warmup_steps", "ss_num_epochs", "ss_epoch", "ss_steps",
                "ss_max_train_steps", "ss_batch_size_per_device", "ss_resolution", "ss_clip_skip",
                "ss_noise_offset", "ss_min_snr_gamma", "ss_mixed_precision", "ss_seed", "ss_keep_tokens",
                "ss_shuffle_caption", "ss_flip_aug", "ss_color_aug", "ss_num_train_images",
                "ss_num_reg_images", "ss_prior_loss_weight")
STRUCTURED = ("ss_dataset_dirs", "ss_tag_frequency", "ss_datasets")


def _decode_metadata(md: dict[str, str], odd: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sorted(md.items()):
        if v[:1] in ("{", "["):
            try:
                out[k] = json.loads(v)
                continue
            except (ValueError, RecursionError):
                odd.append(f"metadata {printable(k)!r} looks like JSON but does not parse; shown as text")
        out[k] = v
    return out


def _values(f: lora_file.LoraFile, name: str, odd: list[str]):
    try:
        return f.array(name)
    except (OSError, ValueError) as e:
        odd.append(f"tensor {printable(name)!r} could not be read ({e})")
        return None


def weight_stats(f: lora_file.LoraFile, odd: list[str]) -> dict[str, tuple[float, bool]]:
    """Per floating-point tensor: (largest finite |value|, whether every value is finite)."""
    import numpy as np

    out: dict[str, tuple[float, bool]] = {}
    for key, t in f.tensors.items():
        if t.dtype not in lora_file.FLOAT_CODES or not t.numel:
            continue
        x = _values(f, key, odd)
        if x is None:
            continue
        finite = np.isfinite(x)
        out[key] = (float(np.abs(x, where=finite, out=np.zeros(x.shape, x.dtype)).max()), bool(finite.all()))
    return out


def inspect_lora(path: str) -> dict[str, Any]:
    """Everything ``onelora inspect`` reports, as plain data (JSON-ready)."""
    f = lora_file.read(path)  # a missing or garbage file is refused before numpy is imported
    import numpy as np

    odd = list(f.odd)
    names = list(f.tensors)
    if not any(k.startswith(("lora_unet_", "lora_te")) for k in names):
        what = ("a base model checkpoint" if any(k.startswith("model.diffusion_model.") for k in names)
                else "not a kohya-format LoRA (no lora_unet_*/lora_te_* keys)")
        raise UserError(f"{printable(f.path)} is {what}")
    modules: dict[str, dict[str, lora_file.TensorInfo]] = {}
    other: list[str] = []
    for key, t in f.tensors.items():
        name, _, part = key.partition(".")
        if part in PARTS:
            modules.setdefault(name, {})[part] = t
        else:
            other.append(key)
    ranks, alphas = set(), set()
    conv: dict[str, Any] = {"ranks": set(), "alphas": set(), "count": 0}
    for name, parts in modules.items():
        down, up = parts.get("lora_down.weight"), parts.get("lora_up.weight")
        shown = printable(name)
        if down is None or up is None:
            odd.append(f"module {shown!r} has {' and '.join(sorted(parts))} but no "
                       f"{'lora_down' if down is None else 'lora_up'} weight")
            if down is None:
                continue
        if len(down.shape) not in (2, 4):
            odd.append(f"module {shown!r}: lora_down has shape {list(down.shape)} (expected 2-D or 4-D)")
            if not down.shape:
                continue
        rank = int(down.shape[0])
        if up is not None and (len(up.shape) < 2 or up.shape[1] != rank):
            odd.append(f"module {shown!r}: lora_up shape {list(up.shape)} does not match rank {rank}")
        alpha = float(rank)
        if "alpha" in parts:
            a = _values(f, parts["alpha"].name, odd)
            if a is not None and a.size == 0:
                odd.append(f"module {shown!r}: alpha is empty; rank {rank} assumed")
            elif a is not None:
                flat = a.astype(np.float64).ravel()
                if flat.size > 1:
                    odd.append(f"module {shown!r}: alpha holds {flat.size} values "
                               f"({', '.join(f'{x:g}' for x in flat[:4])}); the first is used")
                alpha = float(flat[0])
        is_conv = len(down.shape) == 4 and down.shape[-1] > 1
        (conv["ranks"] if is_conv else ranks).add(rank)
        (conv["alphas"] if is_conv else alphas).add(alpha)
        conv["count"] += int(is_conv)
    nonfinite, implausible, max_abs = [], [], 0.0
    for key, (big, finite) in weight_stats(f, odd).items():
        if not finite:
            nonfinite.append(key)
        if key.endswith((".lora_down.weight", ".lora_up.weight")):
            max_abs = max(max_abs, big)
            if big > IMPLAUSIBLE_MAX_ABS:
                implausible.append({"tensor": key, "max_abs": big})
    unet = [n for n in modules if n.startswith("lora_unet_")]
    te = [n for n in modules if n.startswith("lora_te")]
    arch = "SD1.x"
    if any(n.startswith(("lora_te1_", "lora_te2_")) for n in te) or any("input_blocks" in n for n in unet):
        arch = "SDXL (onelora targets SD1.x)"
    metadata = _decode_metadata(f.metadata, odd)
    _tag_lines(metadata.get("ss_tag_frequency"), odd)  # names malformed tag counts in ``odd``
    return {
        "file": str(f.path), "architecture": arch,
        "modules": len(modules), "unet_modules": len(unet), "text_encoder_modules": len(te),
        "tensors": len(f.tensors), "dtypes": sorted({t.dtype_name for t in f.tensors.values()}),
        "rank": sorted(ranks), "alpha": sorted(alphas),
        "conv": {"modules": conv["count"], "rank": sorted(conv["ranks"]), "alpha": sorted(conv["alphas"])},
        "blocks": [block_name(i) for i in sorted({block_index(n) for n in modules})],
        "other_keys": other[:20], "other_key_count": len(other),
        "finite": not nonfinite, "nonfinite_tensors": nonfinite,
        "max_abs_weight": max_abs, "implausible": implausible,
        "plausible": not nonfinite and not implausible,
        "parameters": sum(t.numel for t in f.tensors.values()),
        "datasets": datasets_of(metadata, odd),
        "odd": odd, "metadata": metadata,
    }


# ---------------------------------------------------------------------------------- ss_datasets

DATASET_FIELDS = ("resolution", "batch_size_per_device", "num_train_images", "num_reg_images",
                  "enable_bucket", "min_bucket_reso", "max_bucket_reso")
SUBSET_FIELDS = ("image_dir", "img_count", "num_repeats", "is_reg", "class_tokens", "keep_tokens",
                 "keep_tokens_separator", "shuffle_caption", "caption_prefix", "caption_suffix",
                 "color_aug", "flip_aug", "random_crop")


def datasets_of(metadata: dict[str, Any], odd: list[str]) -> list[dict[str, Any]]:
    """The training datasets from sd-scripts' ``ss_datasets`` (written when it trained from a
    dataset_config): per dataset resolution, batch size, image counts and bucket settings, per
    subset folder, repeats, keep_tokens and augmentations. Unexpected shapes are named in ``odd``."""
    raw = metadata.get("ss_datasets")
    if raw is None:
        return []
    if not isinstance(raw, list):
        odd.append("metadata 'ss_datasets' is not a JSON list of datasets; not shown")
        return []
    out = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            odd.append(f"ss_datasets[{i}] is not an object; skipped")
            continue
        entry = {k: d[k] for k in DATASET_FIELDS if k in d}
        subsets = d.get("subsets", [])
        if not isinstance(subsets, list):
            odd.append(f"ss_datasets[{i}].subsets is not a list; skipped")
            subsets = []
        entry["subsets"] = []
        for j, s in enumerate(subsets):
            if isinstance(s, dict):
                entry["subsets"].append({k: s[k] for k in SUBSET_FIELDS if k in s})
            else:
                odd.append(f"ss_datasets[{i}].subsets[{j}] is not an object; skipped")
        out.append(entry)
    return out


# ------------------------------------------------------------------------------------ the report

def _short(v: Any, width: int = 100) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    s = printable(s).replace("\n", " ").replace("\t", " ")
    return s if len(s) <= width else s[:width - 1] + "…"


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else _short(v, 20)


def _dataset_lines(datasets: list[dict[str, Any]]) -> list[str]:
    lines = ["  datasets (ss_datasets):"]
    for i, d in enumerate(datasets, 1):
        res = d.get("resolution")
        res = ("×".join(_num(x) for x in res) if isinstance(res, list)
               else "?" if res is None else _num(res))
        bucket = ""
        if d.get("enable_bucket"):
            lo, hi = _num(d.get("min_bucket_reso", "?")), _num(d.get("max_bucket_reso", "?"))
            bucket = f", buckets {lo}–{hi}"
        batch = _num(d.get("batch_size_per_device", "?"))
        lines.append(f"    dataset {i}: resolution {res}, batch size {batch}, "
                     f"{_num(d.get('num_train_images', '?'))} train / {_num(d.get('num_reg_images', '?'))} "
                     f"reg images{bucket}")
        for s in d["subsets"]:
            augs = [a.replace("_", " ") for a in ("flip_aug", "color_aug", "random_crop") if s.get(a) is True]
            what = "reg " if s.get("is_reg") is True else ""
            parts = [f"{_num(s.get('num_repeats', '?'))} × {_num(s.get('img_count', '?'))} {what}images",
                     f"keep_tokens {_num(s.get('keep_tokens', 0))}",
                     "augment " + (", ".join(augs) if augs else "none")]
            if s.get("shuffle_caption") is True:
                parts.append("shuffled captions")
            if s.get("class_tokens"):
                parts.append(f"class {_short(s['class_tokens'], 40)}")
            lines.append(f"      {_short(s.get('image_dir', '?'), 40)}: " + ", ".join(parts))
    return lines


def _tag_lines(freq: Any, odd: list[str], top: int | None = 15) -> list[str]:
    """Each folder's tags, most frequent first (``top`` of them; None: every tag), wrapped
    to 80 columns."""
    if not isinstance(freq, dict) or not freq:
        return []
    lines = ["  most frequent tags:" if top else "  tags (ss_tag_frequency):"]
    for d, tags in freq.items():
        if not isinstance(tags, dict):
            odd.append(f"ss_tag_frequency[{printable(d)!r}] is not an object of tag counts")
            continue
        counts = [(str(t), n) for t, n in tags.items()
                  if isinstance(n, (int, float)) and not isinstance(n, bool)]
        if len(counts) < len(tags):
            odd.append(f"ss_tag_frequency[{printable(d)!r}] has {len(tags) - len(counts)} counts that "
                       "are not numbers")
        shown = sorted(counts, key=lambda kv: (-kv[1], kv[0]))[:top]
        more = f", … {len(counts) - len(shown)} more (--all)" if len(shown) < len(counts) else ""
        text = f"{_short(d, 40)}: " + ", ".join(f"{_short(t, 40)} ({n:g})" for t, n in shown)
        lines += textwrap.wrap(text + more, 80, initial_indent="    ", subsequent_indent="      ",
                               break_long_words=False, break_on_hyphens=False)
    return lines


def format_inspect(info: dict[str, Any], full: bool = False) -> str:
    """The human report; every piece of text from the file is made printable first."""
    one = lambda xs: ", ".join(f"{x:g}" for x in xs) or "-"  # noqa: E731
    lines = [printable(info["file"]),
             f"  architecture   {info['architecture']}",
             f"  modules        {info['modules']} ({info['unet_modules']} UNet, "
             f"{info['text_encoder_modules']} text encoder), {info['tensors']} tensors",
             f"  parameters     {info['parameters']:,}, {'/'.join(info['dtypes'])}",
             f"  rank / alpha   {one(info['rank'])} / {one(info['alpha'])}"]
    if info["conv"]["modules"]:
        lines.append(f"  conv (3×3)     {info['conv']['modules']} modules, rank {one(info['conv']['rank'])} "
                     f"/ alpha {one(info['conv']['alpha'])}")
    lines += textwrap.wrap(f"  blocks         {' '.join(info['blocks'])}", 80,
                           subsequent_indent=" " * 17)
    if info["other_key_count"]:
        lines.append(f"  other keys     {info['other_key_count']} not lora_down/lora_up/alpha "
                     f"(e.g. {', '.join(_short(k, 60) for k in info['other_keys'][:3])}) — LyCORIS or a "
                     "newer format")
    if info["finite"]:
        lines.append("  finite         every tensor is finite")
    else:
        bad = info["nonfinite_tensors"]
        lines.append(f"  finite         NO: {len(bad)} tensors hold NaN/inf "
                     f"(e.g. {', '.join(_short(k, 60) for k in bad[:3])}); this LoRA is broken")
    if info["implausible"]:
        worst = max(info["implausible"], key=lambda x: x["max_abs"])
        lines.append(f"  implausible:   {len(info['implausible'])} tensors hold weights above "
                     f"{IMPLAUSIBLE_MAX_ABS:g} (largest |w| {worst['max_abs']:.3g} in "
                     f"{_short(worst['tensor'], 60)}); training diverged — do not use this LoRA")
    elif not info["finite"]:
        lines.append("  implausible:   NaN/inf values (above); training diverged — do not use this LoRA")
    else:
        lines.append(f"  weights        largest |w| {info['max_abs_weight']:.3g} (plausible)")
    md, odd = info["metadata"], info["odd"]
    if not md:
        lines.append("  metadata       none")
    else:
        lines.append("  training settings:")
        for k in KEY_SETTINGS:
            if k in md and md[k] not in ("None", ""):
                lines.append(f"    {k[3:]:26} {_short(md[k])}")
        if info["datasets"]:
            lines += _dataset_lines(info["datasets"])
        dirs = md.get("ss_dataset_dirs")
        if isinstance(dirs, dict) and dirs:
            lines.append("  dataset folders (repeats × images):")
            for d, v in dirs.items():
                v = v if isinstance(v, dict) else {}
                lines.append(f"    {_short(d, 60)}: {_num(v.get('n_repeats', '?'))} × "
                             f"{_num(v.get('img_count', '?'))}")
        lines += _tag_lines(md.get("ss_tag_frequency"), [],  # its oddities are in info["odd"]
                            top=None if full else 15)
        rest = [k for k in md if k not in KEY_SETTINGS and k not in STRUCTURED
                and (full or md[k] not in ("None", "", "False"))]
        if rest:
            lines.append("  other metadata:")
            for k in rest:
                value = printable(md[k] if isinstance(md[k], str) else json.dumps(md[k])) if full \
                    else _short(md[k], 45)  # 35 columns of indent and key: 80 in all
                lines.append(f"    {_short(k, 30):30} {value}")
    if odd:
        lines.append("  odd about this file:")
        lines += [f"    - {printable(o)}" for o in odd]
    return "\n".join(lines)
