"""The Grow screen (round two): draw candidates with the first LoRA and keep or discard them.

Drawing is a detached "grow" run (engine.grow.grow_worker in its own process) started
through ``app.engine``; this screen follows the newest grow run for its progress line and
shows the candidates in ``DIR/grow/candidates/`` as a keyboard gallery: keep, discard,
next, previous, zoom on the head, and compare with the source crop side by side.  Each
candidate shows its similarity to the nearest training crop (the overfit meter's
thumbnails), so near-copies are easy to spot.  Decisions are saved in project.toml
(``grow.kept`` / ``grow.discarded``).  No torch is imported here.
"""

from __future__ import annotations

from PIL import Image, ImageOps
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static, TabbedContent, TabPane

from engine import candidates as cd
from engine import grow
from engine import project as pj
from engine.errors import UserError
from tui.widgets.image_view import ImageView
from tui.widgets.job_gallery import LIVE, JobGallery, gallery_css
from tui.widgets.key_footer import KeyFooter
FIELDS = ("weight", "strength", "txt2img_count", "img2img_count", "flip", "lora", "epoch",
          "prompt", "img2img_prompt", "negative", "steps", "cfg", "width", "height", "seed",
          "repeats")
PREVIEW = 3


def side_by_side(left: Image.Image, right: Image.Image, gap: int = 4) -> Image.Image:
    """Two images at the same height next to each other (source crop | candidate)."""
    h = max(left.height, right.height)
    a = left.resize((max(1, round(left.width * h / left.height)), h))
    b = right.resize((max(1, round(right.width * h / right.height)), h))
    out = Image.new("RGB", (a.width + gap + b.width, h), (24, 24, 28))
    out.paste(a.convert("RGB"), (0, 0))
    out.paste(b.convert("RGB"), (a.width + gap, 0))
    return out


def source_image(project: pj.Project, info: dict[str, str]) -> Image.Image | None:
    """The crop a candidate was drawn from (mirrored when it was), or for a txt2img
    candidate the full-body crop its outfit tags came from."""
    from engine.kohya import crop_pixels

    name = info.get("source_crop", "")
    flipped = name.endswith(" (flipped)")
    name = name.removesuffix(" (flipped)")
    try:
        crop = project.crop(name) if name else grow.outfit_crop(project)
        if crop is None:
            return None
        img = crop_pixels(project, crop).convert("RGB")
    except (UserError, OSError):
        return None
    return ImageOps.mirror(img) if flipped else img


class GrowScreen(JobGallery, Screen):
    """Round two: new views of the character, drawn with the picked LoRA, kept by hand."""

    HELP_TITLE = "Grow (round two)"
    HELP = ("Draws new views of the character with the picked LoRA (txt2img from the grow_* "
            "wildcards, img2img from the crops) into DIR/grow/candidates/. ctrl+g (or g) draws "
            "a batch in the background, ctrl+n (or x) stops it. ←/→ (p/n) move, k keeps a "
            "candidate, d discards it, u forgets the decision, z zooms on the head, c compares "
            "with the source crop side by side. sim is the similarity to the nearest training "
            "crop: near 1 is a copy that teaches nothing. Kept candidates train as their own "
            "folder with grow.repeats; the next training run starts from the base model, or "
            "from the picked LoRA with train.init_lora = picked. ctrl+o (or v) switches to the "
            "settings: LoRA weight, img2img strength, counts, prompts (the preview shows the "
            "first ones).")
    BINDINGS = [
        Binding("ctrl+g", "generate", "Draw", priority=True, id="grow-generate"),
        Binding("g", "generate", "Draw", show=False, id="grow-generate-key"),
        Binding("ctrl+n", "stop", "Stop", priority=True, show=False, id="grow-stop"),
        Binding("x", "stop", "Stop", show=False, id="grow-stop-key"),
        Binding("right,n", "move(1)", "Next", show=False, id="grow-next"),
        Binding("left,p", "move(-1)", "Prev", show=False, id="grow-prev"),
        Binding("k", "decide('kept')", "Keep", show=False, id="grow-keep"),
        Binding("d,delete", "decide('discarded')", "Discard", show=False, id="grow-discard"),
        Binding("u", "decide('undecided')", "Undecide", show=False, id="grow-undecide"),
        Binding("z", "zoom", "Zoom", show=False, id="grow-zoom"),
        Binding("c", "compare", "Compare", show=False, id="grow-compare"),
        Binding("ctrl+o", "toggle_view", "Settings", priority=True, id="grow-view",
                tooltip="switch between the gallery and the settings"),
        Binding("v", "toggle_view", "Settings/gallery", show=False, id="grow-view-key"),
    ]
    JOB_KIND = PREFIX = "grow"
    FIELDS = FIELDS
    EMPTY = "no candidates yet: ctrl+g draws some"
    IDLE = "no candidates drawn yet: ctrl+g draws a batch with the picked LoRA"
    NOTHING_RUNNING = "no grow run is drawing"
    # a candidate's prompt ends with what sets it apart (view, pose, expression): show it whole
    DEFAULT_CSS = gallery_css("GrowScreen", "grow", caption="height: auto; max-height: 6;")

    def __init__(self) -> None:
        super().__init__()
        self.zoomed = False
        self.comparing = False

    def compose(self) -> ComposeResult:
        yield Static("", id="grow-head")
        with TabbedContent(id="grow-tabs", initial="grow-gallery"):
            with TabPane("Gallery", id="grow-gallery"):
                yield from self.compose_gallery()
            with TabPane("Settings", id="grow-settings"):
                yield from self.compose_settings(VerticalScroll)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.load_form()
        self.refresh_gallery()
        self.poll_run()
        self.set_interval(1.0, self.poll_run)
        self.query_one(ImageView).focus()

    # -- settings ------------------------------------------------------------------------
    def setting_saved(self, name: str) -> None:
        self.update_preview()
        if name == "repeats":
            self.update_head()

    def preview_lines(self) -> list[str]:
        g = self.project.grow
        jobs = grow.plan(self.project, cd.next_number(self.project),
                         min(PREVIEW, g.txt2img_count), min(PREVIEW, g.img2img_count))
        return [f"{j.mode}: {j.prompt}" for j in jobs]

    def focus_settings(self) -> None:
        self.query_one("#grow-weight", Input).focus()

    # -- run -----------------------------------------------------------------------------
    def head_line(self) -> str:
        counts = {s: sum(1 for c in self.items if c.state == s)
                  for s in ("kept", "discarded", "undecided")}
        return (f"{len(self.items)} candidates · kept {counts['kept']} · discarded "
                f"{counts['discarded']} · undecided {counts['undecided']} · kept ones train "
                f"as {cd.folder_name(self.project)}")

    def action_generate(self) -> None:
        if self.project is None:
            return
        info = self.latest_run()
        if info is not None and info.status in LIVE:
            self.notify(f"run {info.id} is already drawing", severity="warning")
            return
        g = self.project.grow
        try:
            grow.resolve_lora(self.project)
            first = cd.next_number(self.project)
            grow.plan(self.project, first, g.txt2img_count, g.img2img_count)
            run_dir = self.app.engine.start_run(self.project, "grow", first=first,
                                                txt2img=g.txt2img_count, img2img=g.img2img_count)
        except UserError as e:
            self.notify(str(e), title="not started", severity="error", timeout=8)
            return
        self.notify(f"drawing {g.txt2img_count + g.img2img_count} candidates: run {run_dir.name}")
        self.poll_run()

    # -- gallery -------------------------------------------------------------------------
    def load_items(self) -> list[cd.Candidate]:
        return cd.list_candidates(self.project)

    def item_key(self, item: cd.Candidate) -> int:
        return item.number

    def present(self, view: ImageView, item: cd.Candidate, shown: Image.Image) -> str:
        src = source_image(self.project, item.info) if self.comparing else None
        view.set_image(side_by_side(src, shown) if src is not None else shown)
        w, h = view.image.size
        view.set_region((w // 4, 0, max(1, w // 2), max(1, h // 2)) if self.zoomed else None)
        sim = "–" if item.similarity is None else f"{item.similarity:.2f}"
        info = item.info
        how = info.get("mode", "?")
        if how == "img2img":
            how += f" {info.get('strength', '')} from {info.get('source_crop', '')}"
        return (f"{self.pos + 1}/{len(self.items)} {item.path.name} · {item.state.upper()}"
                f" · sim {sim} · {how} · seed {info.get('seed', '?')} · weight "
                f"{info.get('weight', '?')}" + (" · source | candidate" if src else "")
                + f"\n{item.caption}")

    def action_decide(self, decision: str) -> None:
        if not self.items or self.project is None or not self.in_gallery():
            return
        item = self.items[self.pos]
        try:
            cd.decide(self.project, [item.number], decision, save=False)
        except UserError as e:
            self.notify(str(e), severity="error")
            return
        self.app.save_project()
        item.state = decision
        self.update_head()
        if decision == "undecided":
            self.show_item()
        else:
            self.action_move(1)

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self.show_item()

    def action_compare(self) -> None:
        self.comparing = not self.comparing
        self.show_item()

