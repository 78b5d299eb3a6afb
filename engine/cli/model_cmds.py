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


def register(sub) -> None:
    p = sub.add_parser("inspect", help="look inside a LoRA .safetensors: modules, rank, blocks, metadata")
    p.add_argument("file", help="the LoRA .safetensors file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="print every metadata key in full")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("doctor", help="report Python and package versions, GPU, model, tokenizer, extras "
                                      "(--gpu: ask torch)")
    p.add_argument("--model", default=None, help="base model to check (file, diffusers folder, builtin:tiny)")
    p.add_argument("--tokenizer", default=None, help="folder with the CLIP tokenizer files")
    p.add_argument("--gpu", action="store_true",
                   help="also ask torch about CUDA, bf16 and MPS (in a child process; takes seconds)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)


# --------------------------------------------------------------------------------------------- inspect

def cmd_inspect(args: argparse.Namespace) -> int:
    from engine.lora_inspect import format_inspect, inspect_lora

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

    from engine import model_files as models  # torch-free: no weights are loaded here
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
            models.check_diffusers_config(path)
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


GPU_PROBE_TIMEOUT_S = 120
"""How long ``doctor --gpu`` waits for torch to import and answer (a hung driver must not hang doctor)."""

_TORCH_PROBE = """
import json, torch
g = {"cuda_available": torch.cuda.is_available(), "torch": torch.__version__}
if g["cuda_available"]:
    p = torch.cuda.get_device_properties(0)
    g.update(count=torch.cuda.device_count(), name=p.name, memory_gb=round(p.total_memory / 2**30, 1),
             capability=f"{p.major}.{p.minor}", cuda=torch.version.cuda,
             bf16=bool(torch.cuda.is_bf16_supported()), fp16=True)
mps = getattr(torch.backends, "mps", None)
g["mps_available"] = bool(mps and mps.is_available())
print(json.dumps(g))
"""


def torch_gpu(timeout: float = GPU_PROBE_TIMEOUT_S) -> dict[str, Any]:
    """What torch sees (CUDA, bf16, MPS), asked in a child process so that this one never imports
    torch and a hung driver costs at most ``timeout`` seconds."""
    import subprocess
    import sys

    gpu: dict[str, Any] = {"checked_with": "torch", "cuda_available": None}
    try:
        out = subprocess.run([sys.executable, "-c", _TORCH_PROBE], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        gpu["problem"] = f"torch did not answer within {timeout:g} s (a hung GPU driver?)"
        return gpu
    lines = out.stdout.strip().splitlines()
    try:
        gpu.update(json.loads(lines[-1]))
    except (IndexError, ValueError):
        why = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        gpu["problem"] = f"torch could not be asked: {why}"
    return gpu


def nvidia_smi_gpus(timeout: float = 10) -> list[dict[str, Any]] | None:
    """The NVIDIA GPUs the driver reports (no torch), or None when nvidia-smi is not on PATH."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,compute_cap,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            try:
                mem = round(float(parts[1]) / 1024, 1)
            except ValueError:
                mem = None
            gpus.append({"name": parts[0], "memory_gb": mem, "capability": parts[2], "driver": parts[3]})
    return gpus


def doctor_report(model: str | None = None, tokenizer_dir: str | None = None,
                  gpu: bool = False) -> dict[str, Any]:
    """The machine report. Imports no torch: versions come from package metadata, GPUs from
    nvidia-smi; with ``gpu`` torch is asked in a child process (CUDA, bf16, MPS). A ``model``
    is checked without loading weights and without torch (engine.model_files)."""
    import os

    from engine.model_files import cache_root

    if gpu:
        g = torch_gpu()
    else:
        g = {"checked_with": "nvidia-smi", "cuda_available": None, "nvidia_smi": nvidia_smi_gpus()}
    if g["cuda_available"] is None:
        precision = None  # unknown without asking torch
    else:
        precision = {"fp32": True, "fp16": g["cuda_available"], "bf16": g.get("bf16", False),
                     "advice": ("bf16" if g.get("bf16") else "fp16" if g["cuda_available"] else
                                "no (CPU: training is slow; only builtin:tiny is practical)")}
    versions = {"python": platform.python_version()}
    for name in ("torch", "diffusers", "transformers", "peft", "safetensors", "textual"):
        versions[name] = _package(name, name)
    optional = {dist: {"version": _package(name, dist), "enables": what}
                for name, (dist, what) in OPTIONAL_PACKAGES.items()}
    if model:
        checked = check_model(model, tokenizer_dir)
    else:
        checked = {"spec": None, "ok": True, "checked": False}
    return {
        "versions": versions, "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "gpu": g, "precision": precision, "model": checked,
        "optional": optional, "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE") == "1",
        "cache": str(cache_root()),
    }


def _gpu_lines(g: dict[str, Any]) -> list[str]:
    if g["checked_with"] == "torch":
        if g.get("problem"):
            return [f"GPU      not known: {g['problem']}"]
        if g["cuda_available"]:
            many = f" ×{g['count']}" if g.get("count", 1) > 1 else ""
            return [f"GPU      {g['name']} ({g['memory_gb']} GiB, compute {g['capability']}, "
                    f"CUDA {g['cuda']}){many} (asked torch)"]
        return ["GPU      none usable by torch (CUDA not available)"
                + ("; Apple MPS available" if g.get("mps_available") else "")]
    ask = "'onelora doctor --gpu' asks torch (a few seconds)"
    if g["nvidia_smi"] is None:
        return [f"GPU      no NVIDIA driver found (nvidia-smi not on PATH); {ask}"]
    if not g["nvidia_smi"]:
        return [f"GPU      nvidia-smi found no GPU; {ask}"]
    lines = [f"GPU      {x['name']} ({x['memory_gb']} GiB, compute {x['capability']}, driver {x['driver']})"
             for x in g["nvidia_smi"]]
    return lines + [f"         (the driver's view; whether torch can use it: {ask})"]


def format_doctor(r: dict[str, Any]) -> str:
    v, m = r["versions"], r["model"]
    na = "not installed"
    lines = [f"python {v['python']}  torch {v['torch'] or na}  diffusers {v['diffusers'] or na}  "
             f"transformers {v['transformers'] or na}  peft {v['peft'] or na}",
             f"platform {r['platform']}, {r['cpu_count']} CPU cores"]
    lines += _gpu_lines(r["gpu"])
    p = r["precision"]
    if p is None:
        lines.append("precision not checked (fp16/bf16 support is asked of torch: 'onelora doctor --gpu')")
    else:
        lines.append(f"precision fp16 {'yes' if p['fp16'] else 'no'}, bf16 {'yes' if p['bf16'] else 'no'} "
                     f"→ mixed_precision: {p['advice']}")
    if m.get("checked") is False:
        lines.append("model    not checked (--model FILE|FOLDER|builtin:tiny checks a base model)")
    else:
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
    report = doctor_report(args.model, args.tokenizer, gpu=args.gpu)
    emit(args, report, lambda: format_doctor(report))
    return 0 if report["model"]["ok"] else 2
