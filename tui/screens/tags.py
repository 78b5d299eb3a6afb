"""The tags screen: each crop's tags as a checklist, traits pruned with their reasons.

Crop list on the left, the highlighted crop's checklist on the right (kept, pruned traits with
reasons, crop framing tags), the caption it makes with its CLIP token count below, trigger and
class on top.  The crop list has the focus first (↑↓ pick a crop, enter / → go into its tags,
← / tab come back); the focused list has the accent border and title, and the footer shows its
key.  A tag key acts only on the crop the user has seen selected (see ``_may_act``).
``f`` swaps the checklist for the frequency of every tag over all crops.  ``C``
is the caption step: the image's tag list and/or the WD14 tagger (run in a thread), with the
trait rules applied to every tag.  Every change goes through engine.tags, is saved to
project.toml at once, and is undoable (``u``/``U``) as operations on tags (engine.tag_history).
"""

from __future__ import annotations

import copy
from typing import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine import project as pj
from engine import reg
from engine import tag_history as th
from engine import tags as tg
from engine.errors import UserError
from tui import tag_notes as notes
from tui.keys import SCREEN_TAB_BINDINGS, TabFocus, focus_main
from tui.messages import ProjectChanged
from tui.wording import TuiTerms
from tui.widgets.caption_dialog import AddTagScreen, CaptionRequest, CaptionScreen
from tui.widgets.tag_checklist import CropList, FrequencyList, TagChecklist
from tui.widgets.key_footer import KeyFooter
from tui.widgets.name_fields import NameFields, NameInput

CAPTION_KEY = "C"
"""The caption step's key (named in the hints)."""


class TagsScreen(TabFocus, TuiTerms, Screen):
    """Tags per crop with trait pruning, caption preview and tag frequency."""

    HELP_TITLE = "Tags"
    HELP_TEXT = ("Pruned tags are the character's own traits: left out of the caption, the "
                 "trigger word learns them. Keep the outfit, accessories and states. "
                 f"{CAPTION_KEY} captions every crop (paste the image's tags or run the WD14 "
                 "tagger); u undoes a tag change, U redoes it. The crop list has the focus "
                 "first: ↑↓ picks a crop, enter or → goes into its tags, ← or tab comes back.")
    PALETTE_GROUP = "tags"
    MAIN_WIDGET = "CropList"
    BINDINGS = [
        *SCREEN_TAB_BINDINGS,
        # keys that open a field or a dialog are priority bindings: they act while the app
        # reads the key, so the characters typed right after them reach the field (tui.keys)
        Binding("a", "add_tag(False)", "Add", tooltip="Add a tag to this crop", show=False,
                priority=True, id="tags-add"),
        Binding(CAPTION_KEY, "caption", "Caption", tooltip="Caption every crop: paste the "
                "image's tags or run the WD14 tagger; traits are pruned", priority=True,
                id="tags-caption"),
        Binding("A", "add_tag(True)", "Add to all", tooltip="Add a tag to every crop",
                show=False, priority=True, id="tags-add-all"),
        Binding("g", "apply_to_all", "Apply to all", tooltip="Give the highlighted tag's "
                "kept/pruned state on this crop to every crop", show=False,
                id="tags-apply-all"),
        Binding("x,delete", "remove_tag", "Remove", tooltip="Take the tag off this crop",
                show=False, id="tags-remove"),
        Binding("u", "undo", "Undo", tooltip="Undo the last tag change", show=False,
                id="tags-undo"),
        Binding("U,ctrl+r", "redo", "Redo", tooltip="Redo a tag change", show=False,
                id="tags-redo"),
        Binding("f", "toggle_frequency", "Frequency", tooltip="All tags over all crops",
                show=False, id="tags-frequency"),
        Binding("t", "edit('trigger')", "Trigger", show=False, priority=True, id="tags-trigger"),
        Binding("c", "edit('class')", "Class", show=False, priority=True, id="tags-class"),
        Binding("underscore", "toggle_underscores", "Spaces/_", tooltip="Write tags with "
                "underscores or spaces", show=False, id="tags-underscores"),
    ]
    DEFAULT_CSS = """
    TagsScreen #tags-top { height: 1; }
    TagsScreen #tags-top Label { padding: 0 1; }
    TagsScreen #tags-top Input { width: 18; height: 1; border: none; padding: 0 1; }
    TagsScreen #tags-top Input:focus { background: $accent 40%; }
    TagsScreen #trigger-warn { width: 1fr; color: $warning; padding: 0 1; }
    TagsScreen #tags-main { height: 1fr; }
    TagsScreen #crop-list { width: 26; height: 1fr; border: round $panel; }
    TagsScreen TagChecklist, TagsScreen FrequencyList { width: 1fr; height: 1fr;
                                                        border: round $panel; }
    TagsScreen #crop-list, TagsScreen TagChecklist, TagsScreen FrequencyList {
        border-title-color: $text-muted; }
    TagsScreen #crop-list:focus, TagsScreen TagChecklist:focus,
    TagsScreen FrequencyList:focus { border: round $accent; border-title-color: $accent;
                                     border-title-style: bold; }
    TagsScreen FrequencyList { display: none; }
    TagsScreen.-frequency FrequencyList { display: block; }
    TagsScreen.-frequency TagChecklist { display: none; }
    TagsScreen #caption { height: auto; max-height: 7; padding: 0 1; border-top: solid $panel; }
    TagsScreen #caption.-long { background: $error 25%; }
    TagsScreen #caption-hint { height: auto; padding: 0 1; color: $warning; display: none; }
    TagsScreen #caption-hint.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.crop_name: str | None = None
        self.history = th.History()
        self.captioning = False
        self._moved_note = ""
        """Set when the selected crop changed without the user (removed or renamed
        elsewhere): the next tag key is refused with this note instead of acting on a crop
        the user did not pick (cleared by that key or by picking a crop)."""

    @property
    def project(self) -> pj.Project:
        return self.app.project

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("Tags", classes="screen-title")
        with NameFields(id="tags-top"):
            yield Label("trigger")
            yield NameInput(id="trigger")
            yield Label("class")
            yield NameInput(id="class")
            yield Static("", id="trigger-warn")
        with Horizontal(id="tags-main"):
            yield CropList(id="crop-list")
            yield TagChecklist(id="checklist")
            yield FrequencyList(id="frequency")
        yield Static("", id="caption-hint")
        yield Static("", id="caption")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self._follow_crops()
        self._load_project()
        # the crop list first: pick a crop (its tags show on the right), enter / → / tab go
        # into its tags; the focused list has the accent border and title, and the footer
        # shows its key (⏎ Edit tags / space Toggle)
        self.query_one("#crop-list", OptionList).focus()
        self.query_one("#frequency", FrequencyList).border_title = "tags of all crops"

    def on_screen_resume(self) -> None:
        if not self.is_mounted:
            return
        # crops may have been removed, renamed or added on the crops screen meanwhile (that
        # saves without a ProjectChanged): the list must never show a crop that is gone
        crops = self.query_one("#crop-list", OptionList)
        listed = [crops.get_option_at_index(i).id for i in range(crops.option_count)]
        moved = self._follow_crops()
        if moved or listed != [c.name for c in self.project.crops.items]:
            self._load_project()
        else:
            self._refresh()  # tags the crops screen gave a crop (counts, caption)

    def _follow_crops(self) -> bool:
        """Crops may have moved since they were captioned: the framing tags (and what they
        prune) follow each crop's content (engine.tags.follow_framing).  Hand decisions stay;
        saved only when something changed; not an undo step (nothing the user did here)."""
        if not self.project.crops.items:
            return False
        before = th.tag_state(self.project)
        tg.follow_framing(self.project)
        if th.diff(before, self.project, ""):
            self.app.save_project()
            return True
        return False

    def _load_project(self) -> None:
        project = self.project
        for which, value in (("trigger", project.trigger), ("class", project.class_name)):
            field = self.query_one(f"#{which}", Input)
            if not field.has_focus:  # never overwrite what the user is typing
                with field.prevent(Input.Changed):
                    field.value = value
        crops = self.query_one("#crop-list", OptionList)
        listed = [crops.get_option_at_index(i).id for i in range(crops.option_count)]
        crops.clear_options()
        crops.add_options([Option(self._crop_label(c), id=c.name) for c in project.crops.items])
        names = [c.name for c in project.crops.items]
        if self.crop_name not in names:
            gone = self.crop_name
            self.crop_name = self._neighbour(gone, listed, names)
            if gone is not None:
                self._moved_note = (f"crop {gone} was removed elsewhere; now on "
                                    f"{self.crop_name}" if self.crop_name else
                                    f"crop {gone} was removed elsewhere; no crops left")
                self.notify(self._moved_note, severity="warning", timeout=8)
        if self.crop_name is not None:
            with crops.prevent(OptionList.OptionHighlighted):
                crops.highlighted = names.index(self.crop_name)
        self._refresh()

    @staticmethod
    def _neighbour(gone: str | None, listed: list[str], names: list[str]) -> str | None:
        """The crop to select when ``gone`` left the list: the one that followed it (the
        one at its place), else the one before it, else the first."""
        if not names:
            return None
        if gone not in listed:
            return names[0]
        at = listed.index(gone)
        after = [n for n in listed[at + 1:] if n in names]
        before = [n for n in listed[:at] if n in names]
        if at < len(names) and names[at] not in listed:  # renamed in place
            return names[at]
        return after[0] if after else before[-1] if before else names[min(at, len(names) - 1)]

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
        checklist = self.query_one(TagChecklist)
        checklist.show_crop(crop)
        checklist.border_title = f"tags of {crop.name}" if crop is not None else "tags"
        self.query_one("#crop-list", OptionList).border_title = \
            f"crops ({len(self.project.crops.items)})"
        if self.has_class("-frequency"):
            self.query_one(FrequencyList).show_project(self.project)
        crops = self.query_one("#crop-list", OptionList)
        for i, c in enumerate(self.project.crops.items):
            if i < crops.option_count:
                crops.replace_option_prompt_at_index(i, self._crop_label(c))
        warn = tg.trigger_warnings(self.project)
        # the top row has ~30 columns left: a short flag there, the whole advice below (wraps)
        self.query_one("#trigger-warn", Static).update(Text("⚠ see below" if warn else ""))
        hint = self.query_one("#caption-hint", Static)
        bare = crop is not None and not tg.own_tags(self.project, crop)
        lines = [f"⚠ {warn[0]}"] if warn else []
        if bare:
            lines.append(f"⚠ {crop.name} has no tags beyond trigger, class and framing: "
                         f"press {CAPTION_KEY} to caption (paste tags or run the tagger)")
        hint.set_class(bool(lines), "-shown")
        hint.update(Text("\n".join(lines)))
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
        # programmatic highlights are posted under prevent(): this is the user's pick
        self._moved_note = ""
        if event.option.id != self.crop_name:
            self.crop_name = event.option.id
            self._refresh()

    def _may_act(self) -> bool:
        """Whether a tag key may act on the crop shown now.  Not when the selection moved
        without the user since (the crop was removed elsewhere), nor when the crop list's
        cursor has moved on and the tag list has not caught up yet (a burst of keys): then
        the key is refused with what the user is now looking at, and the next one acts."""
        listed = self.query_one("#crop-list", OptionList).highlighted_option
        shown = self.query_one(TagChecklist).crop_name
        if listed is not None and listed.id != self.crop_name or shown != self.crop_name:
            if listed is not None:
                self.crop_name = listed.id
            self._refresh()
            self.notify(f"now on crop {self.crop_name}: nothing changed; press the key "
                        f"again to change its tags", severity="warning")
            return False
        if self._moved_note:
            note, self._moved_note = self._moved_note, ""
            self.notify(f"{note}: nothing changed; press the key again to change its tags",
                        severity="warning", timeout=8)
            return False
        return True

    def action_focus_crops(self) -> None:
        self.query_one("#crop-list", OptionList).focus()

    @on(OptionList.OptionSelected, "#crop-list")
    def _crop_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one(FrequencyList if self.has_class("-frequency") else TagChecklist).focus()

    @on(Input.Submitted, "#trigger, #class")
    def _name_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        try:
            if event.input.id == "trigger":
                pj.check_trigger(value)
                old = self.project.trigger
                self.project.trigger = value
                if value != old:
                    self.notify(f"trigger word is now {value!r} (was {old!r}); t changes it")
            else:
                # the same check as every save, so a refused name never blocks later saves
                pj.check_class_name(value)
                old = self.project.class_name
                self.project.class_name = value
                if reg.follow_class(self.project, old):  # an edited reg prompt stays
                    self.notify(f"class is now {value!r}; the reg prompt follows: "
                                f"{reg.class_tag(value)}, ...")
        except UserError as e:
            self.notify(str(e), severity="error")
            return
        self._changed()
        focus_main(self)

    def saved_name(self, field: Input) -> str:
        """The saved value of the trigger or class field."""
        return self.project.trigger if field.id == "trigger" else self.project.class_name

    def keep_name(self, field: Input) -> bool:
        """Save an edit of the trigger or class field as enter does (Tab out of it); False
        when the value was refused (its reason is shown, the field keeps the focus)."""
        if field.value != self.saved_name(field):
            self._name_submitted(Input.Submitted(field, field.value))
        return field.value.strip() == self.saved_name(field)

    @on(Input.Blurred, "#trigger, #class")
    def _name_left(self, event: Input.Blurred) -> None:
        """Leaving the field with escape drops the edit (the saved value comes back)."""
        value = self.saved_name(event.input)
        if event.input.value != value:
            with event.input.prevent(Input.Changed):
                event.input.value = value

    # --- tag edits (each one an undoable step) ------------------------------------------

    def _record(self, label: str, change: Callable[[], object]) -> bool:
        """Run ``change`` (an edit of tags), save, and remember it as one undo step."""
        before = th.tag_state(self.project)
        try:
            change()
        except UserError as e:
            self.notify(str(e), severity="error")
            return False
        step = th.diff(before, self.project, label)
        if step:
            self.history.push(step)
            self._changed()
        else:
            self._refresh()
        return bool(step)

    def _edit(self, op: str, tag: str, everywhere: bool = False) -> list[tg.TagChange] | None:
        """Run one tag edit as an undo step; what it changed (None when nothing did)."""
        crop = None if everywhere else self.crop()
        if crop is None and not everywhere:
            self.notify("no crop selected", severity="warning")
            return None
        where = "every crop" if everywhere else crop.name
        changes: list[tg.TagChange] = []
        if self._record(f"{op} {tag} on {where}",
                        lambda: changes.extend(tg.edit_tag(self.project, op, tag, crop))):
            return changes
        return None

    def _highlighted(self) -> str | None:
        """The highlighted tag a key acts on (None, with a note saying what is needed)."""
        frequency = self.has_class("-frequency")
        if self.focused is self.query_one("#crop-list"):
            # x removes a crop on the crops screen: here it must not take off a tag the user
            # is not looking at (the tag list's cursor is dim while the crop list has focus)
            self.notify("the crop list has the focus: enter goes into the tags, then x and g "
                        "act on the highlighted tag", severity="warning")
            return None
        if not frequency and not self._may_act():
            return None
        return self._tag_of(FrequencyList if frequency else TagChecklist)

    def _tag_of(self, widget: type[TagChecklist] | type[FrequencyList]) -> str | None:
        tag = self.query_one(widget).highlighted_tag()
        crop = self.crop()
        if tag:
            return tag
        if not any(c.tags for c in self.project.crops.items):
            self.notify("no tags yet: C captions every crop, a adds a tag", severity="warning")
        elif widget is TagChecklist and crop is not None and not crop.tags:
            self.notify(f"{crop.name} has no tags: a adds one", severity="warning")
        else:
            self.notify("no tag highlighted: ↑/↓ picks one", severity="warning")
        return None

    def action_toggle_tag(self) -> None:
        if not self._may_act():
            return
        tag = self._tag_of(TagChecklist)
        if tag:
            self._edit("toggle", tag)

    def action_toggle_everywhere(self) -> None:
        tag = self._tag_of(FrequencyList)
        if not tag:
            return
        kept_somewhere = tg.frequency(self.project, kept_only=True).get(tag, 0) > 0
        self._edit("prune" if kept_somewhere else "keep", tag, everywhere=True)

    def action_apply_to_all(self) -> None:
        tag, crop = self._highlighted(), self.crop()
        if not tag or crop is None:
            return
        state = next((t for t in crop.tags if t.tag == tag), None)
        # the frequency view may show a tag this crop lacks: it is then kept everywhere
        kept = True if state is None else state.kept
        word = "kept" if kept else "pruned"
        changes: list[tg.TagChange] = []
        if self._record(f"{word} {tag} on every crop",
                        lambda: changes.extend(tg.give_state(self.project, tag, kept))):
            self.notify(notes.state_note(tag, kept, changes, len(self.project.crops.items)))

    def action_remove_tag(self) -> None:
        tag = self._highlighted()
        changes = self._edit("remove", tag, everywhere=self.has_class("-frequency")) if tag else None
        if changes:
            self.notify(notes.removed_note(tag, changes))

    def action_add_tag(self, everywhere: bool) -> None:
        if not self.project.crops.items:
            self.notify("no crops yet: make them on the crops screen (1)", severity="warning")
            return
        where = "every crop" if everywhere else f"crop {self.crop_name}"
        crop = None if everywhere else self.crop()

        def added(tags: list[str] | None) -> None:
            if not tags:
                return
            changes: list[tg.TagChange] = []
            done = self._record(f"add {', '.join(tags)} to {where}", lambda: [
                changes.extend(tg.edit_tag(self.project, "add", t, crop)) for t in tags])
            if done or notes.all_there(self.project, tags, crop):  # not refused: say what is
                pruned = any(ch.after == "pruned" for ch in changes)
                self.notify(notes.added_note(self.project, tags, changes,
                                             crop.name if crop else None),
                            timeout=10 if pruned else 5)

        self.app.push_screen(AddTagScreen(self.project, where), added)

    def action_undo(self) -> None:
        step = self.history.undo_step(self.project)
        if step is None:
            self.notify("nothing to undo on the tags screen", severity="warning")
            return
        self._changed()
        self.notify(f"undone: {step.label} (U redoes)")

    def action_redo(self) -> None:
        step = self.history.redo_step(self.project)
        if step is None:
            self.notify("nothing to redo on the tags screen", severity="warning")
            return
        self._changed()
        self.notify(f"redone: {step.label}")

    # --- the caption step ----------------------------------------------------------------

    def action_caption(self) -> None:
        if not self.project.crops.items:
            self.notify("no crops yet: make them on the crops screen (1)", severity="warning")
            return
        if self.captioning:
            self.notify("the tagger is still running", severity="warning")
            return
        self.app.push_screen(CaptionScreen(self.project), self._caption_asked)

    def _caption_asked(self, request: CaptionRequest | None) -> None:
        if request is None:
            return
        if not request.tagger_model:
            self._apply_caption(request, None)
            return
        self.captioning = True
        self.notify("running the WD14 tagger on every crop…")
        snapshot = copy.deepcopy(self.project)  # the worker reads its own copy
        snapshot.tags.tagger_model = request.tagger_model
        self.run_worker(lambda: self._run_tagger(snapshot, request), thread=True,
                        group="tagger", exclusive=True, exit_on_error=False)

    def _run_tagger(self, snapshot: pj.Project, request: CaptionRequest) -> None:
        """Thread worker: the tagger reads every crop's pixels; the result is applied on the
        event loop."""
        try:
            from engine import tagger

            results = tagger.tag_crops_with_tagger(snapshot)
        except UserError as e:
            self.app.call_from_thread(self._tagger_failed, str(e))
            return
        except Exception as e:  # a broken model file: say so, keep the app alive
            self.app.call_from_thread(self._tagger_failed,
                                      f"the tagger failed: {e.__class__.__name__}: {e}")
            return
        self.app.call_from_thread(self._apply_caption, request, results)

    def _tagger_failed(self, message: str) -> None:
        self.captioning = False
        self.notify(message, title="not captioned", severity="error", timeout=10)

    def _apply_caption(self, request: CaptionRequest,
                       results: dict[str, list[str]] | None) -> None:
        self.captioning = False

        def caption() -> None:
            if request.tagger_model:
                self.project.tags.tagger_model = request.tagger_model
            tg.tag_crops(self.project, image_tags=request.image_tags, tagger_results=results)

        self._record("caption every crop", caption)
        pruned = {t.tag: t.reason for c in self.project.crops.items for t in c.tags
                  if not t.kept and t.reason.startswith("trait")}
        n = len(self.project.crops.items)
        msg = f"captioned {n} crops"
        if pruned:
            shown = ", ".join(f"{t} ({r.removeprefix('trait: ')})" for t, r in
                              list(pruned.items())[:4])
            msg += f"; {len(pruned)} traits pruned: {shown}"
        self.notify(msg + " (u undoes)", timeout=8)

    # --- view ----------------------------------------------------------------------------

    def action_toggle_frequency(self) -> None:
        self.toggle_class("-frequency")
        if self.has_class("-frequency"):
            freq = self.query_one(FrequencyList)
            freq.show_project(self.project)
            freq.focus()
        else:
            self.query_one(TagChecklist).focus()

    def action_tab_focus(self, delta: int) -> None:
        """Tab moves between the crop list and the tag list; the trigger and class fields are
        entered only with t / c (a Tab into them, then a tag typed, renamed the trigger)."""
        if self.focused is not None and self.query_one(NameFields) in self.focused.ancestors:
            super().action_tab_focus(delta)  # inside the fields: their own Tab rule
            return
        tags = self.query_one(FrequencyList if self.has_class("-frequency") else TagChecklist)
        order = [self.query_one("#crop-list", OptionList), tags]
        at = order.index(self.focused) if self.focused in order else -1
        order[(at + delta) % len(order)].focus()

    def action_edit(self, which: str) -> None:
        self.set_focus(self.query_one(f"#{which}", Input))  # at once (see tui.keys)

    def action_toggle_underscores(self) -> None:
        self.project.tags.underscores = not self.project.tags.underscores
        self._changed()
        how = "underscores (long_hair)" if self.project.tags.underscores else "spaces (long hair)"
        self.notify(f"captions now write tags with {how}; _ switches back")
