"""Source preparation: load the one drawing robustly, find and fix stray-colour pixel islands,
flatten a plain background, upscale, and keep ``source/prepared.png`` in step with project.toml.

The prepared image is always rebuilt from the project's copy of the original plus the steps
recorded in ``project.prep`` (docs/architecture.md, Boundaries 4): the original is only ever read, the
prepared PNG carries the recipe it was made from (a PNG text chunk) so a stale one is noticed and
rebuilt, and the same recipe gives the same bytes.

Pure Pillow + numpy; no torch at import time (the optional model upscaler imports it lazily).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.artifacts import Artifact, find_artifacts, fix_artifacts, label  # noqa: F401
from engine.errors import UserError

PREPARED_NAME = "prepared.png"
RECIPE_KEY = "onelora-recipe"
RECIPE_VERSION = 1
WHITE = (255, 255, 255)

# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


@dataclass
class LoadedImage:
    """An image file read as 8-bit RGB, with what was lost or changed on the way."""

    image: Image.Image
    """RGB image, EXIF orientation applied, transparency composited onto white."""
    alpha: Image.Image | None = None
    """The original transparency as an ``L`` mask (255 = opaque), or None if it had none."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know (animated → first frame, 16-bit reduced, ...)."""
    path: Path | None = None
    mode: str = ""
    """The file's own Pillow mode before conversion."""


def _to_rgb(img: Image.Image, name: str, warnings: list[str]) -> tuple[Image.Image, Image.Image | None]:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) if arr.size else 0.0
        if mode == "F" and top <= 1.0:
            arr = arr * 255.0
        elif top > 255:
            arr = arr / 257.0
            warnings.append(f"{name}: 16-bit image reduced to 8 bits per channel")
        grey = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB"), None
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    elif mode == "L" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "RGB" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        alpha = img.getchannel("A")
        if alpha.getextrema()[0] == 255:
            return img.convert("RGB"), None
        base = Image.new("RGB", img.size, WHITE)
        base.paste(img.convert("RGB"), mask=alpha)
        return base, alpha
    if img.mode == "CMYK":
        warnings.append(f"{name}: CMYK image converted to RGB (colours may shift slightly)")
    return img.convert("RGB"), None


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Read any image Pillow understands as 8-bit RGB; every failure is a UserError naming
    the file.  Refuses images over ``Image.MAX_IMAGE_PIXELS`` (decompression-bomb guard)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image {path} not found (or not a file)")
    warnings: list[str] = []
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                mode = img.mode
                if getattr(img, "n_frames", 1) > 1:
                    warnings.append(f"{path.name} is animated ({img.n_frames} frames); "
                                    "using the first frame")
                    img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb, alpha = _to_rgb(img, path.name, warnings)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path} is too large to open safely ({e}); shrink it below "
                        f"{Image.MAX_IMAGE_PIXELS:,} pixels first") from None
    except UnidentifiedImageError:
        raise UserError(f"{path} is not an image Pillow can read; "
                        "export it as PNG or JPEG and try again") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UserError(f"{path} could not be read ({e}); the file may be truncated or "
                        "corrupt: export it again") from None
    return LoadedImage(image=rgb, alpha=alpha, warnings=warnings, path=path, mode=mode)


MIN_SOURCE_SIDE = 32
"""A source drawing with a shorter side than this is refused: there is nothing to learn from."""
WARN_SOURCE_SIDE = 256
"""Below this short side a source is accepted with a warning (it is upscaled a lot)."""
BLANK_RANGE = 2
"""A source whose every channel varies by at most this much is blank (one colour)."""


def check_source(loaded: LoadedImage) -> list[str]:
    """Refuse a source drawing that cannot make a LoRA (tiny, or one colour); return warnings
    for a poor one (small)."""
    name = loaded.path if loaded.path is not None else "the image"
    w, h = loaded.image.size
    short = min(w, h)
    if short < MIN_SOURCE_SIDE:
        raise UserError(f"{name} is {w}x{h} px: too small to train from (the short side must be "
                        f"at least {MIN_SOURCE_SIDE} px, {WARN_SOURCE_SIDE}+ is better); give a "
                        "larger drawing")
    extrema = loaded.image.getextrema()
    if all(hi - lo <= BLANK_RANGE for lo, hi in extrema):
        raise UserError(f"{name} is blank (a single colour, {w}x{h} px): there is nothing to "
                        "learn from it; give the character drawing")
    if short < WARN_SOURCE_SIDE:
        return [f"{name} is only {w}x{h} px (short side under {WARN_SOURCE_SIDE} px): it will "
                "be upscaled a lot and the LoRA will learn blur; a larger drawing is better"]
    return []


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height after EXIF orientation, read from the header only."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            orient = img.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise UserError(f"{path} could not be read ({e})") from None
    return (h, w) if orient in (5, 6, 7, 8) else (w, h)


# ---------------------------------------------------------------------------------------
# Background
# ---------------------------------------------------------------------------------------


def background_color(img: Image.Image, tolerance: int = 24) -> tuple[int, int, int] | None:
    """The border's colour if the border is near-uniform (≥ 95 % within ``tolerance``)."""
    rgb = np.asarray(img.convert("RGB"))
    frame = np.concatenate([rgb[:2].reshape(-1, 3), rgb[-2:].reshape(-1, 3),
                            rgb[:, :2].reshape(-1, 3), rgb[:, -2:].reshape(-1, 3)])
    bg = np.median(frame, axis=0)
    close = np.abs(frame.astype(np.int16) - bg.astype(np.int16)).max(-1) <= tolerance
    return tuple(int(v) for v in bg) if close.mean() >= 0.95 else None


def background_mask(img: Image.Image, tolerance: int = 24) -> np.ndarray | None:
    """Pixels reached by a flood from the border through colours within ``tolerance`` of the
    border's colour (None when the border is not near-uniform)."""
    bg = background_color(img, tolerance)
    if bg is None:
        return None
    rgb = np.asarray(img.convert("RGB")).astype(np.int16)
    near = np.abs(rgb - np.asarray(bg, np.int16)).max(-1) <= tolerance
    labels, _ = label(near, eight=False)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    edge = np.unique(edge[edge > 0])
    return np.isin(labels, edge)


REMBG_MODELS = ("isnet-anime", "u2net")
"""rembg sessions tried, in order, when their weights are already on disk."""


def rembg_model() -> tuple[str, Path] | None:
    """(session name, weights file) if rembg is installed and one of its models is already
    downloaded (``$U2NET_HOME`` or ``~/.u2net``); onelora never lets it download one."""
    import importlib.util

    if importlib.util.find_spec("rembg") is None:
        return None
    home = Path(os.environ.get("U2NET_HOME") or Path.home() / ".u2net").expanduser()
    for name in REMBG_MODELS:
        if (home / f"{name}.onnx").is_file():
            return name, home / f"{name}.onnx"
    return None


def _rembg_flatten(img: Image.Image) -> Image.Image | None:
    found = rembg_model()
    if found is None:
        return None
    import rembg

    cut = rembg.remove(img.convert("RGB"), session=rembg.new_session(found[0])).convert("RGBA")
    out = Image.new("RGB", img.size, WHITE)
    out.paste(cut.convert("RGB"), mask=cut.getchannel("A"))
    return out


def flatten_background(img: Image.Image, tolerance: int = 24,
                       warnings: list[str] | None = None) -> Image.Image:
    """Flood a near-uniform border background to plain white; the figure is left untouched.
    If the border is not plain, rembg is used when installed with a local model; otherwise
    the image is returned unchanged with a warning."""
    mask = background_mask(img, tolerance)
    if mask is None:
        cut = _rembg_flatten(img)
        if cut is not None:
            return cut
        if warnings is not None:
            warnings.append("background not flattened: the image border is not one plain colour "
                            f"(within prep.background_tolerance = {tolerance}) and no local rembg "
                            "model was found")
        return img.convert("RGB")
    rgb = np.array(img.convert("RGB"))
    rgb[mask] = WHITE
    return Image.fromarray(rgb, "RGB")


# ---------------------------------------------------------------------------------------
# Upscale
# ---------------------------------------------------------------------------------------


def upscaled_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The size after upscaling so the long side is at least ``long_side`` (0 = unchanged)."""
    w, h = size
    if not long_side or max(w, h) >= long_side:
        return w, h
    s = long_side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def upscale(img: Image.Image, long_side: int, model_path: str | os.PathLike | None = None) -> Image.Image:
    """Upscale so the long side is ≥ ``long_side`` with Lanczos, or with a local ESRGAN-family
    model through spandrel when ``model_path`` is given (never downloads anything)."""
    target = upscaled_size(img.size, long_side)
    if target == img.size:
        return img
    if model_path:
        img = _model_upscale(img, Path(model_path))
        if img.size == target:
            return img
    return img.resize(target, Image.Resampling.LANCZOS)


def check_upscaler(project) -> None:
    """UserError now (before anything is recorded) if the model upscaler cannot be used."""
    model = _model_file(project)
    if model is None or upscaled_size(image_size(source_path(project)), project.prep.upscale_to) \
            == image_size(source_path(project)):
        return
    _require_model(model)


def _require_model(path: Path):
    if not path.is_file():
        raise UserError(f"prep.upscaler_model = {str(path)!r} not found: give a local ESRGAN-family "
                        "weights file (.pth/.safetensors) or set it to \"\" to use Lanczos")
    try:
        import spandrel  # optional extra: pip install 'onelora[upscale]'
    except ImportError as e:
        raise UserError(f"prep.upscaler_model = {str(path)!r} needs the spandrel package ({e}): "
                        "pip install 'onelora[upscale]', or set it to \"\" to use Lanczos") from None
    return spandrel


def _model_upscale(img: Image.Image, path: Path) -> Image.Image:
    spandrel = _require_model(path)
    import torch

    try:
        model = spandrel.ModelLoader().load_from_file(str(path))
    except Exception as e:  # spandrel raises many kinds for unsupported files
        raise UserError(f"prep.upscaler_model {path} could not be loaded by spandrel ({e})") from None
    if not isinstance(model, spandrel.ImageModelDescriptor) or model.scale < 2:
        raise UserError(f"prep.upscaler_model {path} is not an image upscaler (got "
                        f"{type(model).__name__}); use an ESRGAN-family super-resolution model")
    model.eval()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)[None]
    tile, lap = 512, 32
    _, _, h, w = x.shape
    out = None
    with torch.no_grad():
        for ty in range(0, h, tile):
            for tx in range(0, w, tile):
                ya, xa = max(0, ty - lap), max(0, tx - lap)
                yb, xb = min(h, ty + tile + lap), min(w, tx + tile + lap)
                y = model(x[:, :, ya:yb, xa:xb].to(device)).float().clamp(0, 1).cpu()
                s = y.shape[-1] // (xb - xa)
                if out is None:
                    out = torch.zeros(1, 3, h * s, w * s)
                ty1, tx1 = min(h, ty + tile), min(w, tx + tile)
                out[:, :, ty * s:ty1 * s, tx * s:tx1 * s] = \
                    y[:, :, (ty - ya) * s:(ty1 - ya) * s, (tx - xa) * s:(tx1 - xa) * s]
    arr = (out[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(arr, "RGB")


# ---------------------------------------------------------------------------------------
# The prepared image
# ---------------------------------------------------------------------------------------


@dataclass
class PrepResult:
    """What ``prepare`` did; boxes in prepared-image pixels."""

    prepared: Path
    size: tuple[int, int]
    artifacts: list[Artifact]
    fixed: int
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"prepared": str(self.prepared), "size": list(self.size),
                "artifacts": [a.to_json() for a in self.artifacts], "fixed": self.fixed}


def source_path(project) -> Path:
    """The project's copy of the original drawing."""
    if not project.source.image:
        raise UserError(f"{project.path}: source.image is empty; create the project with "
                        "'onelora new IMAGE DIR --trigger NAME'")
    return project.root / project.source.image


def prepared_path(project) -> Path:
    return project.root / "source" / PREPARED_NAME


def _model_file(project) -> Path | None:
    m = project.prep.upscaler_model
    if not m:
        return None
    p = Path(m).expanduser()
    return p if p.is_absolute() else project.root / p


def prepared_size(project) -> tuple[int, int]:
    """Size of the prepared image, computed from the original's header and the prep settings."""
    return upscaled_size(image_size(source_path(project)), project.prep.upscale_to)


_sha_cache: dict[Path, tuple[tuple[int, int], str]] = {}


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered while its size and mtime stay the same."""
    st = path.stat()
    key = (st.st_mtime_ns, st.st_size)
    hit = _sha_cache.get(path)
    if hit and hit[0] == key:
        return hit[1]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _sha_cache[path] = (key, digest)
    return digest


def recipe(project) -> str:
    """The recipe string stored in prepared.png: the original's hash plus every prep setting."""
    src = source_path(project)
    if not src.is_file():
        raise UserError(f"source image {src} is missing; restore it or create a new project")
    p = project.prep
    data = {"version": RECIPE_VERSION, "source_sha256": _file_sha256(src),
            "upscale_to": p.upscale_to, "upscaler_model": p.upscaler_model,
            "fix_artifacts": p.fix_artifacts, "artifact_max_pixels": p.artifact_max_pixels,
            "artifact_min_contrast": p.artifact_min_contrast,
            "flatten_background": p.flatten_background,
            "background_tolerance": p.background_tolerance}
    if p.flatten_background:
        found = rembg_model()
        data["rembg"] = found[0] if found else ""
    return json.dumps(data, sort_keys=True)


def _stored_recipe(path: Path) -> str | None:
    try:
        with Image.open(path) as img:
            return img.text.get(RECIPE_KEY) if hasattr(img, "text") else None
    except (OSError, UnidentifiedImageError):
        return None


def build_prepared(project, progress: Callable[[str], None] | None = None
                   ) -> tuple[Image.Image, list[Artifact], int, list[str]]:
    """Original + recorded steps → (prepared image, islands in prepared pixels, fixed, warnings).

    Order: find (and optionally fix) islands at the original's own resolution, where a speck is
    still crisp; flatten the background; upscale.  After a model upscale the finder runs again."""
    say = progress or (lambda _msg: None)
    p = project.prep
    loaded = load_image(source_path(project))
    img, warnings = loaded.image, list(loaded.warnings)
    say("finding stray-colour islands")
    arts = find_artifacts(img, max_pixels=p.artifact_max_pixels, min_contrast=p.artifact_min_contrast)
    fixed = 0
    if p.fix_artifacts and arts:
        say(f"fixing {len(arts)} islands")
        img = fix_artifacts(img, arts)
        fixed = len(arts)
    if p.flatten_background:
        say("flattening the background")
        img = flatten_background(img, p.background_tolerance, warnings)
    w0, h0 = img.size
    model = _model_file(project)
    say("upscaling" + (f" with {model.name}" if model else " (Lanczos)"))
    img = upscale(img, p.upscale_to, model)
    sx, sy = img.size[0] / w0, img.size[1] / h0
    scaled = []
    for a in arts:
        x, y, bw, bh = a.box
        nx, ny = int(math.floor(x * sx)), int(math.floor(y * sy))
        scaled.append(Artifact(box=(nx, ny, int(math.ceil((x + bw) * sx)) - nx,
                                    int(math.ceil((y + bh) * sy)) - ny),
                               pixels=int(round(a.pixels * sx * sy)), color=a.color, around=a.around))
    if model and p.fix_artifacts:
        more = find_artifacts(img, max_pixels=int(p.artifact_max_pixels * sx * sy),
                              min_contrast=p.artifact_min_contrast)
        img = fix_artifacts(img, more)
        scaled += more
        fixed += len(more)
    return img, scaled, fixed, warnings


_cache: dict[Path, tuple[tuple, Image.Image]] = {}
REPORT_KEY = "onelora-prep-report"


def _encode(img: Image.Image, recipe_text: str, report: dict) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(RECIPE_KEY, recipe_text)
    info.add_text(REPORT_KEY, json.dumps(report, sort_keys=True))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, compress_level=3)
    return buf.getvalue()


def _report(arts: list[Artifact], fixed: int, warnings: list[str]) -> dict:
    return {"artifacts": [a.to_json() for a in arts], "fixed": fixed, "warnings": warnings}


def _stored_report(path: Path) -> dict | None:
    try:
        with Image.open(path) as img:
            return json.loads(img.text.get(REPORT_KEY, "null"))
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def _artifacts_from(report: dict) -> list[Artifact]:
    return [Artifact(box=tuple(a["box"]), pixels=a["pixels"], color=tuple(a["color"]),
                     around=tuple(a["around"])) for a in report.get("artifacts", [])]


def _write(project, img: Image.Image, want: str, report: dict) -> Path:
    from engine.project import atomic_write_bytes

    path = prepared_path(project)
    data = _encode(img, want, report)
    if not path.is_file() or path.read_bytes() != data:
        atomic_write_bytes(path, data)
    st = path.stat()
    _cache[path] = ((st.st_mtime_ns, st.st_size, want), img)
    return path


def is_prepared(project) -> bool:
    """True when ``source/prepared.png`` exists and matches the original and prep settings."""
    path = prepared_path(project)
    return path.is_file() and _stored_recipe(path) == recipe(project)


def load_prepared(project) -> Image.Image:
    """``source/prepared.png`` as RGB, rebuilt first if it is missing or was made from a
    different original or different prep settings."""
    path = prepared_path(project)
    want = recipe(project)
    if path.is_file() and _stored_recipe(path) == want:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size, want)
        hit = _cache.get(path)
        if hit and hit[0] == key:
            return hit[1].copy()
        with Image.open(path) as im:
            img = im.convert("RGB")
        _cache[path] = (key, img)
        return img.copy()
    img, arts, fixed, warnings = build_prepared(project)
    _write(project, img, want, _report(arts, fixed, warnings))
    return img.copy()


def prepared_artifacts(project) -> list[Artifact]:
    """The islands found when the prepared image was last built (boxes in its pixels);
    builds it first if needed.  Cheap: read from the PNG's text chunk."""
    load_prepared(project)
    return _artifacts_from(_stored_report(prepared_path(project)) or {})


def prepare(project, *, upscale_to: int | None = None, fix_artifacts: bool | None = None,
            flatten_background: bool | None = None, upscaler_model: str | None = None,
            progress: Callable[[str], None] | None = None) -> PrepResult:
    """Record the given prep choices in project.toml, rebuild ``source/prepared.png`` from the
    original (unless it is already up to date), and report the islands found.  Crop
    rectangles follow a change of the prepared image's size."""
    import copy
    import dataclasses

    from engine import project as pj

    old_size = prepared_size(project)
    old_prep = dataclasses.replace(project.prep)
    changes = {"upscale_to": upscale_to, "fix_artifacts": fix_artifacts,
               "flatten_background": flatten_background, "upscaler_model": upscaler_model}
    try:
        for name, value in changes.items():
            if value is not None:
                setattr(project.prep, name, pj.check_value(pj.PrepSettings, name, value, "prep."))
        check_upscaler(project)
    except UserError:
        project.prep = old_prep          # nothing recorded when a choice is refused
        raise
    old_crops = copy.deepcopy(project.crops)
    try:
        new_size = prepared_size(project)
        if new_size != old_size:
            from engine.crops import rescale_crops

            rescale_crops(project, old_size, new_size)
        pj.validate(project)
        path = prepared_path(project)
        pj.remove_stale_temps(path)  # left by a prep that was killed while writing
        want = recipe(project)
        report = _stored_report(path) if path.is_file() and _stored_recipe(path) == want else None
        if report is None:
            img, arts, fixed, warnings = build_prepared(project, progress)
            report = _report(arts, fixed, warnings)
            _write(project, img, want, report)
            size = img.size
        else:
            with Image.open(path) as im:
                size = im.size
        # project.toml last: a failed build or a full disk leaves the old choices and crops
        # (the prepared image carries its own recipe, so an orphan one is rebuilt when stale).
        # Through the folder's store (engine.store), so a TUI in this process knows that this
        # is its own write: written behind the store's back, a later undo back to the old
        # choices would look unchanged to it and the file's new ones would be merged back in.
        from engine import store

        store.save(project)
    except BaseException:
        project.prep, project.crops = old_prep, old_crops
        raise
    return PrepResult(prepared=path, size=size, artifacts=_artifacts_from(report),
                      fixed=report["fixed"], warnings=list(report["warnings"]))
