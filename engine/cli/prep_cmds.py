"""Commands for this workflow step (filled in by its issue)."""


def register(sub) -> None:
    pass
