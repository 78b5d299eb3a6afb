"""Compare rounds on the samples screen (Pilot, 80×24, no torch): round one's picked epoch and
round two's epochs in one grid, the same prompt and seed drawn by both LoRAs."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from engine import epochs as ep
from engine import project as pj
from tui.commands import binding_commands
from tui.screens.samples import SamplesScreen
from test_tui_samples_grid import sampled_run
from tui.widgets.image_view import ImageView
from tui_host import ScreenHost

PROMPT, WEIGHTS, SEEDS = "zq_tester, girl", (0.6, 1.0), (1, 2)


def round_run(project, rnd: int, epochs=(1, 2, 3)):
    """A training run whose sample colours encode (round, epoch, weight, seed)."""
    return sampled_run(project, epochs, lambda e, wt, s: (rnd * 100 + e * 10, int(wt * 200), s * 100))


def shown_colour(app) -> tuple[int, int, int]:
    return app.screen.query_one(ImageView).image.getpixel((16, 16))


async def test_compare_rounds_puts_round_ones_picked_epoch_above_round_twos(project):
    first = round_run(project, 1)
    ep.pick_epoch(project, first.name, 2)                      # round one: epoch 2 picked
    second = round_run(project, 2, epochs=(1, 2))              # round two, retrained
    app = ScreenHost(pj.load(project.root), SamplesScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.run_dir == first                         # the picked run opens first
        await pilot.press("r")                                 # round two's run
        await pilot.pause()
        assert screen.run_dir == second and screen.grid.earlier is None
        await pilot.press("c")
        await pilot.pause()
        grid = screen.grid
        assert grid.earlier is not None and grid.earlier.run_dir == first and grid.earlier.epoch == 2
        assert screen.query_one(DataTable).row_count == 1 + 2
        for seed in SEEDS:                                     # both rounds, same prompt and seed
            for wt in WEIGHTS:
                old = grid.earlier.cell(wt, PROMPT, seed)
                new = [grid.cell(e, wt, 0, seed) for e in (1, 2)]
                assert old is not None and old.epoch == 2 and grid.earlier.path(old).is_file()
                assert all(r is not None and (second / r.file).is_file() for r in new)
                assert grid.earlier.path(old).is_relative_to(first)
        assert shown_colour(app) == (120, 120, 100)            # ◆ row: round 1, epoch 2, w 0.6, seed 1
        await pilot.press("s")
        await pilot.pause()
        assert shown_colour(app) == (120, 120, 200)            # same row, seed 2
        await pilot.press("down")
        await pilot.pause()
        assert shown_colour(app) == (210, 120, 200)            # round 2, epoch 1, same seed
        assert screen.cursor_cell() == (1, 0.6)
        await pilot.press("up", "enter")                       # the ◆ row is picked already
        await pilot.pause()
        assert (pj.load(project.root).samples.picked_run,
                pj.load(project.root).samples.picked_epoch) == (first.name, 2)
        await pilot.press("c")
        await pilot.pause()
        assert screen.grid.earlier is None and screen.query_one(DataTable).row_count == 2


async def test_compare_without_a_pick_says_why_and_keeps_the_grid(project):
    round_run(project, 1)
    app = ScreenHost(project, SamplesScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert screen.grid.earlier is None and screen.query_one(DataTable).row_count == 3
        assert "no epoch picked yet" in str(screen.query_one("#samples-head", Static).render())
        titles = [t for t, _, _ in binding_commands(screen)]
        assert "samples: compare rounds" in titles
