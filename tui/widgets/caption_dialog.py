"""The caption step's dialogs: add a tag (with completion) and caption every crop.

Captioning takes the tags of the whole image (pasted or typed, one per line or comma
separated) and, when a WD14 tagger folder is given, the tagger's tags per crop; the tags screen
then applies the trait rules to every tag (engine.tags.tag_crops).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from engine import project as pj
from engine import tags as tg
from tui.answer_once import AnswerOnce
from tui.keys import FieldGroup
from tui.widgets.tag_checklist import TagSuggester


class AddTagScreen(AnswerOnce, ModalScreen[list[str] | None]):
    """Ask for a tag (or several, comma separated), completing from known tags."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]
    DEFAULT_CSS = """
    AddTagScreen { align: center middle; }
    AddTagScreen > Vertical { width: 64; height: auto; border: thick $accent;
                              background: $surface; padding: 0 1; }
    AddTagScreen #add-matches { color: $text-muted; height: auto; max-height: 4; }
    AddTagScreen #add-title { width: 1fr; height: auto; }
    """

    def __init__(self, project: pj.Project, where: str) -> None:
        super().__init__()
        self.project = project
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            # Static wraps (a Label is one line and lost its end at 80 columns)
            yield Static(f"Add a tag to {self.where} (→ completes, enter adds, esc cancels):",
                         id="add-title")
            yield Input(placeholder="tag, e.g. hair_bow", id="add-tag",
                        suggester=TagSuggester(self.project))
            yield Static("", id="add-matches")

    @on(Input.Changed)
    def _matches(self, event: Input.Changed) -> None:
        last = event.value.rsplit(",", 1)[-1]
        found = tg.complete(last, self.project, limit=8) if last.strip() else []
        self.query_one("#add-matches", Static).update(Text("  ".join(found)))

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(tg.split_tags(event.value) or None)


@dataclass
class CaptionRequest:
    """What the caption dialog asks for."""

    image_tags: list[str]
    """The tags of the whole image (normalized)."""
    tagger_model: str
    """A WD14 tagger folder to run on every crop ('' = none)."""


class CaptionScreen(ModalScreen[CaptionRequest | None]):
    """Caption every crop: the image's tag list and, optionally, the WD14 tagger."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", show=False),
                Binding("ctrl+s,ctrl+g", "apply", "caption", priority=True)]
    DEFAULT_CSS = """
    CaptionScreen { align: center middle; }
    CaptionScreen > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
                               border: thick $accent; background: $surface; padding: 0 1; }
    CaptionScreen Static { width: 1fr; height: auto; }
    CaptionScreen TextArea { height: 8; }
    CaptionScreen Input { height: 1; border: none; padding: 0 1; background: $boost; }
    CaptionScreen Input:focus { border: none; background: $accent 30%; }
    CaptionScreen .hint { color: $text-muted; }
    """

    def __init__(self, project: pj.Project) -> None:
        super().__init__()
        self.project = project

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Caption every crop. The character's own traits (hair, eyes, skin...) "
                         "are pruned with their reason, also those you added by hand.")
            with FieldGroup():
                yield Static("Tags of the whole image, one per line or comma separated:")
                yield TextArea("\n".join(self.project.tags.image_tags), id="caption-tags",
                               soft_wrap=True, show_line_numbers=False)
                yield Static("WD14 tagger folder (model.onnx + selected_tags.csv), "
                             "empty = no tagger:")
                yield Input(self.project.tags.tagger_model, id="caption-tagger",
                            placeholder="e.g. ~/models/wd-vit-tagger-v3")
            yield Static("ctrl+s captions · tab next field · esc cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_apply(self) -> None:
        text = self.query_one("#caption-tags", TextArea).text
        model = self.query_one("#caption-tagger", Input).value.strip()
        self.dismiss(CaptionRequest(tg.split_tags(text), model))
