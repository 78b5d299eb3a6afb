"""The tags screen: each crop's tags as a checklist, traits pruned with their reasons.

Crop list on the left, the highlighted crop's checklist on the right (kept, pruned traits with
reasons, crop framing tags), the caption it makes with its CLIP token count below, trigger and
class on top.  ``f`` swaps the checklist for the frequency of every tag over all crops.  Every
change goes through engine.tags and is saved to project.toml at once.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine import project as pj
from engine import tags as tg
from engine.errors import UserError
from tui.messages import ProjectChanged
from tui.widgets.tag_checklist import FrequencyList, TagChecklist, TagSuggester


class AddTagScreen(ModalScreen[str | None]):
    """Ask for a tag, completing from known tags (→ accepts the grey completion)."""

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
        found = tg.complete(event.value, self.project, limit=8) if event.value.strip() else []
        self.query_one("#add-matches", Static).update(Text("  ".join(found)))

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class TagsScreen(Screen):
    """Tags per crop with trait pruning, caption preview and tag frequency."""

    HELP_TITLE = "Tags"
    HELP_TEXT = ("Pruned tags are the character's own traits: left out of the caption, the "
                 "trigger word learns them. Keep the outfit, accessories and states.")
    PALETTE_GROUP = "tags"
    BINDINGS = [
        Binding("a", "add_tag(False)", "Add", tooltip="Add a tag to this crop",
                id="tags-add"),
        Binding("A", "add_tag(True)", "Add to all", tooltip="Add a tag to every crop",
                show=False, id="tags-add-all"),
        Binding("g", "apply_to_all", "Apply to all", tooltip="Give the highlighted tag's "
                "kept/pruned state on this crop to every crop", show=False,
                id="tags-apply-all"),
        Binding("x,delete", "remove_tag", "Remove", tooltip="Take the tag off this crop",
                show=False, id="tags-remove"),
        Binding("f", "toggle_frequency", "Frequency", tooltip="All tags over all crops",
                show=False, id="tags-frequency"),
        Binding("t", "edit('trigger')", "Trigger", show=False, id="tags-trigger"),
        Binding("c", "edit('class')", "Class", show=False, id="tags-class"),
        Binding("u", "toggle_underscores", "Spaces/_", tooltip="Write tags with underscores "
                "or spaces", show=False, id="tags-underscores"),
    ]
    DEFAULT_CSS = """
    TagsScreen #tags-top { height: 1; }
    TagsScreen #tags-top Label { padding: 0 1; }
    TagsScreen #tags-top Input { width: 18; height: 1; border: none; padding: 0 1; }
    TagsScreen #tags-top Input:focus { background: $accent 40%; }
    TagsScreen #trigger-warn { width: 1fr; color: $warning; padding: 0 1; }
    TagsScreen #tags-main { height: 1fr; }
    TagsScreen #crop-list { width: 26; height: 1fr; border: round $panel; }
    TagsScreen #crop-list:focus-within { border: round $accent; }
    TagsScreen TagChecklist, TagsScreen FrequencyList { width: 1fr; height: 1fr;
                                                        border: round $panel; }
    TagsScreen TagChecklist:focus, TagsScreen FrequencyList:focus { border: round $accent; }
    TagsScreen FrequencyList { display: none; }
    TagsScreen.-frequency FrequencyList { display: block; }
    TagsScreen.-frequency TagChecklist { display: none; }
    TagsScreen #caption { height: auto; max-height: 7; padding: 0 1; border-top: solid $panel; }
    TagsScreen #caption.-long { background: $error 25%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.crop_name: str | None = None

    @property
    def project(self) -> pj.Project:
        return self.app.project

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("Tags", classes="screen-title")
        with Horizontal(id="tags-top"):
            yield Label("trigger")
            yield Input(id="trigger", select_on_focus=False)
            yield Label("class")
            yield Input(id="class", select_on_focus=False)
            yield Static("", id="trigger-warn")
        with Horizontal(id="tags-main"):
            yield OptionList(id="crop-list")
            yield TagChecklist(id="checklist")
            yield FrequencyList(id="frequency")
        yield Static("", id="caption")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._load_project()
        self.query_one(TagChecklist).focus()

    def _load_project(self) -> None:
        project = self.project
        with self.query_one("#trigger", Input).prevent(Input.Changed):
            self.query_one("#trigger", Input).value = project.trigger
        with self.query_one("#class", Input).prevent(Input.Changed):
            self.query_one("#class", Input).value = project.class_name
        crops = self.query_one("#crop-list", OptionList)
        crops.clear_options()
        crops.add_options([Option(self._crop_label(c), id=c.name) for c in project.crops.items])
        names = [c.name for c in project.crops.items]
        if self.crop_name not in names:
            self.crop_name = names[0] if names else None
        if self.crop_name is not None:
            crops.highlighted = names.index(self.crop_name)
        self._refresh()

    @staticmethod
    def _crop_label(crop: pj.Crop) -> Text:
        kept = sum(t.kept for t in crop.tags)
        return Text.assemble(crop.name, (f" {kept}/{len(crop.tags)}", "dim"))

    @on(ProjectChanged)
    def _project_changed(self, message: ProjectChanged) -> None:
        if message.project is not None:
            self._load_project()

    # --- drawing -------------------------------------------------------------------------

    def crop(self) -> pj.Crop | None:
        if self.crop_name is None:
            return None
        try:
            return self.project.crop(self.crop_name)
        except UserError:
            return None

    def _refresh(self) -> None:
        crop = self.crop()
        self.query_one(TagChecklist).show_crop(crop)
        if self.has_class("-frequency"):
            self.query_one(FrequencyList).show_project(self.project)
        crops = self.query_one("#crop-list", OptionList)
        for i, c in enumerate(self.project.crops.items):
            if i < crops.option_count:
                crops.replace_option_prompt_at_index(i, self._crop_label(c))
        warn = tg.trigger_warnings(self.project)
        self.query_one("#trigger-warn", Static).update(Text(("⚠ " + warn[0]) if warn else ""))
        box = self.query_one("#caption", Static)
        if crop is None:
            box.update("no crops yet: make them on the crops screen (1)")
            box.set_class(False, "-long")
            return
        text = tg.caption(self.project, crop)
        n = tg.token_count(text)
        long = n > tg.CLIP_WINDOW
        head = Text(f"{crop.name}: {n} tokens", style="bold")
        if long:
            head.append(f" — past CLIP's {tg.CLIP_WINDOW}, the tail is cut off", style="bold")
        box.update(head + Text("\n" + text))
        box.set_class(long, "-long")

    def _changed(self) -> None:
        self.app.save_project()
        self._refresh()

    # --- events --------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#crop-list")
    def _crop_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id != self.crop_name:
            self.crop_name = event.option.id
            self._refresh()

    @on(OptionList.OptionSelected, "#crop-list")
    def _crop_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one(FrequencyList if self.has_class("-frequency") else TagChecklist).focus()

    @on(Input.Submitted, "#trigger, #class")
    def _name_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        try:
            if event.input.id == "trigger":
                pj.check_trigger(value)
                self.project.trigger = value
            else:
                if not value or "," in value:
                    raise UserError(f"class {value!r} is not allowed: use a word such as girl")
                self.project.class_name = value
        except UserError as e:
            self.notify(str(e), severity="error")
            return
        self._changed()
        self.query_one(TagChecklist).focus()

    def key_escape(self) -> None:
        if isinstance(self.focused, Input):
            self._load_project()  # drop an unsubmitted edit
            self.query_one(TagChecklist).focus()

    # --- actions -------------------------------------------------------------------------

    def _edit(self, op: str, tag: str, everywhere: bool = False) -> bool:
        crop = None if everywhere else self.crop()
        if crop is None and not everywhere:
            self.notify("no crop selected", severity="warning")
            return False
        try:
            tg.edit_tag(self.project, op, tag, crop)
        except UserError as e:
            self.notify(str(e), severity="error")
            return False
        self._changed()
        return True

    def _highlighted(self) -> str | None:
        widget = FrequencyList if self.has_class("-frequency") else TagChecklist
        return self.query_one(widget).highlighted_tag()

    def action_toggle_tag(self) -> None:
        tag = self.query_one(TagChecklist).highlighted_tag()
        if tag:
            self._edit("toggle", tag)

    def action_toggle_everywhere(self) -> None:
        tag = self.query_one(FrequencyList).highlighted_tag()
        if not tag:
            return
        kept_somewhere = tg.frequency(self.project, kept_only=True).get(tag, 0) > 0
        self._edit("prune" if kept_somewhere else "keep", tag, everywhere=True)

    def action_apply_to_all(self) -> None:
        tag, crop = self._highlighted(), self.crop()
        if not tag or crop is None:
            return
        state = next((t for t in crop.tags if t.tag == tag), None)
        if state is None:  # frequency view: a tag this crop lacks → add it everywhere
            self._edit("add", tag, everywhere=True)
            return
        if self._edit("add", tag, everywhere=True) and not state.kept:
            self._edit("prune", tag, everywhere=True)
        n = len(self.project.crops.items)
        self.notify(f"{tag}: {'kept' if state.kept else 'pruned'} on all {n} crops")

    def action_remove_tag(self) -> None:
        tag = self._highlighted()
        if tag:
            self._edit("remove", tag, everywhere=self.has_class("-frequency"))

    def action_add_tag(self, everywhere: bool) -> None:
        if not self.project.crops.items:
            self.notify("no crops yet: make them on the crops screen (1)", severity="warning")
            return
        where = "every crop" if everywhere else f"crop {self.crop_name}"

        def added(tag: str | None) -> None:
            if tag:
                self._edit("add", tag, everywhere)

        self.app.push_screen(AddTagScreen(self.project, where), added)

    def action_toggle_frequency(self) -> None:
        self.toggle_class("-frequency")
        if self.has_class("-frequency"):
            freq = self.query_one(FrequencyList)
            freq.show_project(self.project)
            freq.focus()
        else:
            self.query_one(TagChecklist).focus()

    def action_edit(self, which: str) -> None:
        self.query_one(f"#{which}", Input).focus()

    def action_toggle_underscores(self) -> None:
        self.project.tags.underscores = not self.project.tags.underscores
        self._changed()
