"""What the terminal shows: the composed screen as rows of text, for tests that check that
essential words fit at 80×24 (a widget's own text can be whole while the screen cuts it)."""

from __future__ import annotations


def screen_lines(app) -> list[str]:
    """Each row of the current screen as the terminal would show it (the compositor's frame:
    widgets clipped by their containers, scrollbars and borders drawn)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def rows_with(app, needle: str) -> list[str]:
    """The screen rows that contain ``needle``."""
    return [row for row in screen_lines(app) if needle in row]


def joined(app) -> str:
    """The screen's rows joined with spaces with their edges stripped (a wrapped sentence reads
    whole), borders and scrollbar glyphs removed."""
    import re
    rows = [re.sub(r"[│╭╮╰╯─▊▎▔▁▂▃▄▅▆▇█▌▐▏▕]", " ", row).strip() for row in screen_lines(app)]
    return re.sub(r"\s+", " ", " ".join(rows))
