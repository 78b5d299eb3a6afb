"""A stand-in for the optional ``spandrel`` package (not installed in the test venv): a 2× nearest
neighbour "model" that, like the real package, imports torch. Put its folder first on PYTHONPATH so
upscale worker processes find it."""

from __future__ import annotations

from pathlib import Path

FAKE_SPANDREL = '''
import torch


class ImageModelDescriptor:
    def __init__(self, scale):
        self.scale = scale

    def eval(self):
        return self

    def to(self, device):
        return self

    def __call__(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")


class ModelLoader:
    def load_from_file(self, path):
        return ImageModelDescriptor(int(open(path).read().split("=")[1]))
'''


def fake_spandrel(folder: Path) -> tuple[Path, Path]:
    """(folder to put on PYTHONPATH, a weights file it loads as a 2× upscaler)."""
    pkg = folder / "fake-site" / "spandrel"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(FAKE_SPANDREL)
    weights = folder / "2x-nearest.pth"
    weights.write_text("scale=2")
    return pkg.parent, weights
