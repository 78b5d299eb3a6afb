"""Optional WD14 tagger (SmilingWolf WD 1.4 / v3 ONNX models) from a local folder.

The folder holds ``model.onnx`` and ``selected_tags.csv`` (columns ``tag_id,name,category,count``);
nothing is ever downloaded.  Preprocessing follows the models' training (docs/architecture.md,
The WD14 tagger): alpha composited on white, padded to a white square, resized to the model's input size (read
from the ONNX input shape), BGR channel order, NHWC float32 in 0..255.  Rating tags (category 9) are
dropped; general tags (0) pass at ``general_threshold`` and character tags (4) at
``character_threshold``.  Tag names keep their underscores, so kaomoji such as ``^_^`` stay intact.
onnxruntime is imported only when a tagger is actually used.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from engine.errors import UserError

MODEL_FILE = "model.onnx"
TAGS_FILE = "selected_tags.csv"
DEFAULT_SIZE = 448
GENERAL, CHARACTER, RATING = 0, 4, 9


@dataclass
class TagScore:
    """One tag the tagger found, with its probability and CSV category."""

    tag: str
    score: float
    category: int


def _import_onnxruntime():
    try:
        import onnxruntime  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError:
        raise UserError("the WD14 tagger needs onnxruntime: pip install 'onelora[tagger]' "
                        "(or pip install onnxruntime), or leave out --tagger") from None
    return onnxruntime


def read_tags_csv(path: Path) -> list[tuple[str, int]]:
    """(name, category) per output of the model, in CSV order."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"name", "category"} - set(reader.fieldnames or ())
            if missing:
                raise UserError(f"{path} has no {', '.join(sorted(missing))} column; a WD14 "
                                "selected_tags.csv has tag_id,name,category,count")
            for row in reader:
                try:
                    rows.append((row["name"].strip(), int(row["category"])))
                except (TypeError, ValueError):
                    raise UserError(f"{path} line {reader.line_num}: category "
                                    f"{row.get('category')!r} is not a number") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    if not rows:
        raise UserError(f"{path} lists no tags")
    return rows


class Tagger:
    """A loaded WD14 model: call :meth:`predict` on PIL images."""

    def __init__(self, model_dir: str | os.PathLike):
        folder = Path(model_dir).expanduser()
        model, csv_path = folder / MODEL_FILE, folder / TAGS_FILE
        for need in (model, csv_path):
            if not need.is_file():
                raise UserError(f"tagger folder {folder} has no {need.name}; it needs "
                                f"{MODEL_FILE} and {TAGS_FILE} from a WD14 tagger model "
                                "(e.g. SmilingWolf/wd-vit-tagger-v3), downloaded by you")
        ort = _import_onnxruntime()
        self.tags = read_tags_csv(csv_path)
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()] or None
        try:
            self.session = ort.InferenceSession(str(model), providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types
            raise UserError(f"{model} could not be loaded by onnxruntime ({e}); is it a "
                            "complete WD14 model.onnx?") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4:
            raise UserError(f"{model} input has shape {shape}; a WD14 tagger takes "
                            "[batch, height, width, 3]")
        self.size = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else DEFAULT_SIZE
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None

    def preprocess(self, image) -> Any:
        """PIL image → HxWx3 float32 BGR array, padded white to a square."""
        import numpy as np
        from PIL import Image

        img = image
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            white = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, img)
        img = img.convert("RGB")
        side = max(img.size)
        square = Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
        if side != self.size:
            square = square.resize((self.size, self.size), Image.Resampling.BICUBIC)
        arr = np.asarray(square, dtype=np.float32)
        return np.ascontiguousarray(arr[:, :, ::-1])

    def probabilities(self, images: Iterable) -> list[Any]:
        """One probability vector per image (batched unless the model's batch is fixed)."""
        import numpy as np

        arrays = [self.preprocess(im) for im in images]
        out = []
        step = self.fixed_batch or 8
        for i in range(0, len(arrays), step):
            batch = np.stack(arrays[i:i + step])
            probs = self.session.run(None, {self.input_name: batch})[0]
            if probs.shape[-1] != len(self.tags):
                raise UserError(f"the model gives {probs.shape[-1]} scores but {TAGS_FILE} lists "
                                f"{len(self.tags)} tags; the two files are from different models")
            out.extend(probs)
        return out

    def predict(self, images: Iterable, general_threshold: float = 0.35,
                character_threshold: float = 0.85) -> list[list[TagScore]]:
        """Tags per image above the thresholds, highest score first; ratings dropped."""
        results = []
        for probs in self.probabilities(images):
            found = []
            for (name, cat), p in zip(self.tags, probs):
                p = float(p)
                if (cat == GENERAL and p >= general_threshold) or \
                        (cat == CHARACTER and p >= character_threshold):
                    found.append(TagScore(name, p, cat))
            found.sort(key=lambda s: -s.score)
            results.append(found)
        return results


_CACHE: dict[tuple[str, float], Tagger] = {}


def load_tagger(model_dir: str | os.PathLike) -> Tagger:
    """A Tagger for ``model_dir``, reused while its model file is unchanged."""
    folder = Path(model_dir).expanduser().resolve()
    model = folder / MODEL_FILE
    key = (str(folder), model.stat().st_mtime if model.exists() else 0.0)
    if key not in _CACHE:
        _CACHE[key] = Tagger(folder)
    return _CACHE[key]


def tag_crops_with_tagger(project, model_dir: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """Run the tagger on every crop image: crop name → tags (the ``tagger_results`` of
    engine.tags.tag_crops).  Uses ``project.tags.tagger_model`` when no folder is given."""
    from engine.kohya import crop_pixels

    model_dir = model_dir or project.tags.tagger_model
    if not model_dir:
        raise UserError("no tagger model folder: pass --tagger MODEL_DIR or set tags.tagger_model")
    tagger = load_tagger(model_dir)
    crops = list(project.crops.items)
    scores = tagger.predict([crop_pixels(project, c) for c in crops],
                            project.tags.general_threshold, project.tags.character_threshold)
    return {c.name: [s.tag for s in found] for c, found in zip(crops, scores)}


def general_tagger(project):
    """``(image -> [general tags], note)`` for captioning generated images (reg, grow) with the
    project's configured tagger; the function is None without a tagger or when it cannot be
    loaded, and the note says which (generation goes on with prompt tags only)."""
    if not project.tags.tagger_model:
        return None, ""
    try:
        model = load_tagger(project.tags.tagger_model)
    except (ImportError, UserError, OSError) as e:
        return None, f"tagger not used ({e}); captions come from the prompts only"

    def run(img) -> list[str]:
        (found,) = model.predict([img], project.tags.general_threshold,
                                 project.tags.character_threshold)
        return [t.tag for t in found if t.category == GENERAL]

    return run, f"tagging with {project.tags.tagger_model}"
