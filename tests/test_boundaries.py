"""The package boundaries of docs/architecture.md (Boundaries 1), checked in fresh interpreters.

The TUI must start without paying for torch (or diffusers/peft/transformers), and the engine's
light modules must be usable headless without Textual or torch.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "peft", "transformers")
# The engine modules that may import torch; every other engine module (new ones included) is
# light and is checked below.
TORCH_ENGINE = {"models", "lora", "data", "train", "train_step", "training_utils", "sample"}
LIGHT_ENGINE = tuple(sorted(p.stem for p in (ROOT / "engine").glob("*.py")
                            if p.stem not in TORCH_ENGINE and p.stem != "__init__")) + ("cli",)


def loaded_after(*modules: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after importing ``modules`` in a new process."""
    code = ("import importlib, json, sys\n"
            f"for m in {list(modules)!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def tui_modules() -> list[str]:
    names = ["tui.app", "tui.commands", "tui.messages"]
    for folder in ("screens", "widgets"):
        for path in sorted((ROOT / "tui" / folder).glob("*.py")):
            if path.stem != "__init__":
                names.append(f"tui.{folder}.{path.stem}")
    return names


def test_tui_app_and_every_screen_import_without_torch_or_diffusers():
    loaded = loaded_after(*tui_modules())
    assert "textual" in loaded
    assert not loaded & set(HEAVY), f"tui pulled in {sorted(loaded & set(HEAVY))}"


@pytest.mark.parametrize("name", LIGHT_ENGINE)
def test_light_engine_module_imports_without_textual_or_torch(name):
    module = f"engine.{name}"
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist yet")
    loaded = loaded_after("engine", module)
    assert "textual" not in loaded, f"{module} imports textual"
    assert "torch" not in loaded, f"{module} imports torch at module level"


def test_engine_package_imports_without_textual():
    loaded = loaded_after("engine")
    assert not loaded & {"textual", "torch", "tui", "themes"}


def test_installed_theme_stylesheet_loads_and_parses():
    """The .tcss ships inside the package (read via importlib.resources) and Textual parses
    it with both themes' variables."""
    code = (
        "import themes\n"
        "from textual.css.stylesheet import Stylesheet\n"
        "text = themes.stylesheet()\n"
        "assert 'CropsScreen' in text\n"
        "from textual.app import App\n"
        "for t in themes.THEMES:\n"
        "    sheet = Stylesheet(variables={**App().get_css_variables(), **t.to_color_system().generate()})\n"
        "    sheet.add_source(text, read_from=('onelora.tcss', ''))\n"
        "    sheet.parse()\n"
        "print(themes.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("__init__.py")


def test_pyproject_ships_the_stylesheet_in_the_wheel():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "*.tcss" in data["tool"]["setuptools"]["package-data"]["themes"]
    assert (ROOT / "themes" / "onelora.tcss").is_file()
