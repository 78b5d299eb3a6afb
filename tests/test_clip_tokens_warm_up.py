"""The CLIP BPE table loads in a background thread at TUI start (issue 12: the first token count
loaded it on the event loop, 1.6 s); a count made meanwhile waits for that one load."""

from __future__ import annotations

import threading

from engine import clip_tokens as ct


def test_warm_up_loads_the_table_once_off_the_calling_thread(monkeypatch):
    loads: list[str] = []
    release = threading.Event()
    real = ct._load_ranks

    def slow_load():
        loads.append(threading.current_thread().name)
        release.wait(10)
        return real()

    monkeypatch.setattr(ct, "_load_ranks", slow_load)
    ct.merge_ranks.cache_clear()
    try:
        thread = ct.warm_up()
        counted: list[int] = []
        caller = threading.Thread(target=lambda: counted.append(ct.count("a photo of a cat")))
        caller.start()
        caller.join(0.3)
        assert caller.is_alive() and not counted      # waits for the load under way...
        release.set()
        thread.join(10)
        caller.join(10)
        assert counted == [5] and loads == ["onelora-clip-bpe"]  # ...which ran once, in the background
    finally:
        ct.merge_ranks.cache_clear()


async def test_the_tui_starts_the_warm_up_at_mount(project, monkeypatch):
    from tui.app import OneloraApp

    started: list[bool] = []
    monkeypatch.setattr(ct, "warm_up", lambda: started.append(True))
    app = OneloraApp(project.root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    assert started == [True]
