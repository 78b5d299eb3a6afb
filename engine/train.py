"""The training loop: one readable file (nanoGPT train.py style).

``train(run_dir)`` reads the frozen settings in ``run_dir/config.toml``, loads the base
model, wraps it with a LoRA and runs one loop; everything a UI needs to know goes out as
events (engine/events.py), commands come in through engine.runs.RunControl.

Per step: batch → latents (cached or encoded) → noise (+ noise offset) → timesteps → UNet
→ loss (MSE, reg weight, min-SNR) → backward → clip → a step applied only if loss and
gradients are finite, decided on the device → one host sync that reads loss and flags.

NaN policy (docs/architecture.md, "NaN policy"): a step with a non-finite loss or gradient is skipped and
reported with its batch's files and captions; the loss average only sees finite losses.
After ``nonfinite_patience`` bad steps in a row, or as soon as LoRA weights are non-finite,
the last good state (kept in memory) is restored and the LR multiplied by
``nonfinite_lr_factor``; after ``nonfinite_max_rollbacks`` rollbacks the run stops with a
diagnosis.  No LoRA with a non-finite tensor is ever written.

Diverged epochs (engine/divergence.py): an epoch whose steps were mostly non-finite,
whose LoRA weights grew a hundredfold, or whose samples are blank is recorded
as diverged (``diverged.json`` in the run folder, a ``diverged`` field on its events, and
``onelora_diverged`` in its file's metadata).  It never becomes the state rollbacks restore;
the run rolls back past it (one rollback) or, when it was the last epoch, ends ``failed``.

Exact resume: the LR is a pure function of the step (training_utils.lr_factor), the epoch
order depends only on seed + epoch and each step's random draws only on seed + step, and
the state saved at every epoch end (run_dir/state/) holds step, epoch, position, LR scale,
optimizer, scaler and RNG states; a resumed run therefore repeats the uninterrupted run's
steps exactly.  A rollback does not rewind the step counter: steps keep their numbers.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from pathlib import Path

import torch

from engine import data as data_mod
from engine import epochs as ep
from engine import models
from engine.divergence import diagnose_divergence, epoch_verdict, lora_norm, lower_lr_hint, plausible
from engine import training_utils as tu
from engine.errors import UserError
from engine.events import EventWriter
from engine.init_lora import load_into
from engine.project import atomic_write_bytes, atomic_write_text
from engine.runs import RunControl, load_run_project
from engine.train_step import (  # noqa: F401 (the bench and tests use them from here too)
    COMPILE_MODE, StepContext, choose_precision, compile_mode, prepare_text_encoder, prepare_unet,
    save_dtype, set_cpu_threads, train_step, vram_mb)

STATE_DIR = "state"
STATE_FILE = "state.pt"
SNAPSHOT_EVERY = 50
"""Good steps between in-memory snapshots the NaN policy rolls back to (also at epoch ends)."""
EMA_BETA = 0.9
class RunFailed(Exception):
    """The run cannot go on; ``reason`` and ``hint`` go into the ``failed`` event."""

    def __init__(self, reason: str, hint: str = ""):
        super().__init__(reason)
        self.reason, self.hint = reason, hint


def train(run_dir: str | Path, resume: bool = False) -> None:
    """Train the LoRA a run directory describes; ends with a finished/failed/stopped event.
    engine/supervisor.py owns the heartbeat, the ``failed`` event and the exit code; a
    UserError or an internal error is raised again after its event."""
    from engine.supervisor import supervise

    supervise(run_dir, train_job, resume=resume, reraise=True)


def train_job(run_dir: Path, writer: EventWriter, control: RunControl, resume: bool = False) -> None:
    """The supervisor's job function for run kind ``train``."""
    _train(Path(run_dir), resume, writer, control)


def _train(run_dir: Path, resume: bool, writer: EventWriter, control: RunControl) -> None:
    # ---------------------------------------------------------------- settings and device
    project, _run_meta = load_run_project(run_dir)  # rooted at runs/<id>/../.. (a moved project resumes)
    t = project.train
    device, compute_dtype, precision_note = choose_precision(t.mixed_precision)
    torch.manual_seed(t.seed)

    # ---------------------------------------------------------------- model, data, LoRA
    writer.emit("loading", phase="loading model", detail=str(t.model))
    t0 = time.perf_counter()
    base = models.load_base(t.model, device=device, dtype=compute_dtype)
    load_s = time.perf_counter() - t0
    cpu_threads = set_cpu_threads(device, base.is_builtin)
    base.vae.to(torch.float32)  # an SD1.x VAE overflows in fp16; it only encodes here
    items = data_mod.items_from_project(project)
    data = data_mod.TrainData.from_settings(items, t, prior_loss_weight=project.reg.prior_loss_weight)
    cached = t.cache_latents and data.cacheable
    t0 = time.perf_counter()
    if cached:
        writer.emit("loading", phase="caching latents", detail=f"{len(items)} images")
        data.cache_latents(base.vae)
    cache_s = time.perf_counter() - t0

    from engine import lora

    network = tu.build_network(base, t, device)  # trainable weights stay fp32
    if not resume and t.init_lora.strip():  # round two: start from the picked LoRA (resume: state.pt)
        writer.emit("loading", phase="starting from a LoRA", detail=str(load_into(network, project)))
    params = [p for p in network.parameters() if p.requires_grad]
    unet_lr = t.unet_lr or t.learning_rate
    te_lr = t.text_encoder_lr or t.learning_rate
    groups = network.param_groups(unet_lr, te_lr)
    for g in groups:
        g["base_lr"] = g["lr"]
    optimizer = tu.make_optimizer(t.optimizer, groups, t.learning_rate, t.weight_decay, device)
    scaler = torch.amp.GradScaler(device.type, enabled=compute_dtype == torch.float16,
                                  init_scale=2.0 ** 12)

    if t.gradient_checkpointing:
        base.unet.enable_gradient_checkpointing()
        base.unet.train()
        if t.train_text_encoder:
            te = base.text_encoder  # transformers ≥ 5 renamed the method
            if hasattr(te, "activation_checkpointing_enable"):
                te.activation_checkpointing_enable({"use_reentrant": False})
            else:
                te.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            base.text_encoder.train()
    unet = prepare_unet(base.unet, t, device, writer.emit)

    # ---------------------------------------------------------------- steps and schedule
    steps_per_epoch = data.steps_per_epoch
    total_steps = t.epochs * steps_per_epoch
    if t.max_steps:
        total_steps = min(total_steps, t.max_steps)
    epochs = math.ceil(total_steps / steps_per_epoch)
    warmup = tu.warmup_steps(t.lr_warmup_steps, total_steps) if t.lr_scheduler != "constant" else 0
    output_name = t.output_name or project.trigger
    ctx = StepContext(base=base, unet=unet, settings=t, device=device, compute_dtype=compute_dtype,
                      encode=prepare_text_encoder(base, t, device, writer.emit))

    s = {"step": 0, "epoch": 1, "pos": 0, "lr_scale": 1.0, "rollbacks": 0, "loss_ema": None,
         "epoch_loss_sum": 0.0, "epoch_loss_n": 0, "nonfinite": [], "session_id": int(time.time())}
    if resume:
        s = load_state(run_dir, network, optimizer, scaler)
    if "start_norm" not in s:  # LoRA norm at the start (an older state lacks it: measured now)
        s["start_norm"] = lora_norm(params)

    dataset_md = {**data_mod.dataset_metadata(items, data.repeats),
                  "num_batches_per_epoch": steps_per_epoch, "bucket_info": data.bucket_info()}
    optimizer_md = f"{type(optimizer).__module__}.{type(optimizer).__name__}(weight_decay={t.weight_decay})"

    def lora_metadata(epoch: int, step: int) -> dict[str, str]:
        return lora.build_metadata(network, t, base=base, dataset=dataset_md, run={
            "session_id": s["session_id"], "training_started_at": s["session_id"], "epoch": epoch,
            "steps": step, "max_train_steps": total_steps, "epochs": epochs, "optimizer": optimizer_md,
            "trigger": project.trigger, "title": output_name, "output_name": output_name,
            "prior_loss_weight": project.reg.prior_loss_weight, "lr_warmup_steps": warmup})

    def save_lora(path: Path, epoch: int, diverged: str | None = None) -> bool:
        """Write the LoRA; a diverged epoch's file records why (and is skipped, with a log
        line, when its weights overflow the save precision).  True when written."""
        if not network.all_finite():
            raise RunFailed(f"refusing to save {path.name}: the LoRA has non-finite weights",
                            "this is a bug in the NaN guard; resume from the last epoch")
        metadata = lora_metadata(epoch, s["step"])
        if diverged:
            metadata["onelora_diverged"] = diverged
        try:
            network.save(path, dtype=save_dtype(t.save_precision), metadata=metadata)
        except lora.NonFiniteLoraError as e:  # finite in fp32, but overflowing the save precision
            if diverged:
                writer.emit("log", message=f"{path.name} not saved: {e} (epoch {epoch} diverged)")
                return False
            # Only exploded weights overflow (fp16 holds up to 65504; LoRA weights are ~0.01-1),
            # so a wider save precision would just write an exploded file.
            raise RunFailed(f"{path.name}: {e}", "the LoRA weights exploded; "
                            + lower_lr_hint(t)) from None
        return True

    def snapshot() -> dict:
        return {"network": copy.deepcopy(network.state_dict()),
                "optimizer": copy.deepcopy(optimizer.state_dict()), "scaler": scaler.state_dict()}

    def roll_back(step: int, epoch: int, what: str, files: list[str], captions: list[str]) -> str:
        """Restore the last good state and lower the LR, or stop the run with a diagnosis."""
        if s["rollbacks"] >= t.nonfinite_max_rollbacks:
            writer.emit("nonfinite", step=step, epoch=epoch, what=what, files=files,
                        captions=captions, action="stop")
            raise RunFailed(*diagnose(s["nonfinite"], t, s["rollbacks"]))
        network.load_state_dict(last_good["network"])
        optimizer.load_state_dict(last_good["optimizer"])
        scaler.load_state_dict(last_good["scaler"])
        s["rollbacks"] += 1
        s["lr_scale"] *= t.nonfinite_lr_factor
        return f"rollback, LR × {s['lr_scale']:g}"

    last_good = snapshot()
    sample_images = sample_images_per_epoch(project) if t.sample_every_n_epochs else 0
    writer.emit("started", job="train", total_steps=total_steps, epochs=epochs, steps_per_epoch=steps_per_epoch,
                device=str(device), precision=precision_note, model=base.name,
                model_label=base.label, images=sum(1 for it in items if not getattr(it, "is_reg", False)),
                reg_images=sum(1 for it in items if getattr(it, "is_reg", False)),
                latents=("cached" if not (t.color_aug and cached) else
                         f"cached ({data.variants_per_image} colour variants per crop)") if cached else
                ("encoded every step (color_aug is on)" if t.color_aug else "encoded every step"),
                attention="PyTorch SDPA", cpu_threads=cpu_threads, resumed_from=s["step"] if resume else None,
                optimizer=t.optimizer, lr_scheduler=t.lr_scheduler, warmup_steps=warmup,
                buckets=data.bucket_info()["buckets"], load_s=round(load_s, 3), cache_s=round(cache_s, 3),
                sample_images=sample_images, sample_every=t.sample_every_n_epochs)

    # ---------------------------------------------------------------- the loop
    bad_streak = 0
    t_last = time.perf_counter()
    it_s = None
    cut = ""  # a sampling pass a stop cut short (said in the stopped event)
    while s["step"] < total_steps:
        epoch = s["epoch"]
        batches = data.epoch_batches(epoch)
        while s["pos"] < len(batches) and s["step"] < total_steps:
            # -- commands from the UI
            command = control.poll()
            if command == "pause":
                writer.emit("paused", step=s["step"])
                while command != "resume":
                    time.sleep(0.25)
                    command = control.poll()
                    if command == "stop":
                        break
                    if command == "sample-now":
                        cut = run_sampling(base, network, project, run_dir, epoch, writer, control)
                if command == "resume":
                    writer.emit("resumed", step=s["step"])
                    t_last = time.perf_counter()
            if command == "sample-now":
                cut = run_sampling(base, network, project, run_dir, epoch, writer, control)
            if command == "stop":
                save_state(run_dir, s, network, optimizer, scaler)
                writer.emit("stopped", step=s["step"], epoch=epoch, images=sample_count(run_dir),
                            reason="stopped by the user" + (f" ({cut})" if cut else "")
                            + "; resume with --resume " + run_dir.name)
                return

            # -- one step
            step = s["step"]
            batch = data.batch(batches[s["pos"]], step)
            lrs = tu.set_lr(optimizer, s["lr_scale"] * tu.lr_factor(
                step, total_steps, t.lr_scheduler, warmup, t.lr_scheduler_num_cycles))
            t_step = time.perf_counter()
            loss_value, problem = train_step(ctx, batch, step, network, optimizer, scaler, params)
            step_ms = 1000 * (time.perf_counter() - t_step)
            s["step"] += 1
            s["pos"] += 1

            # -- NaN policy
            if problem:
                bad_streak += 1
                s["nonfinite"].append({"step": s["step"], "what": problem, "files": batch.files})
                action = "skipped"
                if problem == "weights" or bad_streak >= t.nonfinite_patience:
                    action = roll_back(s["step"], epoch, problem, batch.files, batch.captions)
                    bad_streak = 0
                writer.emit("nonfinite", step=s["step"], epoch=epoch, what=problem, loss=loss_value,
                            files=batch.files, captions=batch.captions, action=action)
                if action != "skipped":
                    writer.emit("rollback", step=s["step"], lr_scale=s["lr_scale"],
                                rollbacks=s["rollbacks"])
                continue

            # -- bookkeeping of a good step
            bad_streak = 0
            s["loss_ema"] = loss_value if s["loss_ema"] is None else \
                EMA_BETA * s["loss_ema"] + (1 - EMA_BETA) * loss_value
            s["epoch_loss_sum"] += loss_value
            s["epoch_loss_n"] += 1
            now = time.perf_counter()
            rate = 1.0 / max(now - t_last, 1e-9)
            it_s = rate if it_s is None else 0.8 * it_s + 0.2 * rate
            t_last = now
            writer.emit("step", step=s["step"], epoch=epoch, total_steps=total_steps, loss=loss_value,
                        loss_ema=s["loss_ema"], lr=lrs, it_s=round(it_s, 3), vram_mb=vram_mb(device),
                        files=batch.files, step_ms=round(step_ms, 2))
            if s["step"] % SNAPSHOT_EVERY == 0 and plausible(lora_norm(params), s):
                last_good = snapshot()

        # ------------------------------------------------------------ epoch end
        if not network.all_finite():  # never save, never snapshot a broken LoRA
            s["nonfinite"].append({"step": s["step"], "what": "weights", "files": []})
            action = roll_back(s["step"], epoch, "weights", [], [])
            writer.emit("nonfinite", step=s["step"], epoch=epoch, what="weights", files=[], captions=[],
                        action=action)
            writer.emit("rollback", step=s["step"], lr_scale=s["lr_scale"], rollbacks=s["rollbacks"])
        last = s["step"] >= total_steps
        first_step = (epoch - 1) * steps_per_epoch
        n_steps = s["step"] - first_step
        n_bad = len({e["step"] for e in s["nonfinite"] if first_step < e["step"] <= s["step"]})
        norm = lora_norm(params)
        details = dict(steps=n_steps, nonfinite_steps=n_bad, lora_norm=norm, start_norm=s["start_norm"])
        why = epoch_verdict(n_steps, n_bad, norm, s["start_norm"])
        if why:  # recorded before anything else reads the run folder (samples, overfit meter)
            ep.mark_diverged(run_dir, epoch, why, **details)
        if epoch % t.save_every_n_epochs == 0 or last:
            path = run_dir / f"{output_name}-{epoch:06d}.safetensors"
            if save_lora(path, epoch, diverged=why):
                writer.emit("checkpoint", path=str(path), epoch=epoch, step=s["step"], diverged=why)
        mean = s["epoch_loss_sum"] / s["epoch_loss_n"] if s["epoch_loss_n"] else float("nan")
        s.update(epoch=epoch + 1, pos=0, epoch_loss_sum=0.0, epoch_loss_n=0)
        if why is None and not last:  # before sampling: a run killed while sampling resumes after it
            save_state(run_dir, s, network, optimizer, scaler)
        if t.sample_every_n_epochs and (epoch % t.sample_every_n_epochs == 0 or last):
            rng = tu.get_rng_state()  # sampling must not shift the training's random draws
            cut = run_sampling(base, network, project, run_dir, epoch, writer, control)
            tu.set_rng_state(rng)
            if why is None:  # the overfit meter records an epoch with blank samples
                why = ep.diverged_epochs(run_dir).get(epoch)
                if why:
                    ep.mark_diverged(run_dir, epoch, why, **details, check="blank samples")
        end = dict(epoch=epoch, loss=mean, step=s["step"], nonfinite_steps=n_bad,
                   steps_in_epoch=n_steps, lora_norm=norm, diverged=why)
        if why is None:
            last_good = snapshot()
        else:  # never a rollback target: roll back past it, or end the run on it
            if last or s["rollbacks"] >= t.nonfinite_max_rollbacks:
                writer.emit("epoch_end", **end)
                nan_hint = diagnose(s["nonfinite"], t, s["rollbacks"])[1]
                raise RunFailed(*diagnose_divergence(epoch, why, nan_hint, s["rollbacks"], t,
                                                     run_dir, last))
            action = roll_back(s["step"], epoch, "diverged", [], [])
            bad_streak = 0
            writer.emit("rollback", step=s["step"], lr_scale=s["lr_scale"], rollbacks=s["rollbacks"],
                        epoch=epoch, reason=f"epoch {epoch} diverged: {why}; {action}")
            save_state(run_dir, s, network, optimizer, scaler)
        writer.emit("epoch_end", **end)

    # ---------------------------------------------------------------- the end
    final = run_dir / f"{output_name}.safetensors"
    save_lora(final, s["epoch"] - 1)
    save_state(run_dir, s, network, optimizer, scaler)
    if cut and control.poll() == "stop":  # stopped while the last epoch was sampled
        writer.emit("stopped", step=s["step"], epoch=s["epoch"] - 1, images=sample_count(run_dir),
                    reason=f"stopped by the user ({cut}); training was complete: {final}")
        return
    writer.emit("finished", path=str(final), step=s["step"], epoch=s["epoch"] - 1,
                loss_ema=s["loss_ema"], nonfinite_steps=len(s["nonfinite"]), rollbacks=s["rollbacks"])


# -------------------------------------------------------------------------------------------
# Helpers the loop uses (kept here so the loop reads top to bottom in one file)
# -------------------------------------------------------------------------------------------


def diagnose(nonfinite: list[dict], t, rollbacks: int) -> tuple[str, str]:
    """Reason and hint for a run stopped by the NaN policy."""
    n = len(nonfinite)
    reason = (f"training kept producing non-finite values ({n} bad steps, {rollbacks} rollbacks "
              f"with the LR lowered each time)")
    counts: dict[str, int] = {}
    for e in nonfinite:
        for f in set(e["files"]):
            counts[f] = counts.get(f, 0) + 1
    worst = max(counts, key=counts.get) if counts else None
    if worst and n >= 3 and counts[worst] >= 0.8 * n and len(counts) > 1:
        return reason, (f"image {worst} was in {counts[worst]} of {n} bad batches: check it "
                        "(empty, corrupt, extreme colours) or remove that crop")
    if t.mixed_precision == "fp16" and torch.cuda.is_available():
        return reason, ("fp16 overflow is likely: set mixed_precision = 'bf16' (or 'no'); if it "
                        "diverges again, " + lower_lr_hint(t))
    return reason, lower_lr_hint(t)


def sample_images_per_epoch(project) -> int | None:
    """Images each sampled epoch draws (for the dashboard's ETA); None when it cannot be told
    (a prompt line sampling will report as bad, or no engine.sample in this build)."""
    try:
        from engine import sample

        return sample.images_per_epoch(project)
    except (ImportError, UserError):
        return None


def sample_count(run_dir: Path) -> int:
    """Sample images this run has written (every sampled epoch's index)."""
    return ep.samples_written(run_dir)


def run_sampling(base, network, project, run_dir: Path, epoch: int, writer: EventWriter,
                 control: RunControl | None = None) -> str:
    """Samples of the current LoRA (engine.sample, when it is installed); the one place the
    loop calls sampling from.  A sampling error is reported and training goes on; a ``stop``
    in ``control`` ends the pass after the current denoising step (the loop then stops the
    run) and the returned line says so ("" when the pass was not stopped)."""
    should_stop = (lambda: control.peek() == "stop") if control is not None else None
    try:
        from engine import sample
    except ImportError:
        sample = None
    if sample is None or not hasattr(sample, "sample_epoch"):
        writer.emit("log", message="sampling is not available in this build (engine.sample is missing)")
        return ""
    modes = {m: m.training for m in (base.unet, base.text_encoder)}
    try:
        with torch.no_grad():
            sample.sample_epoch(base, network, project, run_dir, epoch, writer,
                                should_stop=should_stop)
    except sample.SamplingStopped as e:  # the loop's next poll of the control file stops the run
        writer.emit("log", message=str(e))
        return str(e)
    except UserError as e:
        writer.emit("log", message=f"sampling epoch {epoch} failed: {e}")
    except Exception as e:  # noqa: BLE001 — reported, and training goes on
        writer.emit("log", message=f"sampling epoch {epoch} failed: {type(e).__name__}: {e}")
    finally:
        network.set_multiplier(1.0)
        for m, training in modes.items():
            m.train(training)
    return ""


# -------------------------------------------------------------------------------------------
# Resumable state: run_dir/state/state.pt (+ state.json for people), written atomically
# -------------------------------------------------------------------------------------------


def save_state(run_dir: Path, s: dict, network, optimizer, scaler) -> Path:
    """Everything a resume needs; refuses a LoRA with non-finite weights."""
    if not network.all_finite():
        raise RunFailed("refusing to save training state: the LoRA has non-finite weights",
                        "resume from an earlier epoch")
    state = {"counters": {k: v for k, v in s.items()}, "network": network.state_dict(),
             "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "rng": tu.get_rng_state()}
    buf = io.BytesIO()
    torch.save(state, buf)
    folder = run_dir / STATE_DIR
    atomic_write_bytes(folder / STATE_FILE, buf.getvalue())
    summary = {k: s[k] for k in ("step", "epoch", "pos", "lr_scale", "rollbacks")}
    atomic_write_text(folder / "state.json", json.dumps(summary, indent=1) + "\n")
    return folder / STATE_FILE


STATE_PARTS = ("counters", "network", "optimizer", "scaler", "rng")
COUNTERS = ("step", "epoch", "pos", "lr_scale", "rollbacks", "nonfinite")


def _damaged(run_dir: Path, why: str) -> UserError:
    first = (why.strip().splitlines() or ["unreadable"])[0]
    why = "".join(ch if ch.isprintable() else "?" for ch in first)[:160]
    return UserError(f"state of run {run_dir.name} is damaged ({STATE_DIR}/{STATE_FILE}: {why}); "
                     "resume from the last epoch LoRA is not possible — start a new run")


def read_state(run_dir: Path) -> dict:
    """The saved state of a run, checked for its parts; a missing, truncated or foreign file
    is a UserError naming the run (``onelora train --resume`` checks with this first)."""
    path = run_dir / STATE_DIR / STATE_FILE
    if not path.exists():
        raise UserError(f"{path} not found: run {run_dir.name} has no saved state to resume "
                        "(it is written at the end of each epoch); start a new run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — truncated, random or pickled bytes all land here
        raise _damaged(run_dir, f"{type(e).__name__}: {e}") from None
    missing = [k for k in STATE_PARTS if not isinstance(state, dict) or k not in state]
    if not missing:
        missing = [k for k in COUNTERS if not isinstance(state["counters"], dict)
                   or k not in state["counters"]]
    if missing:
        raise _damaged(run_dir, f"{', '.join(missing)} missing")
    return state


def load_state(run_dir: Path, network, optimizer, scaler) -> dict:
    state = read_state(run_dir)
    try:
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        tu.set_rng_state(state["rng"])
    except Exception as e:  # noqa: BLE001 — parts that do not fit this run's LoRA/optimizer
        raise _damaged(run_dir, f"{type(e).__name__}: {e}") from None
    return dict(state["counters"])
