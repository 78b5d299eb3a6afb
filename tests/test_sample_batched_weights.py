"""Per-epoch samples draw all LoRA weights in one pass (a per-sample multiplier in the LoRA
modules, CFG doubling the batch) and give the same images as one pass per weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import epochs as ep
from engine import sample
from test_sample_epochs import base, pixels, trained_network  # noqa: F401 (fixture)


@pytest.fixture
def three_weights(project):
    s = project.samples
    s.width = s.height = 64
    s.steps = 3
    s.seeds = [1, 2]
    s.weights = [0.0, 0.6, 1.0]
    s.prompts = ["zq_tester, girl, smile", "zq_tester, girl, from side --d 7 --n blurry"]
    return project


def test_batched_weights_sampling_equals_a_pass_per_weight_image_for_image(base, three_weights,  # noqa: F811
                                                                           tmp_path, monkeypatch):
    passes = []
    real = sample._draw
    monkeypatch.setattr(sample, "_draw", lambda b, jobs, *a: passes.append(len(jobs)) or real(b, jobs, *a))
    net = trained_network(base)
    try:
        one = sample.sample_epoch(base, net, three_weights, tmp_path / "one", 1, None, batch_weights=True)
        batched_passes, passes[:] = list(passes), []
        per = sample.sample_epoch(base, net, three_weights, tmp_path / "per", 1, None, batch_weights=False)
    finally:
        net.restore()
    assert batched_passes == [9]  # 3 prompt×seed jobs × 3 weights in a single pass
    assert passes == [3, 3, 3]
    assert net.multiplier == 1.0
    assert [(r.weight, r.prompt_index, r.seed) for r in one] == [(r.weight, r.prompt_index, r.seed) for r in per]
    for a, b in zip(one, per):
        x, y = pixels(tmp_path / "one" / a.file), pixels(tmp_path / "per" / b.file)
        assert np.abs(x - y).max() <= 2, a.file  # same image up to float reassociation
    # and the weights really differ from each other (the per-sample multiplier is applied)
    w0, w1 = (pixels(ep.epoch_dir(tmp_path / "one", 1) / ep.sample_file_name(0, 1, w)) for w in (0.0, 1.0))
    assert np.abs(w0 - w1).mean() > 1.0


def test_a_per_sample_multiplier_scales_each_sample_and_repeats_over_a_doubled_batch():
    from engine.lora import LoraModule

    lin = torch.nn.Linear(5, 3)
    mod = LoraModule("lora_unet_x", lin, dim=2, alpha=2)
    torch.nn.init.normal_(mod.lora_up.weight)
    mod.apply_to()
    x = torch.randn(4, 5)
    outs = []
    for w in (0.0, 0.5, 1.0, 2.0):
        mod.multiplier = w
        outs.append(lin(x))
    mod.multiplier = torch.tensor([0.0, 0.5])
    both = lin(x)  # 4 rows = 2 weights × 2 (the CFG doubling)
    assert torch.allclose(both[0], outs[0][0]) and torch.allclose(both[1], outs[1][1])
    assert torch.allclose(both[2], outs[0][2]) and torch.allclose(both[3], outs[1][3])
    mod.multiplier = torch.tensor([0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="does not fit"):
        lin(x)
