"""Grow decisions and reg prunes made at the same moment in the TUI and in another shell
(`onelora grow --keep`, `onelora reg --remove`): both stay.  Lists of decisions were merged as
one value, so the program that saved last kept only its own (a notice said which was dropped):
the other side's keep was gone from project.toml."""

from __future__ import annotations

from engine import candidates as cd
from engine import project as pj
from engine.api import Engine
from tui.app import OneloraApp
from tui_journey import SIZE, on_disk

from test_tui_grow_screen import planted


async def test_keep_in_the_tui_while_the_cli_keeps_another_candidate_keeps_both(project):
    planted(project)
    app = OneloraApp(project.root, start_mode="grow", engine=Engine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        cli_copy = pj.load(project.root)  # `onelora grow DIR --keep 3` has read the file...
        await pilot.press("k")  # ...the TUI keeps candidate 1 and saves...
        await pilot.pause()
        app.flush_project()
        assert on_disk(project.root)["grow"]["kept"] == [1]
        cd.decide(cli_copy, [3], "kept")  # ...then the CLI saves its keep
        assert sorted(on_disk(project.root)["grow"]["kept"]) == [1, 3]
        await pilot.pause(1.3)  # the TUI takes the CLI's keep in; its next save keeps both
        await pilot.press("d")  # discard candidate 2
        await pilot.pause()
        await pilot.press("q")
    grow = on_disk(project.root)["grow"]
    assert sorted(grow["kept"]) == [1, 3] and grow["discarded"] == [2]


def test_one_candidate_kept_here_and_discarded_there_ends_in_one_list(project):
    planted(project)
    a, b = pj.load(project.root), pj.load(project.root)
    cd.decide(a, [2], "discarded")
    cd.decide(b, [2], "kept")
    grow = on_disk(project.root)["grow"]
    assert grow["kept"] == [2] and grow["discarded"] == []
