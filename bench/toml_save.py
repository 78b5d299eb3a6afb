"""Benchmark: what keeping the user's comments costs a project save (engine/toml_edit.py).

Prints ONE JSON line.  For a typical project (10 crops x 30 tags) and a large one (40 x 40),
hand-commented, a TUI-style save (one tag toggled, one setting changed) through
``ProjectStore.save``:

- ``*_first_save_ms``: the first save of a session (the file is parsed with tomlkit);
- ``*_next_save_ms``: a later save (the store reuses the document it wrote, no parsing);
- ``*_tomli_w_first_ms`` / ``*_tomli_w_next_ms``: the old way measured in the same run (the
  same store saves, the file written afresh with ``tomli_w``, which lost every comment);
- ``*_comments_kept``: the user's comment survived the new way's saves;
- ``*_kb``: the file's size.

Run: ``.venv/bin/python bench/toml_save.py`` (no torch, ~15 s).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tomli_w  # noqa: E402
from PIL import Image  # noqa: E402

from engine import project as pj  # noqa: E402
from engine.store import ProjectStore  # noqa: E402


def make_project(root: Path, crops: int, tags: int) -> Path:
    root.mkdir(parents=True)
    image = root / "drawing.png"
    Image.new("RGB", (64, 96), (250, 250, 250)).save(image)
    project = pj.create(image, root / "proj", trigger="zq_bench", check_image=False)
    project.crops.items = [
        pj.Crop(name=f"crop{i}", box=[0, 0, 32, 32],
                tags=[pj.Tag(tag=f"tag_{i}_{j}", source="tagger") for j in range(tags)])
        for i in range(crops)]
    pj.save(project)
    text = project.path.read_text()
    text = "# my project, annotated by hand\n\n" + text.replace(
        "\n[train]\n", "\n# tuned by hand\n[train]\n") + '\n[notes]\ntodo = "retrain"\n'
    project.path.write_text(text)
    return project.root


def timed_saves(root: Path, old_way: bool, saves: int = 5) -> tuple[float, float]:
    """(first save, best later save) in seconds, each after one tag toggle and one setting."""
    store = ProjectStore(root)
    if old_way:  # what a save did before: the whole file afresh with tomli_w
        store._editor.dumps = lambda text, data: tomli_w.dumps(data)
    project = store.load()
    times = []
    for k in range(saves + 1):
        project.train.epochs = 3 + k
        tag = project.crops.items[k % len(project.crops.items)].tags[1]
        tag.kept, tag.override = not tag.kept, True
        t0 = time.perf_counter()
        assert store.save(project).wrote
        times.append(time.perf_counter() - t0)
    return times[0], min(times[1:])


def measure(root: Path) -> dict:
    text = (root / pj.PROJECT_FILE).read_text()
    first, later = timed_saves(root, old_way=False)
    kept = "# tuned by hand" in (root / pj.PROJECT_FILE).read_text()
    kb = (root / pj.PROJECT_FILE).stat().st_size / 1024
    (root / pj.PROJECT_FILE).write_text(text)
    old_first, old_later = timed_saves(root, old_way=True)
    return {"first_save_ms": round(first * 1000, 1), "next_save_ms": round(later * 1000, 1),
            "tomli_w_first_ms": round(old_first * 1000, 1),
            "tomli_w_next_ms": round(old_later * 1000, 1),
            "comments_kept": kept, "kb": round(kb, 1)}


def main() -> None:
    out = {"bench": "toml_save"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, crops, tags in (("typical", 10, 30), ("large", 40, 40)):
            root = make_project(Path(tmp) / name, crops, tags)
            out.update({f"{name}_{k}": v for k, v in measure(root).items()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
