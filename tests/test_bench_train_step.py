"""bench/train_step.py on builtin:tiny (CPU): both training steps it compares run and learn
something finite, and it prints one valid JSON line per figure."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As the loop does for builtin:tiny (engine.train.set_cpu_threads): a second thread only
    adds synchronisation to ops this small."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load_bench():
    """bench/train_step.py as a module (bench/ is scripts, not a package)."""
    name = "bench_train_step"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "train_step.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


def lora_weights(params) -> torch.Tensor:
    return torch.cat([p.detach().flatten().float() for p in params])


def test_bench_diffusers_style_and_onelora_steps_give_finite_losses_and_update_the_lora():
    bench = load_bench()
    cpu = torch.device("cpu")
    a = bench.setup_diffusers_style("tiny", cpu, 64, train_text_encoder=False)
    before = lora_weights(a.params)
    losses_a = [bench.diffusers_style_step(a, i) for i in range(2)]
    assert all(math.isfinite(x) for x in losses_a)
    assert not torch.equal(before, lora_weights(a.params))  # the baseline really trains

    b = bench.setup_onelora("tiny", 64, train_text_encoder=False)
    before = lora_weights(b.params)
    losses_b = [bench.onelora_step(b, i) for i in range(2)]
    assert all(math.isfinite(x) for x in losses_b)
    assert not torch.equal(before, lora_weights(b.params))
    assert not b.network.te_loras and b.data.latents  # UNet only, cached latents as the loop


def test_bench_text_encoder_variants_train_the_text_encoder_lora_too():
    bench = load_bench()
    cpu = torch.device("cpu")
    a = bench.setup_diffusers_style("tiny", cpu, 64, train_text_encoder=True)
    te_params = [p for p in a.base.text_encoder.parameters() if p.requires_grad]
    assert te_params and all(p.dtype == torch.float32 for p in a.params)
    before = lora_weights(te_params)
    assert all(math.isfinite(bench.diffusers_style_step(a, i)) for i in range(2))
    assert not torch.equal(before, lora_weights(te_params))

    b = bench.setup_onelora("tiny", 64, train_text_encoder=True)
    te_params = [p for m in b.network.te_loras for p in m.parameters()]
    before = lora_weights(te_params)
    assert all(math.isfinite(bench.onelora_step(b, i)) for i in range(2))
    assert not torch.equal(before, lora_weights(te_params))


def test_compile_on_the_cpu_is_skipped_with_a_log_event():
    bench = load_bench()
    b = bench.setup_onelora("tiny", 64, compile_unet=True)
    assert b.ctx.unet is b.ctx.base.unet  # not wrapped by torch.compile
    assert not b.ctx.cudagraphs
    assert any("compile = true is ignored on the CPU" in m for m in b.logs)


def test_bench_prints_one_json_line_per_figure(capsys):
    bench = load_bench()
    assert bench.main(["--shapes", "tiny", "--steps", "1", "--warmup", "0", "--resolution", "64",
                       "--skip-te"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [x["figure"] for x in lines] == ["train_step_it_s", "train_step_peak_gib"]
    speed, peak = lines
    assert speed["value"] > 0 and speed["baseline"] > 0 and speed["unit"] == "it/s"
    assert math.isclose(speed["ratio"], speed["value"] / speed["baseline"], rel_tol=0.01)
    assert speed["shapes"] == "tiny" and speed["loss_finite"] and speed["baseline_loss_finite"]
    assert peak["value"] is None and peak["baseline"] is None  # CPU: no GPU peak
