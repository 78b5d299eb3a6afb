"""Diverged epochs as the samples screen and `pick` see them (torch-free): blank samples are
found by the overfit meter, diverged epochs are never suggested, `pick` refuses them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine import epochs as ep
from engine import overfit
from engine.errors import UserError
from test_sample_pick import fake_training_run


def _noise(seed, size=64):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), np.uint8))


def write_samples(run_dir, epoch, images_by_weight):
    recs = []
    for weight, images in images_by_weight.items():
        for i, img in enumerate(images):
            path = ep.epoch_dir(run_dir, epoch) / ep.sample_file_name(0, i + 1, weight)
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path)
            recs.append(ep.SampleRecord(epoch=epoch, weight=weight, prompt_index=0, prompt="p",
                                        seed=i + 1, file=str(path.relative_to(run_dir))))
    ep.write_index(run_dir, epoch, recs)


def black():
    return Image.new("RGB", (64, 64), (0, 0, 0))


def test_blank_samples_make_an_epoch_diverged_unscored_and_unpickable(project):
    run_dir = fake_training_run(project, epochs=(1, 2, 3))
    write_samples(run_dir, 1, {1.0: [_noise(1), _noise(2)]})
    write_samples(run_dir, 2, {1.0: [_noise(3), _noise(4)]})
    write_samples(run_dir, 3, {0.6: [_noise(5), _noise(6)], 1.0: [black(), black()]})
    result = overfit.write(run_dir, [])
    curve = {c["epoch"]: c for c in result["epochs"]}
    assert curve[3]["blank"] and curve[3]["score"] is None and "blank" in curve[3]["diverged"]
    assert not curve[1]["diverged"] and not curve[2]["diverged"]
    assert result["suggested_epoch"] in (1, 2)
    assert set(json.loads((run_dir / ep.DIVERGED_FILE).read_text())) == {"3"}
    with pytest.raises(UserError, match=r"epoch 3 .* diverged .*pick a good epoch \(1, 2\)"):
        ep.pick_epoch(project, run_dir.name, 3)
    assert ep.pick_epoch(project, run_dir.name, 3, force=True).exists()
    assert "blank" in ep.read_metadata(ep.output_path(project))["onelora_diverged"]


def test_blank_only_at_an_extreme_weight_is_not_diverged(tmp_path):
    # a healthy LoRA may draw a flat image at weight 3; the verdict looks at weight ~1
    write_samples(tmp_path, 1, {1.0: [_noise(1), _noise(2)], 3.0: [black(), black()]})
    curve = overfit.measure_run(tmp_path)["epochs"]
    assert curve[0]["blank"] is False and curve[0]["diverged"] is None
    assert overfit.nominal_weight([0.6, 0.8, 1.0, 3.0]) == 1.0
    assert overfit.nominal_weight([0.6, 0.8, 1.2]) == 1.2  # a tie goes to the stronger weight
    assert overfit.nominal_weight([0.0, -1.0]) is None


def test_an_epoch_training_marked_diverged_is_never_suggested(project):
    run_dir = fake_training_run(project, epochs=(1, 2))
    write_samples(run_dir, 1, {1.0: [_noise(1), _noise(2)]})
    write_samples(run_dir, 2, {1.0: [_noise(3), _noise(4)]})
    assert overfit.measure_run(run_dir)["suggested_epoch"] == 2  # flat curve: the last epoch
    ep.mark_diverged(run_dir, 2, "its LoRA weights exploded (norm 2.65e+03, 180× that at the start)")
    result = overfit.measure_run(run_dir)
    assert result["suggested_epoch"] == 1
    assert "exploded" in {c["epoch"]: c for c in result["epochs"]}[2]["diverged"]


def test_a_diverged_field_on_the_events_is_enough(project):
    from engine import events

    run_dir = fake_training_run(project, epochs=(1, 2))
    with events.EventWriter(run_dir) as w:
        w.emit("epoch_end", epoch=2, loss=1.0, step=4, diverged="3 of its 4 steps were non-finite")
    (run_dir / ep.DIVERGED_FILE).write_text("{not json")  # a damaged record file is ignored
    assert ep.diverged_epochs(run_dir) == {2: "3 of its 4 steps were non-finite"}
    with pytest.raises(UserError, match="diverged"):
        ep.pick_epoch(project, run_dir.name, 2)
