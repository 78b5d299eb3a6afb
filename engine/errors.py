"""Errors a user can cause. The CLI prints them as one line and exits 2; the TUI shows them."""


class UserError(Exception):
    """A problem the user can fix: the message names the file or setting and what to do."""
