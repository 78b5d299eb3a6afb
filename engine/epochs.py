"""A run's epochs as the samples screen and ``onelora pick`` see them: the LoRA file saved
for each epoch, the samples made of each epoch, and picking one epoch's LoRA as the output.

Light module (no torch): the TUI picks an epoch through :func:`pick_epoch`, which copies
the safetensors file by rewriting its JSON header (metadata added, tensors untouched).

Samples live in ``runs/<id>/samples/epoch-NNN/`` with an ``index.json`` listing each image
(file, prompt index, prompt, seed, weight) and a ``grid.png`` (rows: prompt × seed,
columns: LoRA weight).  A later pass of the same epoch (``onelora sample``, ``sample-now``,
changed prompts) writes ``samples/epoch-NNN-2/``, ``-3``, ... and never replaces an earlier
pass's images; :func:`read_epoch` shows the newest pass (see there).

A **diverged** epoch (most of its steps non-finite, its LoRA weights exploded, or its samples
blank; engine/train.py and engine/overfit.py decide) is recorded in ``runs/<id>/diverged.json``
(``{"<epoch>": {"reason": ..., ...}}``) and as a ``diverged`` field on its ``epoch_end`` /
``checkpoint`` events; :func:`diverged_epochs` reads both.  Such an epoch is never suggested,
and :func:`pick_epoch` refuses it unless forced.

Comparing rounds: :func:`picked_samples` reads the samples of the epoch picked from an earlier
run (``samples.picked_run`` / ``picked_epoch``, which :func:`pick_epoch` records), and
:meth:`SampleGrid.compare_with` adds them to a later run's grid as one more row, matched by
prompt text and seed.
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine import events as ev
from engine import project as pj
from engine import runs
from engine.errors import UserError

SAMPLES_DIR = "samples"
INDEX_FILE = "index.json"
GRID_FILE = "grid.png"
OUTPUT_DIR = "output"
DIVERGED_FILE = "diverged.json"
from engine.project import LORA_WEIGHT_MAX, LORA_WEIGHT_MIN, check_lora_weights  # noqa: F401 (re-exported)
"""LoRA weights sampling accepts: beyond these a LoRA only draws noise (A1111/ComfyUI users
sample between about -1 and 2)."""
_EPOCH_NAME_RES = (re.compile(r"-(\d{6})\.safetensors$"), re.compile(r"epoch[-_]?(\d+)\.safetensors$"),
                   re.compile(r"-e(\d+)\.safetensors$"))


@dataclass
class SampleRecord:
    """One sample image of one epoch."""

    epoch: int
    weight: float
    prompt_index: int
    prompt: str
    seed: int
    file: str
    """Path relative to the run directory."""
    width: int = 0
    height: int = 0


# ---------------------------------------------------------------------------------------
# LoRA files per epoch
# ---------------------------------------------------------------------------------------

def epoch_files(run_dir: str | os.PathLike) -> dict[int, Path]:
    """The LoRA saved for each epoch of a training run: ``checkpoint`` events first (they
    carry the epoch), then file names like ``name-000003.safetensors`` or ``epoch-3``."""
    run_dir = Path(run_dir)
    found: dict[int, Path] = {}
    for e in ev.read_events(run_dir):
        if e.get("kind") == "checkpoint" and e.get("path") and e.get("epoch") is not None:
            path = Path(str(e["path"]))
            path = path if path.is_absolute() else run_dir / path
            if path.suffix == ".safetensors" and path.exists():
                found[int(e["epoch"])] = path
    for path in sorted(run_dir.glob("*.safetensors")):
        for rx in _EPOCH_NAME_RES:
            m = rx.search(path.name)
            if m:
                found.setdefault(int(m.group(1)), path)
                break
    return dict(sorted(found.items()))


def has_saved_epochs(run_dir: str | os.PathLike) -> bool:
    """Whether a run folder holds a LoRA named for an epoch (``name-000003.safetensors``...):
    a look at file names only, cheap enough for every run of a project."""
    return any(rx.search(p.name) for p in Path(run_dir).glob("*.safetensors")
               for rx in _EPOCH_NAME_RES)


# ---------------------------------------------------------------------------------------
# Diverged epochs
# ---------------------------------------------------------------------------------------

def _read_diverged_file(run_dir: Path) -> dict:
    try:
        data = json.loads((run_dir / DIVERGED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def mark_diverged(run_dir: str | os.PathLike, epoch: int, reason: str, **details) -> Path:
    """Record in ``run_dir/diverged.json`` (atomic) that ``epoch`` diverged, and why."""
    run_dir = Path(run_dir)
    data = _read_diverged_file(run_dir)
    data[str(int(epoch))] = {"reason": str(reason), **details}
    path = run_dir / DIVERGED_FILE
    pj.atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def diverged_epochs(run_dir: str | os.PathLike) -> dict[int, str]:
    """Epoch → why it diverged, from ``diverged.json`` and from ``epoch_end``/``checkpoint``
    events that carry a ``diverged`` reason (either alone is enough)."""
    run_dir = Path(run_dir)
    out: dict[int, str] = {}
    for key, value in _read_diverged_file(run_dir).items():
        try:
            epoch = int(key)
        except ValueError:
            continue
        reason = value.get("reason") if isinstance(value, dict) else value
        out[epoch] = str(reason or "diverged")
    for e in ev.read_events(run_dir):
        if e.get("kind") in ("epoch_end", "checkpoint") and e.get("diverged"):
            try:
                out.setdefault(int(e["epoch"]), str(e["diverged"]))
            except (KeyError, TypeError, ValueError):
                continue
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------
# Samples per epoch
# ---------------------------------------------------------------------------------------

def epoch_dir(run_dir: str | os.PathLike, epoch: int, pass_no: int = 1) -> Path:
    """The folder of ``epoch``'s sampling pass ``pass_no``: ``samples/epoch-NNN`` for the
    first pass, ``samples/epoch-NNN-2``, ``-3``, ... for later ones."""
    name = f"epoch-{epoch:03d}" + (f"-{pass_no}" if pass_no > 1 else "")
    return Path(run_dir) / SAMPLES_DIR / name


_PASS_RE = re.compile(r"epoch-(\d+)(?:-(\d+))?")


def sample_passes(run_dir: str | os.PathLike, epoch: int) -> list[Path]:
    """The finished sampling passes of ``epoch`` (folders with an index), oldest first."""
    root = Path(run_dir) / SAMPLES_DIR
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        m = _PASS_RE.fullmatch(d.name)
        if m and int(m.group(1)) == epoch and (d / INDEX_FILE).exists():
            found.append((int(m.group(2) or 1), d))
    return [d for _, d in sorted(found)]


def latest_pass_dir(run_dir: str | os.PathLike, epoch: int) -> Path:
    """The newest finished pass of ``epoch`` (the first pass's folder when there is none)."""
    passes = sample_passes(run_dir, epoch)
    return passes[-1] if passes else epoch_dir(run_dir, epoch)


def next_pass_dir(run_dir: str | os.PathLike, epoch: int) -> Path:
    """Where a new sampling pass of ``epoch`` writes: the first pass folder with no index
    (a pass that was stopped or killed before its index never counted), so a later pass
    (``onelora sample``, ``sample-now``, other prompts) never replaces earlier images."""
    n = 1
    while (epoch_dir(run_dir, epoch, n) / INDEX_FILE).exists():
        n += 1
    return epoch_dir(run_dir, epoch, n)


def sample_file_name(prompt_index: int, seed: int, weight: float) -> str:
    return f"p{prompt_index:02d}-s{seed}-w{weight:.2f}.png"


def write_index(run_dir: str | os.PathLike, epoch: int, records: list[SampleRecord],
                folder: str | os.PathLike | None = None) -> Path:
    """Write the ``index.json`` of one pass (``folder``, default the epoch's first pass),
    listing that pass's images only; :func:`read_epoch` joins the passes."""
    folder = Path(folder) if folder is not None else epoch_dir(run_dir, epoch)
    path = folder / INDEX_FILE
    ordered = sorted(records, key=lambda r: (r.prompt_index, r.seed, r.weight))
    pj.atomic_write_text(path, json.dumps([asdict(r) for r in ordered], indent=1))
    return path


def read_pass(folder: str | os.PathLike) -> list[SampleRecord]:
    """The records of one pass folder's index (none when it is missing or unreadable)."""
    path = Path(folder) / INDEX_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for item in data if isinstance(data, list) else []:
        try:
            out.append(SampleRecord(**item))
        except TypeError:
            continue
    return out


def read_epoch(run_dir: str | os.PathLike, epoch: int) -> list[SampleRecord]:
    """``epoch``'s samples as the screen shows them: the newest pass, plus images of an
    earlier pass with the same prompt text and seed at a weight the newest pass did not draw
    (so a pass of other weights adds columns).  Images of prompts the newest pass does not
    have stay on disk in their own pass folder, out of the grid."""
    passes = sample_passes(run_dir, epoch)
    if not passes:
        return []
    out = read_pass(passes[-1])
    index_of = {r.prompt: r.prompt_index for r in out}
    have = {(r.prompt, r.seed, round(r.weight, 6)) for r in out}
    for folder in reversed(passes[:-1]):
        for r in read_pass(folder):
            key = (r.prompt, r.seed, round(r.weight, 6))
            if r.prompt in index_of and key not in have:
                have.add(key)
                out.append(SampleRecord(**{**asdict(r), "prompt_index": index_of[r.prompt]}))
    return sorted(out, key=lambda r: (r.prompt_index, r.seed, r.weight))


def sampled_epochs(run_dir: str | os.PathLike) -> list[int]:
    root = Path(run_dir) / SAMPLES_DIR
    if not root.is_dir():
        return []
    out = set()
    for d in root.iterdir():
        m = _PASS_RE.fullmatch(d.name)
        if m and (d / INDEX_FILE).exists():
            out.add(int(m.group(1)))
    return sorted(out)


def pass_number(record: SampleRecord) -> int:
    """Which sampling pass of its epoch drew ``record`` (1 = the first)."""
    m = _PASS_RE.fullmatch(Path(record.file).parent.name)
    return int(m.group(2) or 1) if m else 1


def samples_written(run_dir: str | os.PathLike) -> int:
    """Sample images every finished pass of the run lists (older passes included)."""
    return sum(len(read_pass(d)) for e in sampled_epochs(run_dir) for d in sample_passes(run_dir, e))


def read_samples(run_dir: str | os.PathLike) -> list[SampleRecord]:
    """Every sample of every epoch of a run, in epoch order."""
    return [r for e in sampled_epochs(run_dir) for r in read_epoch(run_dir, e)]


@dataclass
class SampleGrid:
    """The epoch × weight table of one prompt and seed (what the samples screen shows)."""

    epochs: list[int]
    weights: list[float]
    prompts: list[tuple[int, str]]
    seeds: list[int]
    records: list[SampleRecord]

    @classmethod
    def of_run(cls, run_dir: str | os.PathLike, saved: bool = False) -> "SampleGrid":
        """The run's samples; with ``saved``, also a row for each epoch whose LoRA is saved but
        not sampled (yet), so that epoch can be picked all the same."""
        recs = read_samples(run_dir)
        epochs = {r.epoch for r in recs} | (set(epoch_files(run_dir)) if saved else set())
        return cls(epochs=sorted(epochs),
                   weights=sorted({r.weight for r in recs}),
                   prompts=sorted({(r.prompt_index, r.prompt) for r in recs}),
                   seeds=sorted({r.seed for r in recs}), records=recs)

    earlier: "EarlierEpoch | None" = None
    """An earlier run's picked epoch shown as one more row, to compare rounds (None = off)."""

    def cell(self, epoch: int, weight: float | None, prompt_index: int | None,
             seed: int | None) -> SampleRecord | None:
        if weight is None:
            return None
        for r in self.records:
            if (r.epoch == epoch and abs(r.weight - weight) < 1e-6
                    and r.prompt_index == prompt_index and r.seed == seed):
                return r
        return None

    def sampled(self, epoch: int) -> bool:
        """Whether ``epoch`` has any sample (a row from a saved LoRA alone has none)."""
        return any(r.epoch == epoch for r in self.records)

    def prompt_text(self, prompt_index: int | None) -> str:
        return next((text for i, text in self.prompts if i == prompt_index), "")

    def compare_with(self, earlier: "EarlierEpoch | None") -> "SampleGrid":
        """This grid with ``earlier``'s row (its weights join the columns); None = without."""
        weights = sorted({*self.weights, *(r.weight for r in earlier.records)}) if earlier else \
            sorted({r.weight for r in self.records})
        return SampleGrid(self.epochs, weights, self.prompts, self.seeds, self.records, earlier)


@dataclass
class EarlierEpoch:
    """The samples of the epoch picked from an earlier run (round one), matched to this run's
    cells by prompt text and seed: the same prompt and seed drawn by both rounds' LoRAs."""

    run_dir: Path
    epoch: int
    records: list[SampleRecord]

    def cell(self, weight: float, prompt: str, seed: int) -> SampleRecord | None:
        for r in self.records:
            if abs(r.weight - weight) < 1e-6 and r.prompt == prompt and r.seed == seed:
                return r
        return None

    def path(self, rec: SampleRecord) -> Path:
        return self.run_dir / rec.file


def picked_samples(project: pj.Project, run_dir: str | os.PathLike) -> EarlierEpoch:
    """The picked epoch's samples (``samples.picked_run``/``picked_epoch``, which
    :func:`pick_epoch` records) to show beside ``run_dir``'s epochs; a UserError saying why
    there is nothing to compare (no pick yet, the pick is from this run, its samples are gone)."""
    s = project.samples
    if not s.picked_run or not s.picked_epoch:
        raise UserError("nothing to compare with: no epoch picked yet (enter on a sample picks one)")
    if s.picked_run == Path(run_dir).name:
        raise UserError(f"run {s.picked_run} is the run the picked epoch came from: choose a later "
                        "run (r) to compare with it")
    try:
        earlier = runs.find_run(project.root, s.picked_run)
    except UserError:
        raise UserError(f"samples.picked_run {s.picked_run!r}: that run is gone from "
                        f"{runs.runs_root(project.root)}") from None
    records = read_epoch(earlier, s.picked_epoch)
    if not records:
        raise UserError(f"epoch {s.picked_epoch} of run {earlier.name} has no samples: "
                        f"onelora sample {project.root} {earlier.name} --epochs {s.picked_epoch} draws them")
    return EarlierEpoch(earlier, int(s.picked_epoch), records)


# ---------------------------------------------------------------------------------------
# Safetensors metadata without torch
# ---------------------------------------------------------------------------------------

def read_header(path: str | os.PathLike) -> tuple[dict, int]:
    """A safetensors file's JSON header and the byte offset where its tensor data starts."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise ValueError("too short")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(fh.read(n).decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found")
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not a safetensors file ({e})") from None
    if not isinstance(header, dict):
        raise UserError(f"{path} is not a safetensors file (header is not a JSON object)")
    return header, 8 + n


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    return dict(read_header(path)[0].get("__metadata__") or {})


def copy_with_metadata(src: str | os.PathLike, dest: str | os.PathLike,
                       extra: dict[str, str]) -> Path:
    """Copy a safetensors file, adding string metadata (existing keys kept unless in
    ``extra``); written atomically."""
    header, start = read_header(src)
    meta = dict(header.get("__metadata__") or {})
    meta.update({str(k): str(v) for k, v in extra.items()})
    header["__metadata__"] = meta
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # keep the tensor data 8-byte aligned
    with open(src, "rb") as fh:
        fh.seek(start)
        data = fh.read()
    dest = Path(dest)
    pj.atomic_write_bytes(dest, struct.pack("<Q", len(blob)) + blob + data)
    return dest


# ---------------------------------------------------------------------------------------
# Picking an epoch
# ---------------------------------------------------------------------------------------

def output_path(project: pj.Project, run_dir: str | os.PathLike | None = None) -> Path:
    """``DIR/output/<name>.safetensors``: the name the run was trained under (its frozen
    ``output_name``, else its trigger) when ``run_dir`` is given, so a trigger or output name
    changed since never labels an older run's LoRA with a word it did not learn; otherwise
    the project's current name."""
    name = _run_output_name(run_dir) if run_dir is not None else None
    name = name or project.train.output_name or project.trigger
    return Path(project.root) / OUTPUT_DIR / f"{name}.safetensors"


def _run_output_name(run_dir: str | os.PathLike) -> str | None:
    from engine.names import name_problem

    try:
        cfg = runs.read_config(run_dir)
    except UserError:
        return None
    train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    name = train.get("output_name") or cfg.get("trigger")
    return name if isinstance(name, str) and name_problem(name) is None else None


def picked_path(project: pj.Project) -> Path:
    """The LoRA the last pick wrote: the file recorded at pick time (``samples.picked_file``),
    never a name recomputed from today's trigger.  Projects picked before it was recorded:
    named after the picked run (``samples.picked_run``); if that run folder is gone, the output
    file whose metadata names that run and epoch; with no pick at all, the current name."""
    recorded = (project.samples.picked_file or "").strip()
    if recorded:
        path = Path(recorded)
        return path if path.is_absolute() else Path(project.root) / path
    s = project.samples
    if s.picked_run:
        run_dir = Path(project.root) / runs.RUNS_DIR / s.picked_run
        if (run_dir / "config.toml").is_file():
            return output_path(project, run_dir)
        for path in sorted((Path(project.root) / OUTPUT_DIR).glob("*.safetensors")):
            try:
                meta = read_metadata(path)
            except UserError:
                continue
            if (meta.get("onelora_run") == s.picked_run and
                    meta.get("onelora_picked_epoch") == str(s.picked_epoch)):
                return path
    return output_path(project)


def picked_missing(project: pj.Project) -> str:
    """Why there is no picked LoRA to use, in one line ("" when :func:`picked_path` exists)."""
    path = picked_path(project)
    if path.is_file():
        return ""
    s = project.samples
    if s.picked_file and s.picked_epoch:
        return (f"the picked LoRA {path} (epoch {s.picked_epoch} of run {s.picked_run}) is gone: "
                f"pick it again ('onelora pick {project.root} {s.picked_run} {s.picked_epoch}')")
    return f"no picked LoRA ({path} not found): pick an epoch first"


def find_training_run(project: pj.Project, run: str | os.PathLike | None) -> Path:
    """A training run by id, path or ``latest`` (the newest *training* run: sample and reg
    runs are skipped)."""
    if run is not None and Path(run).is_dir() and (Path(run) / "config.toml").exists():
        return Path(run)
    if run in (None, "", "latest"):
        trains = [p for p in sorted(runs.runs_root(project.root).glob("*/config.toml"))
                  if runs.read_config(p.parent).get("run", {}).get("kind", "train") == "train"]
        if not trains:
            raise UserError(f"no training runs in {runs.runs_root(project.root)}; "
                            f"start one with 'onelora train {project.root}'")
        return trains[-1].parent
    return runs.find_run(project.root, str(run))


def _only_copy(project: pj.Project, dest: Path) -> bool:
    """Whether ``dest`` (an existing output LoRA) would be lost if replaced: it is not a pick
    whose epoch file is still in its run folder (that run was deleted, or the file is one the
    user put there or edited)."""
    try:
        meta = read_metadata(dest)
    except UserError:
        return True
    run_id, source = meta.get("onelora_run", ""), meta.get("onelora_picked_from", "")
    if not run_id or not source or "/" in run_id + source or "\\" in run_id + source:
        return True
    src = Path(project.root) / runs.RUNS_DIR / run_id / source
    try:
        if not src.is_file():
            return True
        _, start = read_header(dest)
        _, src_start = read_header(src)
        return dest.stat().st_size - start != src.stat().st_size - src_start
    except (OSError, UserError):
        return True


def _keep_aside(project: pj.Project, dest: Path) -> Path | None:
    """Rename an output LoRA that a new pick would replace and that exists nowhere else to
    ``<name>-kept-<run>-e<epoch>[-n].safetensors``; returns the new path (None: nothing kept)."""
    if not dest.exists() or not _only_copy(project, dest):
        return None
    try:
        meta = read_metadata(dest)
    except UserError:
        meta = {}
    tag = "-".join(x for x in (meta.get("onelora_run", ""), f"e{meta['onelora_picked_epoch']}"
                               if meta.get("onelora_picked_epoch") else "") if x) or "earlier"
    tag = re.sub(r"[^\w.-]", "_", tag)[:80]
    for n in range(1, 1000):
        kept = dest.with_name(f"{dest.stem}-kept-{tag}{'' if n == 1 else f'-{n}'}{dest.suffix}")
        if not kept.exists():
            os.replace(dest, kept)
            return kept
    raise UserError(f"{dest} would be replaced and it is the only copy of that LoRA; move it "
                    "away first")


def pick_epoch(project: pj.Project, run: str | os.PathLike, epoch: int,
               force: bool = False, kept: list[Path] | None = None) -> Path:
    """Copy ``epoch``'s LoRA of ``run`` to ``DIR/output/<name>.safetensors`` (the run's output
    name or trigger, see :func:`output_path`) with metadata
    recording the choice, and remember it in ``project.samples`` (project.toml saved).
    A diverged epoch is refused unless ``force`` (the copy then records why it diverged).
    An output file it would replace that exists nowhere else (its run folder was deleted, or
    it is not a pick) is renamed first, never overwritten; its new path is added to ``kept``."""
    run_dir = find_training_run(project, run)
    files = epoch_files(run_dir)
    if epoch not in files:
        have = ", ".join(map(str, files)) or "none saved yet"
        raise UserError(f"run {run_dir.name} has no LoRA for epoch {epoch}; epochs: {have}")
    diverged = diverged_epochs(run_dir)
    if epoch in diverged and not force:
        good = [str(e) for e in files if e not in diverged]
        other = (f"pick a good epoch ({', '.join(good)})" if good else
                 "no saved epoch of this run is good: train again with a lower learning rate")
        raise UserError(f"epoch {epoch} of run {run_dir.name} diverged ({diverged[epoch]}), so it "
                        f"was not picked: {other}, or add --force to copy it anyway")
    extra = {
        "onelora_picked_epoch": str(epoch),
        "onelora_run": run_dir.name,
        "onelora_picked_from": files[epoch].name,
        "onelora_picked_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if epoch in diverged:
        extra["onelora_diverged"] = diverged[epoch]
    dest = output_path(project, run_dir)
    aside = _keep_aside(project, dest)
    if aside is not None and kept is not None:
        kept.append(aside)
    copy_with_metadata(files[epoch], dest, extra)
    project.samples.picked_run = run_dir.name
    project.samples.picked_epoch = int(epoch)
    try:
        project.samples.picked_file = dest.relative_to(project.root).as_posix()
    except ValueError:  # an output_name that leaves the project folder
        project.samples.picked_file = str(dest)
    pj.save(project)
    return dest
