"""The tag checklist of one crop and the all-crops frequency list (taggui's "All Tags").

Both are OptionLists whose option ids are tag names; section headers are disabled options.
The checklist groups a crop's tags as engine.tags.groups does: kept tags, pruned tags (each
with its reason, e.g. "trait: hair colour") and the crop's framing tags.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets.option_list import Option

from engine import project as pj
from engine import tags as tg
from tui.widgets.paging import SafePaging

HEADERS = {"kept": ("kept", "in the caption · space prunes"),
           "pruned": ("pruned", "left to the trigger · space keeps"),
           "crop": ("crop framing", "")}
"""Section name and what it means; the count goes right after the name, so a list narrowed by
its scrollbar at 80 columns cuts the explanation, never the number."""


def _header(name: str, count: int, what: str = "") -> Option:
    return Option(Text(f"── {name} ({count})" + (f" — {what}" if what else ""), style="bold"),
                  disabled=True)


BACK_TO_CROPS = Binding("left", "screen.focus_crops", "Crop list", show=False,
                        id="tags-to-crops")
"""← in a tag list goes back to the crop list (→ / enter there comes back)."""


class CropList(SafePaging):
    """The crops, one per line; the highlighted one is the crop whose tags are shown.  Enter or
    → goes into its tags (the screen focuses the tag list on OptionSelected)."""

    BINDINGS = [Binding("enter", "select", "Edit tags", tooltip="go into this crop's tags",
                        id="tags-crop-enter"),
                Binding("right", "select", "Edit tags", show=False, id="tags-crop-right")]


class TagChecklist(SafePaging):
    """A crop's tags: ``[x]`` kept, ``[ ]`` pruned; space toggles (handled by the screen).

    ``crop_name`` is the crop whose tags it shows (what a tag key acts on)."""

    # "space Toggle", not "Keep/prune": at 80 columns the footer holds the five screen keys,
    # Help, the palette key, C Caption and 13 more columns (tests/test_tui_tags_navigation.py)
    BINDINGS = [Binding("space", "screen.toggle_tag", "Toggle", tooltip="keep the tag in the "
                        "caption or prune it", id="tags-toggle"), BACK_TO_CROPS]
    crop_name: str | None = None

    def show_crop(self, crop: pj.Crop | None) -> None:
        """Rebuild the options, keeping the highlighted tag where it was."""
        current = self.highlighted_tag()
        old_index = self.highlighted
        self.crop_name = crop.name if crop is not None else None
        self.clear_options()
        if crop is None or not crop.tags:
            self.add_option(Option("no tags yet — C captions every crop, a adds a tag",
                                   disabled=True))
            return
        options: list[Option] = []
        for key, items in tg.groups(crop).items():
            if not items:
                continue
            options.append(_header(HEADERS[key][0], len(items), HEADERS[key][1]))
            for t in items:
                line = Text("[x] " if t.kept else "[ ] ", style="bold" if t.kept else "dim")
                line.append(t.tag, style="" if t.kept else "strike dim")
                if t.reason:
                    line.append(f"  {t.reason}", style="italic dim")
                if t.source == "tagger":
                    line.append("  (tagger)", style="dim")
                options.append(Option(line, id=t.tag))
        self.add_options(options)
        ids = [o.id for o in options]
        if current in ids:
            self.highlighted = ids.index(current)
        elif old_index is not None:
            self.highlighted = min(old_index, len(options) - 1)
            while self.highlighted > 0 and options[self.highlighted].disabled:
                self.highlighted -= 1
        if self.highlighted is not None and options[self.highlighted].disabled:
            self.action_cursor_down()

    def highlighted_tag(self) -> str | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id


class FrequencyList(SafePaging):
    """Every tag of the project with how many crops carry it and keep it."""

    BINDINGS = [Binding("space", "screen.toggle_everywhere", "Toggle",
                        tooltip="keep or prune the tag on all crops", id="tags-freq-toggle"),
                BACK_TO_CROPS]

    def show_project(self, project: pj.Project) -> None:
        """Rebuild the rows, keeping the highlighted tag (else the row where it was); a tag row
        is always highlighted when there is one (the header row is not a tag)."""
        current = self.highlighted_tag()
        old_index = self.highlighted
        self.clear_options()
        total = tg.frequency(project, kept_only=False)
        kept = tg.frequency(project, kept_only=True)
        n = len(project.crops.items)
        options: list[Option] = [_header("all tags", len(total), f"kept/present on {n} crops")]
        for tag, count in total.items():
            k = kept.get(tag, 0)
            mark = "[x]" if k == count else "[ ]" if k == 0 else "[~]"
            line = Text(f"{mark} {k:>2}/{count:<2} ", style="bold" if k else "dim")
            line.append(tag, style="" if k else "strike dim")
            options.append(Option(line, id=tag))
        self.add_options(options)
        ids = [o.id for o in options]
        if current is not None and current in ids:
            self.highlighted = ids.index(current)
        elif len(ids) > 1:  # row 0 is the header (id None, disabled)
            self.highlighted = min(max(old_index or 1, 1), len(ids) - 1)

    def highlighted_tag(self) -> str | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id


class TagSuggester(Suggester):
    """Completes a tag from the project's tags, then onelora's list of common Danbooru tags."""

    def __init__(self, project: pj.Project) -> None:
        super().__init__(use_cache=False, case_sensitive=False)
        self.project = project

    async def get_suggestion(self, value: str) -> str | None:
        if not value.strip():
            return None
        found = tg.complete(value, self.project, limit=1)
        return found[0] if found else None
