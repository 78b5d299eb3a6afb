"""Training data: buckets as sd-scripts computes them, captions, repeats, epoch order."""

from __future__ import annotations

import random

import pytest
import torch
from PIL import Image

from engine import training_utils as tu
from engine.data import TrainData, balanced_repeats, process_caption, tag_frequency
from engine.kohya import DatasetItem


def test_buckets_for_512_are_sd_scripts_17():
    got = tu.make_bucket_resolutions(512, 256, 1024, 64)
    half = [(256, 832), (256, 896), (256, 960), (256, 1024), (320, 704), (320, 768),
            (384, 640), (448, 576)]
    want = sorted(set(half + [(h, w) for w, h in half] + [(512, 512)]))
    assert got == want
    assert len(got) == 17
    assert all(w * h <= 512 * 512 and w % 64 == 0 and h % 64 == 0 for w, h in got)


def test_bucket_selection_picks_closest_aspect_and_covers_it():
    buckets = tu.make_bucket_resolutions(512, 256, 1024, 64)
    assert tu.select_bucket(512, 512, buckets) == ((512, 512), (512, 512))
    bucket, resized = tu.select_bucket(1000, 2000, buckets)  # aspect 0.5
    assert bucket == (384, 768) or abs(bucket[0] / bucket[1] - 0.5) < 0.05
    assert resized[0] >= bucket[0] and resized[1] >= bucket[1]


def test_caption_shuffle_keeps_the_first_keep_tokens():
    caption = "zq_tester, girl, a, b, c, d, e, f, g"
    seen = set()
    for s in range(40):
        out = process_caption(caption, random.Random(s), keep_tokens=2, shuffle=True)
        tags = out.split(", ")
        assert tags[:2] == ["zq_tester", "girl"]
        assert sorted(tags[2:]) == list("abcdefg")
        seen.add(out)
    assert len(seen) > 10  # it really shuffles


def test_caption_dropout_and_tag_dropout_spare_kept_tokens():
    caption = "zq_tester, girl, a, b, c, d"
    assert process_caption(caption, random.Random(0), caption_dropout_rate=1.0) == ""
    out = process_caption(caption, random.Random(0), keep_tokens=2, tag_dropout_rate=1.0)
    assert out == "zq_tester, girl"
    assert process_caption(caption, random.Random(0)) == caption  # nothing on: untouched
    assert tag_frequency([caption, "girl, x"]) == {"zq_tester": 1, "girl": 2, "a": 1, "b": 1,
                                                    "c": 1, "d": 1, "x": 1}


def test_reg_repeats_are_balanced_to_the_train_sample_count():
    train = [DatasetItem(image="a", caption="", repeats=5), DatasetItem(image="b", caption="", repeats=5)]
    reg = [DatasetItem(image=f"r{i}", caption="", repeats=1, is_reg=True) for i in range(3)]
    reps = balanced_repeats(train + reg)
    assert reps[:2] == [5, 5]
    assert sum(reps[2:]) == 10 and reps[2:] == [4, 3, 3]
    many = [DatasetItem(image=f"r{i}", caption="", repeats=1, is_reg=True) for i in range(15)]
    reps = balanced_repeats(train + many)
    assert sum(reps[2:]) == 10 and reps[2:].count(0) == 5  # surplus reg images unused


def _img(w, h, colour):
    return lambda: Image.new("RGB", (w, h), colour)


def test_epoch_order_depends_on_seed_and_epoch_only_and_batches_share_a_bucket():
    items = [DatasetItem(image=_img(64, 64, (i * 20, 0, 0)), caption=f"t, c, x{i}", repeats=3, name=f"sq{i}")
             for i in range(3)]
    items += [DatasetItem(image=_img(64, 128, (0, i * 30, 0)), caption="t, c, tall", repeats=3, name=f"tall{i}")
              for i in range(2)]
    kw = dict(resolution=64, batch_size=2, min_bucket_reso=64, max_bucket_reso=128, bucket_reso_steps=32)
    a, b = TrainData(items, **kw), TrainData(items, **kw)
    assert a.epoch_batches(1) == b.epoch_batches(1)
    assert a.epoch_batches(1) != a.epoch_batches(2)
    assert a.steps_per_epoch == len(a.epoch_batches(1)) == 5 + 3  # ceil(9/2) + ceil(6/2)
    for batch in a.epoch_batches(3):
        assert len({a.buckets[i] for i in batch}) == 1
    assert sorted(i for bt in a.epoch_batches(0) for i in bt) == sorted([i for i in range(5)] * 3)
    assert a.pixels[3].shape[1:] == (a.buckets[3][1], a.buckets[3][0])


def test_flip_aug_caches_both_latents_and_color_aug_disables_caching():
    items = [DatasetItem(image=_img(64, 64, (200, 10, 10)), caption="t, c", repeats=2)]
    kw = dict(resolution=64, min_bucket_reso=64, max_bucket_reso=64, flip_aug=True)
    data = TrainData(items, **kw)

    class FakeVae:  # encode = 8x average pool into 4 channels
        config = type("C", (), {"scaling_factor": 1.0})()

        def parameters(self):
            yield torch.zeros(1)

        def encode(self, x):
            m = torch.nn.functional.avg_pool2d(x, 8).repeat(1, 2, 1, 1)[:, :4]
            return type("O", (), {"latent_dist": type("D", (), {"mean": m, "std": torch.zeros_like(m)})()})()

    data.cache_latents(FakeVae())
    assert set(data.latents) == {(0, False), (0, True)}
    assert data.batch([0], step=1).latents.shape == (1, 4, 8, 8)
    assert not TrainData(items, color_aug=True, **kw).cacheable
    px = TrainData(items, color_aug=True, **kw).batch([0], step=3).pixels
    assert px.shape == (1, 3, 64, 64) and 0.0 <= float(px.min()) and float(px.max()) <= 1.0


def test_no_training_images_is_a_user_error():
    from engine.errors import UserError

    with pytest.raises(UserError, match="no training images"):
        TrainData([DatasetItem(image=_img(64, 64, (0, 0, 0)), caption="", is_reg=True)], resolution=64,
                  min_bucket_reso=64, max_bucket_reso=64)
