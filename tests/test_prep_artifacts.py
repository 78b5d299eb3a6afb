"""The stray-colour island finder: every planted island in the demo drawing, nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.demo_image import PLANTED_ISLANDS, draw_demo_character, demo_image_path
from engine.images import find_artifacts, fix_artifacts, label


@pytest.fixture(scope="module")
def demo() -> Image.Image:
    return draw_demo_character(0)


@pytest.fixture(scope="module")
def demo_found(demo):
    return find_artifacts(demo)


def _overlaps(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def test_demo_asset_is_the_drawing():
    shipped = np.asarray(Image.open(demo_image_path()).convert("RGB"))
    assert shipped.shape == (1280, 768, 3)
    assert np.array_equal(shipped, np.asarray(draw_demo_character(0)))


def test_planted_islands_sit_in_plain_hair(demo):
    rgb = np.asarray(demo).astype(int)
    for x, y, w, h in PLANTED_ISLANDS:
        ring = rgb[y - 10:y + h + 10, x - 10:x + w + 10].copy()
        ring[10:10 + h, 10:10 + w] = rgb[y - 12, x]          # blank out the island itself
        assert np.abs(ring - rgb[y - 12, x]).max() <= 2, (x, y)


def test_prep_finds_every_planted_stray_island(demo_found):
    for planted in PLANTED_ISLANDS:
        hits = [a for a in demo_found if _overlaps(a.box, planted)]
        assert len(hits) == 1, planted
        art = hits[0]
        assert art.box == planted
        assert art.color[2] > 200 and art.around == (150, 96, 62)
        assert 3 <= art.pixels <= planted[2] * planted[3]


def test_prep_reports_no_false_positives_on_line_art_eyes_bows_stripes(demo_found):
    extra = [a for a in demo_found if not any(_overlaps(a.box, p) for p in PLANTED_ISLANDS)]
    assert extra == []


def test_clean_drawing_has_no_islands():
    clean = draw_demo_character(0)
    rgb = np.array(clean)
    for x, y, w, h in PLANTED_ISLANDS:
        rgb[y:y + h, x:x + w] = rgb[y - 12, x]
    assert find_artifacts(Image.fromarray(rgb)) == []


def test_fix_replaces_islands_from_surroundings_and_finder_then_finds_nothing(demo, demo_found):
    fixed = fix_artifacts(demo, demo_found)
    rgb = np.asarray(fixed).astype(int)
    for x, y, w, h in PLANTED_ISLANDS:
        patch = rgb[y:y + h, x:x + w]
        assert np.abs(patch - np.array([150, 96, 62])).max() <= 2
    assert find_artifacts(fixed) == []
    # Pixels away from the islands are untouched.
    before = np.asarray(demo).astype(int)
    keep = np.ones(before.shape[:2], bool)
    for x, y, w, h in PLANTED_ISLANDS:
        keep[y - 2:y + h + 2, x - 2:x + w + 2] = False
    assert np.array_equal(before[keep], rgb[keep])


def test_finder_on_other_backgrounds_and_sizes():
    img = Image.new("RGB", (300, 200), (230, 40, 60))          # plain red field
    d = ImageDraw.Draw(img)
    d.rectangle((40, 40, 44, 44), fill=(20, 200, 40))          # a 25 px green blob: reported
    d.line((120, 30, 200, 150), fill=(20, 20, 20), width=3)    # a stroke: not reported
    d.ellipse((220, 120, 260, 160), fill=(250, 250, 250), outline=(0, 0, 0), width=3)
    d.ellipse((234, 134, 246, 146), fill=(40, 60, 200))        # an outlined "eye": not reported
    d.point([(100, 170)], fill=(255, 255, 0))                  # one yellow pixel: reported
    found = find_artifacts(img)
    assert [a.box for a in found] == [(40, 40, 5, 5), (100, 170, 1, 1)]
    # Islands larger than max_pixels are not specks.
    assert [a.box for a in find_artifacts(img, max_pixels=20)] == [(100, 170, 1, 1)]
    # Low-contrast islands are ignored.
    soft = Image.new("RGB", (60, 60), (200, 200, 200))
    soft.putpixel((30, 30), (220, 215, 205))
    assert find_artifacts(soft) == []


def test_label_counts_regions_with_4_and_8_connectivity():
    m = np.zeros((6, 6), bool)
    m[0, 0] = m[1, 1] = True            # diagonal neighbours
    m[3:5, 3:6] = True
    m[5, 0] = True
    labels, n = label(m, eight=True)
    assert n == 3 and labels[0, 0] == labels[1, 1]
    labels, n = label(m, eight=False)
    assert n == 4 and labels[0, 0] != labels[1, 1]
    assert label(np.zeros((3, 3), bool))[1] == 0


@pytest.mark.parametrize("how", ["jpeg85", "lanczos_upscale", "noise"])
def test_finder_keeps_precision_and_recall_on_softened_copies(demo, how):
    import io

    scale = 1.0
    if how == "jpeg85":
        buf = io.BytesIO()
        demo.save(buf, format="JPEG", quality=85)
        img = Image.open(buf).convert("RGB")
    elif how == "lanczos_upscale":
        scale = 1.6
        img = demo.resize((round(768 * scale), round(1280 * scale)), Image.Resampling.LANCZOS)
    else:
        rgb = np.asarray(demo).astype(float)
        rgb += np.random.default_rng(0).normal(0, 6, rgb.shape)
        img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    found = find_artifacts(img, max_pixels=int(400 * scale * scale))
    planted = [tuple(round(v * scale) for v in box) for box in PLANTED_ISLANDS]
    for box in planted:
        assert any(_overlaps(a.box, box) for a in found), (how, box)
    assert all(any(_overlaps(a.box, box) for box in planted) for a in found), how


def test_label_matches_a_plain_flood_fill_on_random_masks():
    rng = np.random.default_rng(3)
    for trial in range(6):
        m = rng.random((40, 57)) < (0.3 + 0.08 * trial)
        for eight in (True, False):
            labels, n = label(m, eight=eight)
            seen = np.zeros_like(m)
            count = 0
            steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
            if eight:
                steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
            for y, x in zip(*np.nonzero(m)):
                if seen[y, x]:
                    continue
                count += 1
                stack, seen[y, x] = [(y, x)], True
                while stack:
                    cy, cx = stack.pop()
                    assert labels[cy, cx] == labels[y, x]
                    for dy, dx in steps:
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < 40 and 0 <= nx < 57 and m[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            assert n == count and (labels > 0).sum() == m.sum()


def test_prep_modules_stay_light():
    import subprocess
    import sys

    code = ("import sys, engine.images, engine.crops, engine.artifacts, engine.demo_image, "
            "engine.cli.prep_cmds; bad = [m for m in ('torch', 'textual', 'diffusers') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
