"""Training utilities: LR schedules, min-SNR weights, optimizers, random state."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from engine import training_utils as tu
from engine.errors import UserError


def test_warmup_is_a_fraction_below_one_and_steps_otherwise():
    assert tu.warmup_steps(0.05, 200) == 10
    assert tu.warmup_steps(25, 200) == 25
    assert tu.warmup_steps(0, 200) == 0


@pytest.mark.parametrize("name", tu.SCHEDULERS)
def test_schedules_start_ramp_and_end_sensibly(name):
    total, warm = 100, (0 if name == "constant" else 10)
    f = [tu.lr_factor(s, total, name, warm, num_cycles=2) for s in range(total)]
    assert all(0.0 <= x <= 1.0 for x in f)
    if warm:
        assert f[0] == pytest.approx(0.1) and f[warm - 1] == pytest.approx(1.0)
        assert all(a < b for a, b in zip(f[:warm - 1], f[1:warm]))
    if name in ("constant", "constant_with_warmup"):
        assert f[-1] == 1.0
    if name in ("cosine", "linear"):
        assert f[warm] == pytest.approx(1.0) and f[-1] < 0.05
        assert all(a >= b for a, b in zip(f[warm:], f[warm + 1:]))
    if name == "cosine_with_restarts":  # two cycles: back to 1 half way
        assert f[warm + 45] == pytest.approx(1.0) and f[warm + 44] < 0.05


def test_min_snr_weights_cap_low_noise_timesteps():
    ac = torch.linspace(0.999, 0.01, 1000)
    t = torch.tensor([0, 500, 999])
    w = tu.min_snr_weights(ac, t, 5.0)
    snr = ac[t] / (1 - ac[t])
    assert w[0] == pytest.approx(5.0 / float(snr[0]))
    assert w[2] == pytest.approx(1.0)


def test_diffusion_loss_weights_reg_samples():
    pred, target = torch.zeros(2, 4, 2, 2), torch.ones(2, 4, 2, 2)
    assert float(tu.diffusion_loss(pred, target, torch.tensor([1.0, 1.0]))) == pytest.approx(1.0)
    assert float(tu.diffusion_loss(pred, target, torch.tensor([1.0, 0.5]))) == pytest.approx(0.75)


def test_adamw8bit_without_bitsandbytes_or_gpu_is_a_clear_error():
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(UserError, match="AdamW8bit needs bitsandbytes and a CUDA GPU; use optimizer = AdamW"):
        tu.make_optimizer("AdamW8bit", [{"params": [p]}], 1e-3, 0.0, torch.device("cpu"))
    opt = tu.make_optimizer("AdamW", [{"params": [p], "base_lr": 1e-3, "name": "unet"}], 1e-3, 0.0,
                            torch.device("cpu"))
    assert tu.set_lr(opt, 0.5) == {"unet": 5e-4}
    assert isinstance(tu.make_optimizer("SGD", [{"params": [p]}], 1e-3, 0.0, torch.device("cpu")),
                      torch.optim.SGD)


def test_rng_state_round_trips():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = tu.get_rng_state()
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    tu.set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == a


def test_step_generator_depends_on_seed_and_step_only():
    a = torch.rand(3, generator=tu.step_generator(42, 7))
    assert torch.equal(a, torch.rand(3, generator=tu.step_generator(42, 7)))
    assert not torch.equal(a, torch.rand(3, generator=tu.step_generator(42, 8)))
    noise = tu.make_noise(torch.zeros(2, 4, 8, 8), 0.1, tu.step_generator(1, 1))
    assert noise.shape == (2, 4, 8, 8) and math.isfinite(float(noise.sum()))
