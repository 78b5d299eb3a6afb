"""Shared fixtures: a small drawn image and a fresh project made from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_xdist_auto_num_workers(config) -> int:
    """Workers for ``-n auto``: one more than the cores (most TUI tests spend their time waiting
    on Pilot for the app to go idle, not computing), at least 3, at most 8."""
    return min(8, max(3, (os.cpu_count() or 1) + 1))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the tiny-model cache inside the test session, never in the user's home."""
    cache = tmp_path_factory.getbasetemp() / "onelora-cache"
    monkeypatch.setenv("ONELORA_CACHE", str(cache))


@pytest.fixture
def small_image(tmp_path) -> Path:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (96, 160), (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.ellipse((30, 10, 66, 46), fill=(240, 200, 180))
    d.rectangle((28, 46, 68, 140), fill=(30, 30, 40))
    path = tmp_path / "drawing.png"
    img.save(path)
    return path


@pytest.fixture
def project(tmp_path, small_image):
    from engine import project as pj

    return pj.create(small_image, tmp_path / "proj", trigger="zq_tester", class_name="girl")
