"""onelora inspect (look inside a LoRA file) and onelora doctor (what this machine can do)."""

from __future__ import annotations

import argparse
import json
import platform
from typing import Any

from engine.cli import emit

OPTIONAL_PACKAGES = {  # import name → (distribution, what it enables)
    "bitsandbytes": ("bitsandbytes", "AdamW8bit optimizer"),
    "onnxruntime": ("onnxruntime", "WD14 tagger"),
    "spandrel": ("spandrel", "model-based upscaling"),
    "textual_image": ("textual-image", "full-resolution images in capable terminals"),
}
# Settings shown first when inspecting someone else's LoRA (the seed workflow learns them this way).
KEY_SETTINGS = ("ss_sd_model_name", "ss_network_module", "ss_network_dim", "ss_network_alpha",
                "ss_network_args", "ss_learning_rate", "ss_unet_lr", "ss_text_encoder_lr", "ss_optimizer",
                "ss_lr_scheduler", "ss_lr_warmup_steps", "ss_num_epochs", "ss_epoch", "ss_steps",
                "ss_max_train_steps", "ss_batch_size_per_device", "ss_resolution", "ss_clip_skip",
                "ss_noise_offset", "ss_min_snr_gamma", "ss_mixed_precision", "ss_seed", "ss_keep_tokens",
                "ss_shuffle_caption", "ss_flip_aug", "ss_color_aug", "ss_num_train_images",
                "ss_num_reg_images", "ss_prior_loss_weight")


def register(sub) -> None:
    p = sub.add_parser("inspect", help="look inside a LoRA .safetensors: modules, rank, blocks, metadata")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="print every metadata key in full")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("doctor", help="report Python/torch, GPU, precision, model, tokenizer, extras")
    p.add_argument("--model", default=None, help="base model to check (file, diffusers folder, builtin:tiny)")
    p.add_argument("--tokenizer", default=None, help="folder with the CLIP tokenizer files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


# --------------------------------------------------------------------------------------------- inspect

def inspect_lora(path: str) -> dict[str, Any]:
    """Everything `onelora inspect` reports, as plain data (the TUI's inspect action uses it too)."""
    import torch

    from engine import lora

    sd, md = lora.read_lora(path)
    modules: dict[str, dict[str, Any]] = {}
    other: list[str] = []
    for key, t in sd.items():
        name, _, part = key.partition(".")
        if part not in ("lora_down.weight", "lora_up.weight", "alpha"):
            other.append(key)
            continue
        modules.setdefault(name, {})[part] = t
    ranks, alphas, conv = set(), set(), {"ranks": set(), "alphas": set(), "count": 0}
    for name, parts in modules.items():
        down = parts.get("lora_down.weight")
        if down is None:
            continue
        rank = int(down.shape[0])
        alpha = float(parts["alpha"]) if "alpha" in parts else float(rank)
        if down.ndim == 4 and down.shape[-1] > 1:
            conv["ranks"].add(rank)
            conv["alphas"].add(alpha)
            conv["count"] += 1
        else:
            ranks.add(rank)
            alphas.add(alpha)
    bad = [k for k, t in sd.items() if t.is_floating_point() and not bool(torch.isfinite(t.float()).all())]
    unet = [n for n in modules if n.startswith("lora_unet_")]
    te = [n for n in modules if n.startswith("lora_te")]
    arch = "SD1.x"
    if any(n.startswith(("lora_te1_", "lora_te2_")) for n in te) or any("input_blocks" in n for n in unet):
        arch = "SDXL (onelora targets SD1.x)"
    metadata = {}
    for k, v in sorted(md.items()):
        try:
            metadata[k] = json.loads(v) if v[:1] in "{[" else v
        except (ValueError, TypeError):
            metadata[k] = v
    return {
        "file": str(path), "architecture": arch,
        "modules": len(modules), "unet_modules": len(unet), "text_encoder_modules": len(te),
        "tensors": len(sd), "dtypes": sorted({str(t.dtype).replace("torch.", "") for t in sd.values()}),
        "rank": sorted(ranks), "alpha": sorted(alphas),
        "conv": {"modules": conv["count"], "rank": sorted(conv["ranks"]), "alpha": sorted(conv["alphas"])},
        "blocks": lora._blocks_of(modules), "other_keys": other[:20], "other_key_count": len(other),
        "finite": not bad, "nonfinite_tensors": bad,
        "parameters": sum(t.numel() for t in sd.values()),
        "metadata": metadata,
    }


def _short(v: Any, width: int = 100) -> str:
    s = v if isinstance(v, str) else json.dumps(v)
    return s if len(s) <= width else s[:width - 1] + "…"


def format_inspect(info: dict[str, Any], full: bool = False) -> str:
    one = lambda xs: ", ".join(f"{x:g}" for x in xs) or "-"  # noqa: E731
    lines = [f"{info['file']}",
             f"  architecture   {info['architecture']}",
             f"  modules        {info['modules']} ({info['unet_modules']} UNet, "
             f"{info['text_encoder_modules']} text encoder), {info['tensors']} tensors, "
             f"{info['parameters']:,} parameters, {'/'.join(info['dtypes'])}",
             f"  rank / alpha   {one(info['rank'])} / {one(info['alpha'])}"]
    if info["conv"]["modules"]:
        lines.append(f"  conv (3×3)     {info['conv']['modules']} modules, rank {one(info['conv']['rank'])} "
                     f"/ alpha {one(info['conv']['alpha'])}")
    lines.append(f"  blocks         {' '.join(info['blocks'])}")
    if info["other_key_count"]:
        lines.append(f"  other keys     {info['other_key_count']} not lora_down/lora_up/alpha "
                     f"(e.g. {', '.join(info['other_keys'][:3])}) — LyCORIS or a newer format")
    if info["finite"]:
        lines.append("  finite         every tensor is finite")
    else:
        lines.append(f"  finite         NO: {len(info['nonfinite_tensors'])} tensors hold NaN/inf "
                     f"(e.g. {', '.join(info['nonfinite_tensors'][:3])}); this LoRA is broken")
    md = info["metadata"]
    if not md:
        lines.append("  metadata       none")
        return "\n".join(lines)
    lines.append("  training settings:")
    for k in KEY_SETTINGS:
        if k in md and md[k] not in ("None", ""):
            lines.append(f"    {k[3:]:26} {_short(md[k])}")
    dirs = md.get("ss_dataset_dirs")
    if isinstance(dirs, dict) and dirs:
        lines.append("  dataset folders (repeats × images):")
        for d, v in dirs.items():
            lines.append(f"    {d}: {v.get('n_repeats', '?')} × {v.get('img_count', '?')}")
    freq = md.get("ss_tag_frequency")
    if isinstance(freq, dict) and freq:
        lines.append("  most frequent tags:")
        for d, tags in freq.items():
            top = sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
            lines.append(f"    {d}: " + ", ".join(f"{t} ({n})" for t, n in top))
    rest = [k for k in md if k not in KEY_SETTINGS and k not in ("ss_dataset_dirs", "ss_tag_frequency")
            and (full or md[k] not in ("None", "", "False"))]
    if rest:
        lines.append("  other metadata:")
        for k in rest:
            lines.append(f"    {k:30} {md[k] if full else _short(md[k], 80)}")
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    info = inspect_lora(args.file)
    emit(args, info, lambda: format_inspect(info, full=args.all))
    return 0


# ---------------------------------------------------------------------------------------------- doctor

def _package(name: str, dist: str) -> str | None:
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "installed"


def check_model(spec: str | None, tokenizer_dir: str | None) -> dict[str, Any]:
    """What ``--model`` is and where its tokenizer would come from, without loading the weights."""
    from pathlib import Path

    from engine import models
    from engine.errors import UserError

    out: dict[str, Any] = {"spec": spec or models.TINY_SPEC, "ok": True}
    spec = spec or models.TINY_SPEC
    try:
        if spec.lower() in (models.TINY_SPEC, "tiny", "builtin"):
            folder = models.cache_root() / f"tiny-v{models.TINY_VERSION}-seed{models.TINY_SEED}"
            out.update(kind="builtin", label=models.TINY_LABEL, cached=folder.is_dir(), cache=str(folder),
                       tokenizer="built in (byte-level BPE made by onelora)")
            return out
        path = Path(spec).expanduser()
        if not path.exists():
            raise UserError(f"{path} not found")
        if path.is_dir():
            out["kind"] = "diffusers folder"
            folder_tok = path / "tokenizer"
            if not (path / "model_index.json").is_file():
                raise UserError(f"{path} has no model_index.json (not a diffusers folder)")
            models._check_diffusers_config(path)
        else:
            out["kind"] = "single file"
            models.classify_checkpoint(models.checkpoint_keys(path))
            out["size_gb"] = round(path.stat().st_size / 1e9, 2)
            out["a1111_hash"] = models.a1111_old_hash(path)
            folder_tok = None
        out["architecture"] = "SD1.x"
        tok, source = models.find_tokenizer(folder_tok, tokenizer_dir)
        out["tokenizer"] = source if tok else None
        if tok is None:
            out["ok"] = False
            out["problem"] = f"no CLIP tokenizer found. {models.TOKENIZER_HELP}"
    except UserError as e:
        out["ok"] = False
        out["problem"] = str(e) if str(e).startswith(str(spec)) else f"{spec} {e}"
    return out


def doctor_report(model: str | None = None, tokenizer_dir: str | None = None) -> dict[str, Any]:
    import os

    import torch

    from engine import models

    gpu: dict[str, Any] = {"cuda_available": torch.cuda.is_available()}
    if gpu["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        gpu.update(count=torch.cuda.device_count(), name=props.name,
                   memory_gb=round(props.total_memory / 2**30, 1),
                   capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                   bf16=bool(torch.cuda.is_bf16_supported()), fp16=True)
    mps = getattr(torch.backends, "mps", None)
    gpu["mps_available"] = bool(mps and mps.is_available())
    precision = {"fp32": True, "fp16": gpu["cuda_available"], "bf16": gpu.get("bf16", False),
                 "advice": ("bf16" if gpu.get("bf16") else "fp16" if gpu["cuda_available"] else
                            "no (CPU: training is slow; only builtin:tiny is practical)")}
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("diffusers", "transformers", "peft", "safetensors", "textual"):
        versions[name] = _package(name, name)
    optional = {dist: {"version": _package(name, dist), "enables": what}
                for name, (dist, what) in OPTIONAL_PACKAGES.items()}
    return {
        "versions": versions, "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "gpu": gpu, "precision": precision, "model": check_model(model, tokenizer_dir),
        "optional": optional, "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE") == "1",
        "cache": str(models.cache_root()),
    }


def format_doctor(r: dict[str, Any]) -> str:
    v, g, m = r["versions"], r["gpu"], r["model"]
    lines = [f"python {v['python']}  torch {v['torch']}  diffusers {v['diffusers']}  "
             f"transformers {v['transformers']}  peft {v['peft']}",
             f"platform {r['platform']}, {r['cpu_count']} CPU cores"]
    if g["cuda_available"]:
        lines.append(f"GPU      {g['name']} ({g['memory_gb']} GiB, compute {g['capability']}, CUDA {g['cuda']})"
                     + (f" ×{g['count']}" if g.get("count", 1) > 1 else ""))
    else:
        lines.append("GPU      none found (CUDA not available)" + ("; Apple MPS available" if g["mps_available"]
                                                                    else ""))
    p = r["precision"]
    lines.append(f"precision fp16 {'yes' if p['fp16'] else 'no'}, bf16 {'yes' if p['bf16'] else 'no'} "
                 f"→ mixed_precision: {p['advice']}")
    status = "ok" if m["ok"] else "PROBLEM"
    desc = m.get("label") or f"{m.get('kind', '?')} {m.get('architecture', '')}".strip()
    lines.append(f"model    {m['spec']}: {desc} [{status}]")
    if m.get("tokenizer"):
        lines.append(f"tokenizer {m['tokenizer']}")
    if m.get("problem"):
        lines.append(f"         {m['problem']}")
    for dist, info in r["optional"].items():
        state = info["version"] or "not installed"
        lines.append(f"optional {dist:14} {state:14} ({info['enables']})")
    lines.append(f"offline  HF_HUB_OFFLINE={'1' if r['hf_hub_offline'] else 'unset'}; cache {r['cache']}")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor_report(args.model, args.tokenizer)
    emit(args, report, lambda: format_doctor(report))
    return 0 if report["model"]["ok"] else 2

