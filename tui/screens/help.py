"""Help: the keys of the screen under it (its own bindings first, then the app's).

The list scrolls with ↑/↓, PageUp/PageDown (space too), Home/End (ctrl+Home/ctrl+End too), and
each of them jumps at once: Textual's own scroll keys animate, and over SSH on a loaded server
End was seen to stop short of the last line while the animation ran."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui.widgets.dialog import Dialog


def own_actions(node: object) -> set[str]:
    """Actions of the bindings onelora's own classes declare on ``node`` (not those a
    Textual base class brings: cursor keys of a list, an input's editing keys, copy...)."""
    out: set[str] = set()
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("tui."):
            continue
        for b in cls.__dict__.get("BINDINGS", []):
            if isinstance(b, Binding):
                out.add(b.action)
            elif isinstance(b, tuple) and len(b) >= 2:
                out.add(b[1])
    return out


def describe_bindings(screen: Screen) -> list[tuple[str, str, str]]:
    """``(keys, description, tooltip)`` for every active binding of ``screen`` that onelora
    declares, the screen's own first, then those of the focused widget, then the app's;
    several keys for one action are joined ("↑ k")."""
    app = screen.app
    ours: dict[int, set[str]] = {}
    rows: dict[tuple[int, str], list] = {}
    listing = getattr(app, "listing_keys", None)
    if listing is not None:
        app.listing_keys = True  # the mode on screen too (the footer leaves it out)
    try:
        active_bindings = screen.active_bindings
    finally:
        if listing is not None:
            app.listing_keys = listing
    for key, active in active_bindings.items():
        binding: Binding = active.binding
        node_ours = ours.setdefault(id(active.node), own_actions(active.node))
        if not binding.description or binding.system or binding.action not in node_ours:
            continue
        # the screen's own keys first, then its focused widget's (cursor keys...), then the app's
        own = 0 if active.node is screen else 1 if active.node in screen.walk_children() else 2
        slot = rows.setdefault((own, binding.action), [[], binding.description, binding.tooltip])
        shown = app.get_key_display(binding)
        if shown not in slot[0]:
            slot[0].append(shown)
    ordered = sorted(rows.items(), key=lambda kv: kv[0][0])
    return [(" ".join(keys), desc, tip or "") for _, (keys, desc, tip) in ordered]


class HelpScroll(VerticalScroll):
    """The help's scrolling list: the reading keys a user expects, without animation."""

    BINDINGS = [
        Binding("up", "go('up')", "Scroll up", show=False, id="help-up"),
        Binding("down", "go('down')", "Scroll down", show=False, id="help-down"),
        Binding("pageup", "go('pageup')", "Page up", show=False, id="help-page-up"),
        Binding("pagedown,space", "go('pagedown')", "Page down", show=False,
                id="help-page-down"),
        Binding("home,ctrl+home", "go('home')", "Top", show=False, id="help-top"),
        Binding("end,ctrl+end", "go('end')", "Bottom", show=False, id="help-bottom"),
    ]

    def action_go(self, where: str) -> None:
        if where == "up":
            self.scroll_relative(y=-1, animate=False)
        elif where == "down":
            self.scroll_relative(y=1, animate=False)
        elif where == "pageup":
            self.scroll_page_up(animate=False)
        elif where == "pagedown":
            self.scroll_page_down(animate=False)
        elif where == "home":
            self.scroll_home(animate=False, immediate=True)
        else:
            self.scroll_end(animate=False, immediate=True)


def _mode_keys() -> list[Binding]:
    """The digit keys of the modes, here too: a dialog stops the app's own (non-priority)
    bindings, so without these a mode key did nothing until escape closed the help.  Same ids
    as the app's, so a keymap that moves a mode key moves it here as well."""
    from tui.app import MODE_TABLE

    return [Binding(digit, f"app.mode('{mode}')", "", show=False, id=f"mode-{mode}")
            for mode, _, _, _, _, digit, _ in MODE_TABLE]


class HelpScreen(Dialog[None]):
    """Lists the keys of the screen it was opened on. Any of esc, q, ? closes it; a mode key
    (1–6, F1–F6) closes it and shows that mode."""

    CLOSES_ON_MODE_KEY = True
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss_help", "Close help", id="help-close"),
        *_mode_keys(),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self._rows = describe_bindings(screen)
        self._title = getattr(screen, "HELP_TITLE", None) or type(screen).__name__
        self._intro = getattr(screen, "HELP_TEXT", "") or getattr(screen, "HELP", "") or ""

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for keys, desc, tip in self._rows:
            table.add_row(keys, Text(desc) + (Text(f"  {tip}", style="dim") if tip else Text()))
        with Vertical(id="help-box"):
            yield Static(f"Keys — {self._title}", id="help-title")
            with HelpScroll(id="help-table"):
                if self._intro:
                    yield Static(self._intro, id="help-intro")
                yield Static(table)
            yield Static("↑↓ pgup pgdn home end scroll · esc closes · ctrl+p palette",
                         id="help-hint")

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Give the scrolling part what is left of the box (at most 90% of the screen) after
        its border, title and hint line, so the hint is never cut off on a small terminal."""
        room = int(self.size.height * 0.9) - 4
        self.query_one("#help-table").styles.max_height = max(3, room)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
