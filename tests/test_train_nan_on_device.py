"""The NaN policy decided from on-device flags (engine.train.train_step) makes exactly the
decisions the old host-synced step made (``float(loss)`` before backward, ``isfinite(grad_norm)``
in Python): same loss, same problem, same weights, optimizer state and gradient scale after
every step — with NaN/inf injected at the loss, at a gradient and in a LoRA weight."""

from __future__ import annotations

import math

import pytest
import torch

from engine import data as data_mod
from engine import events as ev
from engine import models
from engine import train as train_mod
from engine import training_utils as tu
from test_bench_train_step import load_bench
from train_helpers import new_run, tiny_project


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synced_train_step(ctx, batch, step, network, optimizer, scaler, params):
    """The step as it was before the on-device decision (the reference): the host reads the
    loss before backward and the gradient norm before the optimizer step."""
    t, base, device, dtype = ctx.settings, ctx.base, ctx.device, ctx.compute_dtype
    if batch.latents is not None:
        latents = batch.latents.to(device)
    else:
        latents = data_mod.encode_pixels(base.vae, batch.pixels, tu.step_generator(t.seed, step, 1))
    g = tu.step_generator(t.seed, step, 2)
    noise = tu.make_noise(latents, t.noise_offset, g)
    timesteps = tu.sample_timesteps(latents.shape[0], ctx.num_timesteps, g).to(device)
    noisy = base.noise_scheduler.add_noise(latents, noise, timesteps)
    input_ids = models.tokenize(base, batch.captions)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        with torch.set_grad_enabled(t.train_text_encoder):
            encoder_hidden = models.encode_prompt(base, input_ids, t.clip_skip)
        pred = ctx.unet(noisy.to(dtype), timesteps, encoder_hidden).sample
    snr = tu.min_snr_weights(ctx.alphas_cumprod, timesteps, t.min_snr_gamma) if t.min_snr_gamma else None
    loss = tu.diffusion_loss(pred, noise, batch.weights, snr)
    loss_value = float(loss.detach())
    problem = None
    if not math.isfinite(loss_value):
        problem = "weights" if not network.all_finite() else "loss"
    else:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, t.max_grad_norm or float("inf"))
        if torch.isfinite(grad_norm):
            scaler.step(optimizer)
        elif not scaler.is_enabled() or scaler.get_scale() < 1.0:
            problem = "grad"
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss_value, problem


class Faults:
    """NaN/inf injected at chosen steps: into the loss, into one LoRA gradient, into a weight."""

    def __init__(self, loss=None, grad=None, weight=None):
        self.loss, self.grad, self.weight = loss or {}, grad or {}, weight or {}
        self.step = -1

    def install(self, monkeypatch, setup) -> None:
        real = tu.diffusion_loss

        def loss_fn(*args, **kwargs):
            out = real(*args, **kwargs)
            return out * self.loss[self.step] if self.step in self.loss else out

        monkeypatch.setattr(tu, "diffusion_loss", loss_fn)
        target = setup.network.unet_loras[0].lora_down.weight
        target.register_hook(lambda g: g * self.grad[self.step] if self.step in self.grad else g)

    def before(self, setup, step: int) -> None:
        self.step = step
        if step in self.weight:
            with torch.no_grad():
                setup.network.unet_loras[1].lora_up.weight[0, 0] = self.weight[step]


def make(optimizer: str = "foreach", scaler_scale: float | None = None, te: bool = True):
    bench = load_bench()
    torch.manual_seed(0)
    s = bench.setup_onelora("tiny", 64, train_text_encoder=te, precision="no")
    groups = [{k: g[k] for k in ("params", "lr", "name", "base_lr") if k in g} for g in s.optimizer.param_groups]
    s.optimizer = torch.optim.AdamW(groups, weight_decay=s.settings.weight_decay,
                                    **({"fused": True} if optimizer == "fused" else {"foreach": True}))
    assert train_mod.tu.GuardedStep(s.optimizer, s.params).fused == (optimizer == "fused")
    if scaler_scale is not None:
        s.scaler = torch.amp.GradScaler("cpu", init_scale=scaler_scale, growth_interval=2)
    return s


def state_tensors(s) -> list[torch.Tensor]:
    out = [p.detach().clone() for p in s.params]
    for p in s.params:
        for k, v in sorted(s.optimizer.state.get(p, {}).items()):
            out.append(torch.as_tensor(v).clone())
    return out


def run_both(monkeypatch, faults_kw, steps=7, **make_kw):
    """The reference and the new step side by side on identical setups; every step's
    (loss, problem) and the full state after it."""
    results = []
    for step_fn in (synced_train_step, train_mod.train_step):
        with monkeypatch.context() as mp:
            s = make(**make_kw)
            faults = Faults(**faults_kw)
            faults.install(mp, s)
            trace = []
            for step in range(steps):
                faults.before(s, step)
                batch = s.data.batch(s.batches[step % len(s.batches)], step)
                tu.set_lr(s.optimizer, 1.0)
                loss, problem = step_fn(s.ctx, batch, step, s.network, s.optimizer, s.scaler, s.params)
                if problem == "weights":  # the loop rolls back; here: repair the weight
                    with torch.no_grad():
                        s.network.unet_loras[1].lora_up.weight[0, 0] = 0.0
                scale = s.scaler.get_scale() if s.scaler.is_enabled() else None
                trace.append((loss, problem, scale, state_tensors(s)))
            results.append(trace)
    return results


def assert_same(old, new):
    for step, (a, b) in enumerate(zip(old, new)):
        la, lb = a[0], b[0]
        assert (math.isnan(la) and math.isnan(lb)) or la == lb, (step, la, lb)
        assert a[1] == b[1], (step, a[1], b[1])
        assert a[2] == b[2], (step, "grad scale", a[2], b[2])
        assert len(a[3]) == len(b[3]), step
        for x, y in zip(a[3], b[3]):
            assert torch.equal(x, y), step


FAULTS = {
    "loss": dict(loss={1: float("nan"), 4: float("inf")}),
    "grad": dict(grad={2: float("nan"), 3: float("inf")}),
    "weight": dict(weight={3: float("nan")}),
    "mixed": dict(loss={0: float("nan")}, grad={2: float("inf")}, weight={5: float("inf")}),
}


@pytest.mark.parametrize("where", sorted(FAULTS))
def test_nan_at_loss_grad_or_weight_gets_the_old_decisions_and_the_same_state(monkeypatch, where):
    old, new = run_both(monkeypatch, FAULTS[where])
    assert_same(old, new)
    problems = [p for _, p, _, _ in new if p]
    assert problems, "the injected fault must show"


@pytest.mark.parametrize("scale", [2.0 ** 12, 0.5])
def test_with_a_gradient_scaler_the_scale_and_reports_match(monkeypatch, scale):
    """fp16-style scaler: an overflow the scaler absorbs is skipped silently, below scale 1
    it is reported; a non-finite loss leaves the scale alone — as before."""
    old, new = run_both(monkeypatch, FAULTS["mixed"] | {"grad": {2: float("inf"), 3: float("nan")}},
                        scaler_scale=scale)
    assert_same(old, new)
    assert len({s for _, _, s, _ in new}) > 1  # the scale really moved


def test_fused_adamw_takes_the_skip_flag_on_the_device(monkeypatch):
    old, new = run_both(monkeypatch, FAULTS["mixed"], optimizer="fused")
    assert_same(old, new)


def test_the_loop_makes_the_same_skips_events_and_rollbacks_as_with_the_synced_step(tmp_path, monkeypatch):
    """Whole runs on builtin:tiny with NaN/inf injected at loss and gradients: the events that
    carry the NaN policy's decisions are the same with the old step and the new one."""
    def decisions(run_dir):
        keep = {"step": ("step", "loss"), "nonfinite": ("step", "what", "action", "files"),
                "rollback": ("step", "lr_scale", "rollbacks"), "finished": ("step", "nonfinite_steps"),
                "failed": ("reason",)}
        return [(e["kind"],) + tuple(e.get(k) for k in keep[e["kind"]])
                for e in ev.read_events(run_dir) if e["kind"] in keep]

    runs = []
    for i, step_fn in enumerate((synced_train_step, train_mod.train_step)):
        with monkeypatch.context() as mp:
            calls = {"n": 0}
            real = tu.diffusion_loss

            def flaky(*args, **kwargs):
                calls["n"] += 1
                out = real(*args, **kwargs)
                return out * float("nan") if calls["n"] in (2, 5, 6, 7) else out

            mp.setattr(tu, "diffusion_loss", flaky)
            mp.setattr(train_mod, "train_step", step_fn)
            project = tiny_project(tmp_path / str(i), epochs=2, repeats=3, nonfinite_patience=2)
            run_dir = new_run(project)
            train_mod.train(run_dir)
            runs.append(decisions(run_dir))
    assert runs[0] == runs[1]
    kinds = [d[0] for d in runs[1]]
    assert "nonfinite" in kinds and "rollback" in kinds and kinds[-1] == "finished"


@pytest.mark.parametrize("clip_skip", [1, 2, 3])
def test_the_cut_text_encoder_gives_encode_prompts_numbers_with_the_lora_on(clip_skip):
    """The step's text encoder (cut after the clip_skip layer, so torch.compile can trace it)
    equals models.encode_prompt bit for bit, LoRA hooks included."""
    s = make()
    with torch.no_grad():
        for m in s.network.te_loras:
            m.lora_up.weight.normal_()
    ids = models.tokenize(s.ctx.base, ["zq_tester, girl, smile", "a cat"])
    s.settings.clip_skip = clip_skip
    encode = train_mod.prepare_text_encoder(s.ctx.base, s.settings, torch.device("cpu"), lambda *a, **k: None)
    with torch.no_grad():
        assert torch.equal(encode(ids), models.encode_prompt(s.ctx.base, ids, clip_skip))
    with pytest.raises(Exception, match="clip_skip"):
        tu.clip_skip_text_encoder(s.ctx.base.text_encoder, 99)
