"""torch.compile over the LoRA-wrapped tiny UNet and text encoder, wrapped exactly as the loop
wraps them on CUDA (engine.train.prepare_unet / prepare_text_encoder): no graph breaks, one
graph per bucket shape, and sampling between epochs (batched LoRA weights, eval mode) causes
no recompilation.  Runs on the CPU with inductor; skipped when no C++ compiler is there."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
import torch._dynamo

from engine import data as data_mod
from engine import events as ev
from engine import models
from engine import project as pj
from engine import train as train_mod
from engine import training_utils as tu
from train_helpers import draw, new_run, tiny_project


def cxx() -> str | None:
    return shutil.which(os.environ.get("CXX", "")) if os.environ.get("CXX") else \
        (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++"))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # builtin:tiny gains nothing from threads (engine.train.set_cpu_threads)
    yield
    torch.set_num_threads(before)
    torch._dynamo.reset()


@pytest.mark.slow
@pytest.mark.skipif(cxx() is None, reason="torch.compile's CPU backend (inductor) needs a C++ compiler "
                                         "(g++/clang++, or $CXX); none is installed here")
def test_compiled_unet_and_text_encoder_no_graph_breaks_one_graph_per_bucket_no_recompile_after_sampling(
        tmp_path, monkeypatch, one_thread):
    from torch._dynamo.utils import counters

    monkeypatch.setenv("ONELORA_COMPILE_MODE", "default")  # CUDA graphs do not apply on the CPU
    project = tiny_project(tmp_path, epochs=2, repeats=2, compile=True, sample_every_n_epochs=1,
                           resolution=96)  # buckets 64x64 and 64x128 for the two crops
    draw(project.root / "crops" / "wide.png", (128, 64), (120, 200, 120))  # a third bucket: 128x64
    project.crops.items.append(pj.Crop(name="wide", box=[0, 0, 128, 64], image="crops/wide.png",
                                       tags=[pj.Tag(tag="lying")]))
    s = project.samples
    s.prompts, s.weights, s.seeds, s.steps, s.width, s.height = ["zq_tester, girl"], [0.5, 1.0], [1], 2, 64, 64
    pj.save(project)
    run_dir = new_run(project)
    t = project.train
    cpu = torch.device("cpu")
    base = models.load_base(t.model)
    data = data_mod.TrainData.from_settings(data_mod.items_from_project(project), t)
    data.cache_latents(base.vae)
    network = tu.build_network(base, t, cpu)
    params = [p for p in network.parameters() if p.requires_grad]
    groups = network.param_groups(t.unet_lr, t.text_encoder_lr)
    for g in groups:
        g["base_lr"] = g["lr"]
    optimizer = tu.make_optimizer("AdamW", groups, t.learning_rate, t.weight_decay, cpu)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    logs = []
    emit = lambda kind, **kw: logs.append(kw.get("message")) if kind == "log" else None  # noqa: E731
    unet = train_mod.prepare_unet(base.unet, t, cpu, emit, cpu_compile=True)
    encode = train_mod.prepare_text_encoder(base, t, cpu, emit, cpu_compile=True)
    assert unet is not base.unet and len(logs) == 2  # both really compiled
    ctx = train_mod.StepContext(base=base, unet=unet, settings=t, device=cpu, compute_dtype=torch.float32,
                                encode=encode)
    buckets = {tuple(b) for b in data.buckets}
    assert len(buckets) == 3

    torch._dynamo.reset()
    counters.clear()
    step = 0

    def epoch(n: int) -> None:
        nonlocal step
        for batch_idx in data.epoch_batches(n):
            batch = data.batch(batch_idx, step)
            loss, problem = train_mod.train_step(ctx, batch, step, network, optimizer, scaler, params)
            assert problem is None and loss == loss
            step += 1

    epoch(1)
    graphs = counters["stats"]["unique_graphs"]
    breaks = sum(counters["graph_break"].values())
    assert breaks == 0, dict(counters["graph_break"])
    # one UNet graph per bucket shape (static on the CPU), plus one for the text encoder
    assert graphs == len(buckets) + 1, dict(counters["stats"])

    with ev.EventWriter(run_dir) as writer:
        train_mod.run_sampling(base, network, project, run_dir, 1, writer)
    assert sum(1 for e in ev.read_events(run_dir) if e["kind"] == "sample") == 2
    assert network.multiplier == 1.0 and base.unet.training == base.text_encoder.training

    epoch(2)
    assert counters["stats"]["unique_graphs"] == graphs, "sampling made the loop recompile"
    assert sum(counters["graph_break"].values()) == 0
