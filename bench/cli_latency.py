"""Benchmark: how long the quick ``onelora`` commands take, this tree against a base commit.

Prints ONE JSON line per command, each with this tree's and the base's numbers measured in the same
run, alternating (base, new) so that machine load hits both alike:

- ``new_s`` / ``base_s``: median wall time of a fresh ``python -m engine.cli ...`` process
  (the ``onelora`` script does the same plus the entry-point lookup), over ``--repeat`` runs;
- ``new_rss_mb`` / ``base_rss_mb``: the largest peak resident memory of those processes;
- ``goal_s``: 0.6 (issue 12); ``new_ok``: whether the median is within it.

Commands: ``--help``; ``runs DIR`` (a project with a 3-epoch training run); ``inspect FILE`` (a
kohya-shaped 264-module rank-16 fp16 LoRA, about 13 MB, written with numpy); ``inspect`` of a
missing file; ``doctor`` (no model). The base tree is ``git archive BASE`` unpacked into a
temporary folder (default base: ba7d990, the last commit before the torch-free commands).

Run: ``.venv/bin/python bench/cli_latency.py [--base REV] [--repeat N]`` (no torch needed here;
the base's commands import it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.6


def checkout(rev: str, dest: Path) -> Path:
    """The tree of ``rev`` (git archive, nothing written to the repository)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def kohya_lora(path: Path, rank: int = 16, modules: int = 264) -> Path:
    """A LoRA file with the shape of sd-scripts' SD1.x output: 192 UNet + 72 text-encoder modules."""
    rng = np.random.default_rng(0)
    tensors = {}
    for i in range(modules):
        name = (f"lora_unet_down_blocks_{i % 3}_attentions_{i % 2}_transformer_blocks_0_attn1_to_q{i}"
                if i < 192 else f"lora_te_text_model_encoder_layers_{i % 12}_mlp_fc{i}")
        tensors[f"{name}.lora_down.weight"] = (rng.standard_normal((rank, 768)) * 0.02).astype(np.float16)
        tensors[f"{name}.lora_up.weight"] = (rng.standard_normal((768, rank)) * 0.002).astype(np.float16)
        tensors[f"{name}.alpha"] = np.array(rank / 2, np.float16)
    save_file(tensors, str(path), metadata={"ss_network_dim": str(rank), "ss_network_alpha": str(rank / 2),
                                            "ss_tag_frequency": json.dumps({"10_zq girl": {"zq": 4}})})
    return path


def fixture(work: Path) -> dict[str, list[str]]:
    """A project with a training run, and the command lines to time."""
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from engine import events, runs
    from engine import project as pj

    Image.new("RGB", (96, 160), (250, 250, 250)).save(work / "drawing.png")
    project = pj.create(work / "drawing.png", work / "proj", trigger="zq", class_name="girl")
    run_dir = runs.new_run_dir(project, "train")
    runs.freeze_config(project, run_dir, "train")
    with events.EventWriter(run_dir) as w:
        w.emit("started", total_steps=30, epochs=3)
        for e in (1, 2, 3):
            path = kohya_lora(run_dir / f"zq-{e:06d}.safetensors", modules=8)
            w.emit("checkpoint", epoch=e, path=str(path))
        w.emit("finished")
    big = kohya_lora(work / "zq-rank16.safetensors")
    return {"--help": ["--help"], "runs DIR": ["runs", str(project.root)],
            "inspect FILE (13 MB LoRA)": ["inspect", str(big)],
            "inspect MISSING": ["inspect", str(work / "missing.safetensors")],
            "doctor": ["doctor"]}


TIME = Path("/usr/bin/time")


def timed(tree: Path, argv: list[str], home: Path) -> tuple[float, float | None, int]:
    """Wall seconds, peak RSS in MB (through /usr/bin/time when present: a forked child's own
    rusage would count the parent's memory) and exit code of one ``python -m engine.cli``."""
    env = dict(os.environ, PYTHONPATH=str(tree), ONELORA_CACHE=str(home / "cache"), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "engine.cli", *argv]
    if TIME.exists():
        cmd = [str(TIME), "-f", "onelora-bench-rss-kb %M", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=str(tree), env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    rss = [line.split()[-1] for line in proc.stderr.splitlines() if line.startswith("onelora-bench-rss-kb")]
    return wall, (int(rss[-1]) / 1024 if rss else None), proc.returncode


def _peak(samples: list[tuple[float, float | None]]) -> float | None:
    known = [r for _, r in samples if r is not None]
    return round(max(known), 1) if known else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="ba7d990", help="commit to compare with (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="onelora-cli-bench-") as tmp:
        work = Path(tmp)
        base = checkout(args.base, work / "base")
        commands = fixture(work)
        for label, argv in commands.items():
            res: dict[str, list] = {"new": [], "base": []}
            codes: dict[str, int] = {}
            timed(ROOT, argv, work)  # warm the file cache for both trees
            timed(base, argv, work)
            for _ in range(args.repeat):
                for which, tree in (("base", base), ("new", ROOT)):
                    wall, rss, rc = timed(tree, argv, work)
                    res[which].append((wall, rss))
                    codes[which] = rc
            new_s = statistics.median(w for w, _ in res["new"])
            base_s = statistics.median(w for w, _ in res["base"])
            print(json.dumps({
                "bench": "cli_latency", "command": label, "repeat": args.repeat,
                "new_s": round(new_s, 3), "base_s": round(base_s, 3), "base": args.base,
                "speedup": round(base_s / new_s, 1),
                "new_rss_mb": _peak(res["new"]), "base_rss_mb": _peak(res["base"]),
                "exit_codes": codes, "goal_s": GOAL_S, "new_ok": new_s <= GOAL_S,
            }), flush=True)


if __name__ == "__main__":
    main()
