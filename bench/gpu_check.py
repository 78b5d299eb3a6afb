"""The GPU check (issue 11): the seed's defaults through the real CLI on SD1.5 shapes, in one command.

    python bench/gpu_check.py OUTDIR            # CUDA, SD1.5 shapes, <= 6 minutes on an H100
    python bench/gpu_check.py OUTDIR --tiny     # the same code path on the CPU with builtin:tiny (CI)

Everything goes through ``python -m engine.cli`` (``onelora new``, ``crops``, ``train``, ``inspect``)
and the run folders' events, never through copies of the loop.  The base model for the CUDA check is
SD1.5-shaped (UNet, CLIP ViT-L text encoder and VAE built from engine/assets/sd15 with random
weights) and written as ONE single-file checkpoint in the original (LDM) key layout, so the model
loader's single-file path is what every run uses; nothing is downloaded.

What it runs (each item's pass/fail and figures land in ``OUTDIR/gpu_check.json``; the projects and
their run folders, events included, under ``OUTDIR/projects``):

1. ``defaults``  — the default single-image project (8 crops × 5 repeats × 10 epochs = 400 steps,
   samples each epoch: 4 prompts × 2 seeds × 3 weights × 20 steps) with the seed's settings (fp16 +
   scaler, AdamW8bit, text-encoder LoRA, colour aug, rank 16, 512²) plus ``compile = true`` →
   ``finished``, the LoRA passes ``onelora inspect``, every file finite.  Its events give item 5.
   ``bf16_adamw`` — bf16 with torch's AdamW (no bitsandbytes), 2 short epochs.
2. ``nan`` — fp16 at LR 1e9 → ``nonfinite`` events, a rollback, ``failed`` with a diagnosis, no
   non-finite tensor in any file of the run.
3. ``resume`` — the bf16_adamw settings again, the worker SIGKILLed after epoch 1, ``--resume`` →
   the same steps, epochs and LR at every step as the uninterrupted ``bf16_adamw`` run.
4. ``step_speed`` — bench/train_step.py in its own process: the diffusers-example step against
   onelora's step as the loop runs it, without and with the text-encoder LoRA (it/s, ratio, peak GiB).
5. ``whole_job`` — wall clock of ``defaults`` with a breakdown read from its events: model load and
   latent caching (``started``'s load_s/cache_s), compile/warm-up (time of the steps above the
   median step, ``step_ms``), training steps, sampling (epoch_end → the next step starts), saves
   (last step → checkpoint → epoch_end), and the rest (process start, imports, setup).

Items 2 and 3 and ``bf16_adamw`` run side by side first; ``defaults`` and ``step_speed`` then run
alone, so their timings are clean.  ``--tiny`` keeps every item but runs builtin:tiny at 64² for
2 epochs (AdamW instead of AdamW8bit, which needs CUDA) and makes no speed claims.

On the device machine (see /work/.library/device/README.md).  The machine has Python 3.12 with
torch, transformers, peft, accelerate, safetensors, pillow and rich; carry the rest as wheels.
Here, once, in the repository root::

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \\
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \\
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl \\
        diffusers==0.42.1 importlib_metadata==8.7.0 textual==8.2.8 tomli_w==1.2.0 tomlkit==0.15.2 dynamicprompts==0.31.0 \\
        rich-pixels==3.0.1 bitsandbytes==0.50.2 platformdirs mdit-py-plugins linkify-it-py uc-micro-py

(``du -sh .whl`` must stay well under 64 MiB with the tree.)  Then ONE device call, carry ``[".whl"]``,
timeout_s 600 (the script is cut at 540 s so the copies below still run; it saves its JSON after
every part, so a cut run still reports what it finished)::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 || exit;
    timeout 540 python3 bench/gpu_check.py /tmp/gc 2>&1 | tee $OUT/gpu_check.log;
    cp /tmp/gc/gpu_check.json $OUT/;
    tar czf $OUT/runs.tgz -C /tmp/gc --exclude='*.safetensors' --exclude='*.pt' --exclude='p*.png' projects

A second call can finish what the first ran out of time for: ``--only defaults,step_speed`` (parts:
side, defaults, step_speed).  Should CUDA-graph capture fail, rerun with
``ONELORA_COMPILE_MODE=max-autotune-no-cudagraphs`` (or ``default``); ``ONELORA_COMPILE_TE=0`` keeps
the text encoder eager.  Expect the first compilation of the SD1.5 UNet (forward + backward, a static
graph for the first bucket and one dynamic graph for the others) to dominate ``compile_warmup_s``.

``gpu_check.json`` holds ``device``, ``torch``, ``total_s`` and one entry per item with ``pass``;
goals (speed ratios, peak memory, job ≤ 90 s) are reported as ``goal_met`` beside the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import events as ev  # noqa: E402  (torch-free)

TRIGGER = "zq_gpucheck"
IMAGE_TAGS = ("1girl, solo, smile, short hair, brown hair, blue eyes, red dress, boots, standing, "
              "white background, looking at viewer")
JOB_GOAL_S = 90.0
SPEED_GOALS = {"train_step_it_s": 6.0, "train_step_te_it_s": 4.0}
PEAK_GOAL_GIB = 3.0


# --------------------------------------------------------------------------------- settings

def plans(tiny: bool, model: str) -> dict[str, Any]:
    """The ``--set`` lists of every run and the limits, for the CUDA check or --tiny."""
    if not tiny:
        short = ["epochs=2", "repeats=2", "sample_every_n_epochs=0"]
        return {"model": model, "defaults": ["compile=true"], "default_steps": 400,
                "bf16_adamw": ["mixed_precision=bf16", "optimizer=AdamW", *short],
                "nan": ["learning_rate=1e9", "unet_lr=1e9", "text_encoder_lr=1e9", "epochs=1",
                        "repeats=2", "sample_every_n_epochs=0"],
                "bench": ["--shapes", "sd15", "--steps", "40", "--warmup", "10", "--compile"],
                "timeout": 420}
    size = ["resolution=64", "min_bucket_reso=64", "max_bucket_reso=128", "optimizer=AdamW"]
    short = [*size, "epochs=2", "repeats=2", "sample_every_n_epochs=0"]
    return {"model": "builtin:tiny", "default_steps": 80,
            "defaults": [*size, "epochs=2", "samples.width=64", "samples.height=64", "samples.steps=3"],
            "bf16_adamw": ["mixed_precision=bf16", *short],
            "nan": [*size, "learning_rate=1e9", "unet_lr=1e9", "text_encoder_lr=1e9", "epochs=1",
                    "repeats=2", "sample_every_n_epochs=0"],
            "bench": ["--shapes", "tiny", "--steps", "4", "--warmup", "1", "--resolution", "64"],
            "timeout": 300}


# ------------------------------------------------------------------------------ processes

def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [out.get("PYTHONPATH")] if p])
    out["HF_HUB_OFFLINE"] = "1"
    out.setdefault("PYTHONUNBUFFERED", "1")
    return out


def onelora(*args: str, timeout: float = 600, background: bool = False):
    """``python -m engine.cli ARGS`` (the ``onelora`` command); returns (rc, parsed JSON, seconds)
    or the Popen when ``background``."""
    cmd = [sys.executable, "-m", "engine.cli", *args]
    if background:
        return subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    return p.returncode, last_json(p.stdout, p.stderr), time.perf_counter() - t0


def last_json(stdout: str, stderr: str = "") -> Any:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {"error": (stderr or stdout)[-1500:]}


def finish(p: subprocess.Popen, timeout: float) -> tuple[int, Any]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, last_json(out, err)


# ------------------------------------------------------------------------------ the model

def write_sd15_checkpoint(path: Path) -> dict[str, Any]:
    """SD1.5 shapes with random weights as one fp16 .safetensors in the original key layout."""
    import importlib.util

    import torch

    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("bench_train_step", ROOT / "bench" / "train_step.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    spec = importlib.util.spec_from_file_location("single_file", ROOT / "tests" / "test_models_single_file.py")
    single = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(single)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # fast random init
        base = bench.build_sd15()
    base = base.to("cpu", torch.float16)
    single.write_tiny_single_file(base, path)  # the LDM layout writer works for any SD1.x shapes
    return {"path": str(path), "bytes": path.stat().st_size, "seconds": round(time.perf_counter() - t0, 1)}


# ------------------------------------------------------------------------------ the project

def make_project(folder: Path) -> dict[str, Any]:
    """``onelora new`` on the demo drawing, ``onelora crops --auto`` (7 presets) + one custom crop,
    ``onelora caption`` with the drawing's tags (so the default sample prompts are 4 captions)."""
    from PIL import Image

    from engine.demo_image import demo_image_path

    image = demo_image_path()
    rc, out, _ = onelora("new", str(image), str(folder), "--trigger", TRIGGER, "--class", "girl",
                         "--force", "--json")
    if rc:
        raise RuntimeError(f"onelora new failed: {out}")
    w, h = Image.open(image).size
    box = f"{w // 4},{h // 8},{w // 2},{h // 2}"
    rc, out, _ = onelora("crops", str(folder), "--auto", "--set", f"detail={box}", "--json")
    if rc:
        raise RuntimeError(f"onelora crops failed: {out}")
    crops = len(out.get("crops", []))
    rc, out, _ = onelora("caption", str(folder), "--tags", IMAGE_TAGS, "--json")
    if rc:
        raise RuntimeError(f"onelora caption failed: {out}")
    return {"project": str(folder), "crops": crops}


def train(project: Path, model: str, sets: list[str], timeout: float) -> dict[str, Any]:
    args = ["train", str(project), "--model", model, "--json"]
    for s in sets:
        args += ["--set", s]
    rc, out, seconds = onelora(*args, timeout=timeout)
    out = out if isinstance(out, dict) else {"output": out}
    return {"rc": rc, "wall_s": round(seconds, 2), **out}


def train_background(project: Path, model: str, sets: list[str]) -> subprocess.Popen:
    # --force: the side-by-side runs share one project (one job per kind unless forced)
    args = ["train", str(project), "--model", model, "--json", "--force"]
    for s in sets:
        args += ["--set", s]
    return onelora(*args, background=True)


# ------------------------------------------------------------------------------ checks

def scan_files(run_dir: Path) -> dict[str, Any]:
    """Every LoRA file and the saved state of a run: any non-finite tensor?"""
    import torch
    from safetensors.torch import load_file

    bad, files = [], 0
    for path in sorted(run_dir.glob("*.safetensors")):
        files += 1
        bad += [f"{path.name}:{k}" for k, t in load_file(str(path)).items()
                if t.is_floating_point() and not bool(torch.isfinite(t.float()).all())]
    state = run_dir / "state" / "state.pt"
    if state.exists():
        files += 1
        sd = torch.load(state, map_location="cpu", weights_only=True)

        def walk(x, name):
            if isinstance(x, torch.Tensor):
                if x.is_floating_point() and not bool(torch.isfinite(x.float()).all()):
                    bad.append(f"state.pt:{name}")
            elif isinstance(x, dict):
                for k, v in x.items():
                    walk(v, f"{name}.{k}")
            elif isinstance(x, (list, tuple)):
                for i, v in enumerate(x):
                    walk(v, f"{name}[{i}]")
        walk({k: sd[k] for k in ("network", "optimizer", "scaler") if k in sd}, "")
    return {"files_scanned": files, "nonfinite": bad[:10], "all_finite": not bad}


def inspect(path: Path) -> dict[str, Any]:
    rc, out, _ = onelora("inspect", str(path), "--json", timeout=120)
    ok = rc == 0 and out.get("finite") is True and out.get("architecture") == "SD1.x" and out.get("modules", 0) > 0
    return {"ok": ok, "modules": out.get("modules"), "finite": out.get("finite"), "dtypes": out.get("dtypes")}


def run_dir_of(result: dict[str, Any]) -> Path | None:
    return Path(result["path"]) if result.get("path") else None


def finished_run(result: dict[str, Any], min_steps: int) -> dict[str, Any]:
    """A run that must finish: its status, steps, finite losses, inspect and the file scan."""
    run_dir = run_dir_of(result)
    if run_dir is None:
        return {"pass": False, "error": result}
    events = ev.read_events(run_dir)
    steps = [e for e in events if e["kind"] == "step"]
    started = next((e for e in events if e["kind"] == "started"), {})  # after the loading events
    final = run_dir / f"{TRIGGER}.safetensors"
    out = {"run": run_dir.name, "status": result.get("status"), "steps": len(steps),
           "losses_finite": all(math.isfinite(ev.as_float(e.get("loss"))) for e in steps),
           "samples": sum(1 for e in events if e["kind"] == "sample"),
           "started": {k: started.get(k) for k in ("device", "precision", "optimizer", "latents",
                                                   "total_steps")},
           "wall_s": result.get("wall_s")}
    out["inspect"] = inspect(final) if final.exists() else {"ok": False, "error": f"{final.name} missing"}
    out["files"] = scan_files(run_dir)
    out["pass"] = (result.get("status") == "finished" and len(steps) >= min_steps and out["losses_finite"]
                   and out["inspect"]["ok"] and out["files"]["all_finite"])
    return out


def nan_run(result: dict[str, Any]) -> dict[str, Any]:
    run_dir = run_dir_of(result)
    if run_dir is None:
        return {"pass": False, "error": result}
    events = ev.read_events(run_dir)
    kinds = [e["kind"] for e in events]
    end = events[-1] if events else {}
    out = {"run": run_dir.name, "status": result.get("status"), "nonfinite_events": kinds.count("nonfinite"),
           "rollbacks": kinds.count("rollback"), "reason": end.get("reason"), "hint": end.get("hint"),
           "files": scan_files(run_dir)}
    out["pass"] = (end.get("kind") == "failed" and out["nonfinite_events"] > 0 and out["rollbacks"] > 0
                   and bool(out["reason"]) and bool(out["hint"]) and out["files"]["all_finite"])
    return out


def resume_compare(straight: Path, killed: Path, kill_info: dict) -> dict[str, Any]:
    a, b = ev.read_events(straight), ev.read_events(killed)
    sa = {e["step"]: e for e in a if e["kind"] == "step"}
    sb = {e["step"]: e for e in b if e["kind"] == "step"}
    same_lr = sorted(sa) == sorted(sb) and all(sa[s]["lr"] == sb[s]["lr"] and sa[s]["epoch"] == sb[s]["epoch"]
                                                for s in sa)
    loss_diff = max((abs(sa[s]["loss"] - sb[s]["loss"]) / max(abs(sa[s]["loss"]), 1e-8)
                     for s in sa if s in sb), default=None)
    restarted = [e for e in b if e["kind"] == "started"]
    out = {**kill_info, "straight_steps": len(sa), "resumed_steps": len(sb),
           "same_steps_epochs_and_lr": same_lr, "resumed_from": restarted[-1].get("resumed_from") if restarted else None,
           "end": [a[-1]["kind"] if a else None, b[-1]["kind"] if b else None],
           "max_rel_loss_diff": loss_diff}
    out["pass"] = (same_lr and len(restarted) == 2 and bool(out["resumed_from"]) and out["end"] == ["finished"] * 2
                   and kill_info.get("killed", False))
    return out


def breakdown(run_dir: Path, wall_s: float) -> dict[str, Any]:
    """Where the default job's wall clock went, read from its events."""
    events = ev.read_events(run_dir)
    started = next((e for e in events if e["kind"] == "started"), {})
    step_ms = [float(e["step_ms"]) for e in events if e["kind"] == "step" and "step_ms" in e]
    median = statistics.median(step_ms) if step_ms else 0.0
    steps_s = median * len(step_ms) / 1000
    warm_s = sum(max(0.0, ms - median) for ms in step_ms) / 1000
    # An epoch ends: checkpoint (the LoRA save) → state → samples (a log line, then one event
    # per image) → epoch_end.  Sampling is the time from the event before an epoch's first
    # sample to its last sample; a save is the time from the last step to its checkpoint event.
    sampling_s = saves_s = 0.0
    group_start = None
    for i, e in enumerate(events):
        if e["kind"] == "sample":
            if group_start is None:
                before = i - 1
                while before > 0 and events[before]["kind"] == "log":
                    before -= 1
                group_start = events[before]["t"] if before >= 0 else e["t"]
            last_sample = e["t"]
        elif e["kind"] != "log" and group_start is not None:
            sampling_s += last_sample - group_start
            group_start = None
        if e["kind"] == "checkpoint" and i:
            saves_s += e["t"] - events[i - 1]["t"]
    if group_start is not None:
        sampling_s += last_sample - group_start
    parts = {"model_load_s": started.get("load_s"), "latent_cache_s": started.get("cache_s"),
             "compile_warmup_s": round(warm_s, 2), "training_steps_s": round(steps_s, 2),
             "sampling_s": round(sampling_s, 2), "saves_s": round(saves_s, 2)}
    known = sum(v for v in parts.values() if v)
    return {"wall_s": round(wall_s, 2), **parts, "other_s": round(wall_s - known, 2),
            "steps": len(step_ms), "median_step_ms": round(median, 2),
            "it_s_steady": round(1000 / median, 2) if median else None,
            "first_step_ms": step_ms[0] if step_ms else None}


def step_speed(bench_args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(ROOT / "bench" / "train_step.py"), *bench_args]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    figures = {x["figure"]: x for x in lines}
    out: dict[str, Any] = {"rc": p.returncode, "wall_s": round(time.perf_counter() - t0, 1), "figures": figures}
    if p.returncode:
        out["error"] = p.stderr[-1500:]
    ran = p.returncode == 0 and all(f in figures for f in SPEED_GOALS)
    finite = ran and all(figures[f]["loss_finite"] and figures[f]["baseline_loss_finite"] for f in SPEED_GOALS)
    out["pass"] = bool(finite)
    if ran and figures["train_step_it_s"].get("device", "").startswith("cpu"):
        out["goal_met"] = None  # no speed claims on the CPU
    elif ran:
        peaks = [figures[f.replace("_it_s", "_peak_gib")]["value"] for f in SPEED_GOALS]
        out["goal_met"] = (all(figures[f]["ratio"] >= goal for f, goal in SPEED_GOALS.items())
                           and all(p is not None and p <= PEAK_GOAL_GIB for p in peaks[:1]))
    return out


# ------------------------------------------------------------------------------ main

def kill_after_first_epoch(project: Path, model: str, sets: list[str], timeout: float) -> tuple[Path | None, dict]:
    """Start a detached run, SIGKILL its worker once epoch 1 has ended; (run dir, what happened)."""
    args = ["train", str(project), "--model", model, "--detach", "--json", "--force"]
    for s in sets:
        args += ["--set", s]
    rc, out, _ = onelora(*args, timeout=120)
    if rc or not out.get("path"):
        return None, {"killed": False, "error": out}
    run_dir = Path(out["path"])
    end = time.time() + timeout
    while time.time() < end:
        events = ev.read_events(run_dir)
        if any(e["kind"] == "epoch_end" for e in events):
            break
        if events and events[-1]["kind"] in ev.END_KINDS:
            return run_dir, {"killed": False, "error": f"ended before the kill: {events[-1]}"}
        time.sleep(0.05)
    else:
        return run_dir, {"killed": False, "error": "no epoch_end in time"}
    pid = int((run_dir / "pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    steps_at_kill = max((e["step"] for e in ev.read_events(run_dir) if e["kind"] == "step"), default=0)
    return run_dir, {"killed": True, "steps_at_kill": steps_at_kill}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir", type=Path)
    p.add_argument("--tiny", action="store_true", help="builtin:tiny on the CPU (the CI form)")
    p.add_argument("--only", default="side,defaults,step_speed",
                   help="parts to run, comma separated: side (bf16_adamw, nan, resume), defaults "
                        "(defaults + whole_job), step_speed; for a second device call that finishes "
                        "what a first one ran out of time for")
    args = p.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    t_start = time.perf_counter()
    out_dir = args.outdir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    cuda = torch.cuda.is_available() and not args.tiny
    if not args.tiny and not cuda:
        print("no CUDA GPU here: run with --tiny for the CPU form", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"mode": "tiny" if args.tiny else "sd15",
                              "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                              "torch": torch.__version__, "items": {}}
    items = report["items"]

    def save() -> None:
        report["total_s"] = round(time.perf_counter() - t_start, 1)
        report["pass"] = all(v.get("pass") for v in items.values())
        tmp = out_dir / "gpu_check.json.tmp"
        tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
        tmp.replace(out_dir / "gpu_check.json")

    model = "builtin:tiny"
    if cuda:
        ckpt = out_dir / "sd15-random.safetensors"
        report["checkpoint"] = write_sd15_checkpoint(ckpt)
        model = str(ckpt)
        print(f"checkpoint: {report['checkpoint']}", flush=True)
    plan = plans(args.tiny, model)
    report["project"] = make_project(out_dir / "projects" / "drawing")
    project = Path(report["project"]["project"])
    save()

    # -- side by side: bf16 + AdamW, the NaN run, the killed run (then its resume)
    if "side" in only:
        side_by_side(items, project, model, plan)
        save()
    if "defaults" in only:
        default_job(items, project, model, plan, args.tiny)
        save()
    if "step_speed" in only:
        items["step_speed"] = step_speed(plan["bench"], plan["timeout"])
        save()
    print(json.dumps({"pass": report["pass"], "total_s": report["total_s"],
                      "items": {k: v.get("pass") for k, v in items.items()}}), flush=True)
    return 0 if report["pass"] else 1


def side_by_side(items: dict, project: Path, model: str, plan: dict) -> None:
    """bf16 + AdamW, the NaN run and the killed-then-resumed run, at the same time."""
    straight = train_background(project, model, plan["bf16_adamw"])
    nan = train_background(project, model, plan["nan"])
    killed_dir, kill_info = kill_after_first_epoch(project, model, plan["bf16_adamw"], plan["timeout"])
    rc_s, res_s = finish(straight, plan["timeout"])
    rc_n, res_n = finish(nan, plan["timeout"])
    items["bf16_adamw"] = finished_run({"rc": rc_s, **res_s}, min_steps=1)
    items["bf16_adamw"]["pass"] = items["bf16_adamw"]["pass"] and \
        items["bf16_adamw"]["started"].get("optimizer") == "AdamW"
    items["nan"] = nan_run({"rc": rc_n, **res_n})
    if killed_dir is not None and kill_info.get("killed"):
        rc, out, secs = onelora("train", str(project), "--resume", killed_dir.name, "--json",
                                "--force", timeout=plan["timeout"])
        kill_info["resume_rc"], kill_info["resume_s"] = rc, round(secs, 1)
    items["resume"] = resume_compare(run_dir_of(res_s) or project, killed_dir or project, kill_info) \
        if killed_dir is not None else {"pass": False, **kill_info}
    print(json.dumps({k: items[k]["pass"] for k in items}), flush=True)


def default_job(items: dict, project: Path, model: str, plan: dict, tiny: bool) -> None:
    """The default job alone (items 1 and 5): finished, inspected, finite, and its breakdown."""
    res = train(project, model, plan["defaults"], plan["timeout"])
    items["defaults"] = finished_run(res, min_steps=min(60, plan["default_steps"]))
    items["defaults"]["overrides"] = plan["defaults"]
    reason = str(res.get("reason") or "")
    if not tiny and res.get("status") == "failed" and any(w in reason.lower() for w in
                                                          ("inductor", "dynamo", "compile", "graph")):
        # compiling with dynamic bucket sizes failed: say so, and run it again with static shapes
        items["defaults"]["first_try"] = {"reason": reason[:1500], "overrides": plan["defaults"]}
        os.environ["ONELORA_COMPILE_DYNAMIC"] = "0"
        res = train(project, model, plan["defaults"], plan["timeout"])
        items["defaults"] = {**finished_run(res, min_steps=60), "overrides": plan["defaults"],
                             "env": "ONELORA_COMPILE_DYNAMIC=0", "first_try": items["defaults"]["first_try"]}
    run_dir = run_dir_of(res)
    if run_dir is not None:
        job = breakdown(run_dir, res["wall_s"])
        job["pass"] = items["defaults"]["pass"] and job["steps"] == plan["default_steps"]
        job["goal_met"] = None if tiny else job["wall_s"] <= JOB_GOAL_S
        items["whole_job"] = job
    else:
        items["whole_job"] = {"pass": False, "error": res}
    print(json.dumps({"defaults": items["defaults"]["pass"], "whole_job": items["whole_job"]}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
