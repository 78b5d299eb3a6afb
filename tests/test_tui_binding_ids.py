"""Every key onelora binds has an id (a user keymap can rebind it; the palette and help name it),
and ids are unique within each screen or widget."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.binding import Binding

import tui


def onelora_classes():
    for info in pkgutil.walk_packages(tui.__path__, "tui."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == info.name and "BINDINGS" in cls.__dict__:
                yield cls


def test_every_binding_of_every_screen_dialog_and_widget_has_an_id():
    missing, seen_classes = [], 0
    for cls in onelora_classes():
        seen_classes += 1
        ids = [b.id for b in cls.__dict__["BINDINGS"] if isinstance(b, Binding)]
        missing += [f"{cls.__name__}: {b.key} → {b.action}" for b in cls.__dict__["BINDINGS"]
                    if isinstance(b, Binding) and not b.id]
        dup = {i for i in ids if i and ids.count(i) > 1}
        assert not dup, (cls.__name__, dup)
    assert seen_classes > 10  # the walk found the screens and dialogs
    assert not missing, missing
