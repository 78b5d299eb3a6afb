"""The torch-free engine API the TUI is given (harlequin-style injection).

The App receives an :class:`Engine` in its constructor; tests pass a subclass that fakes
runs (writes scripted events) so screens can be tested without torch.  Everything here
imports only light modules; heavy work always happens in a separate run process.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine import project as pj
from engine import runs
from engine import store


class Engine:
    """Project storage and run management, as the TUI sees them."""

    def load(self, root: str | os.PathLike) -> pj.Project:
        """Read project.toml through the folder's store (the base later saves merge on)."""
        return store.load(root)

    def save(self, project: pj.Project) -> Path:
        """Save through the folder's store: changes another program made meanwhile are
        merged, not overwritten (engine.store)."""
        return store.save(project)

    def start_run(self, project: pj.Project, kind: str = "train", force: bool = False,
                  **run: object) -> Path:
        """Start a detached run process (train, sample or reg); returns its directory.

        Raises :class:`engine.runs.JobRunning` (a UserError with ``.run_id`` and ``.kind``)
        when a job of this kind already runs on the project; ask the user, then call again
        with ``force=True`` to run both.  ``force`` is not saved with the run."""
        store.save(project)  # the run's config is frozen from the file as the TUI shows it
        return runs.start_run(project, kind, detach=True, force=force, **run)

    def resume_run(self, project: pj.Project, run_id: str, force: bool = False) -> Path:
        return runs.start_run(project, "train", detach=True, resume=run_id, force=force)

    def list_runs(self, root: str | os.PathLike) -> list[runs.RunInfo]:
        return runs.list_runs(root)

    def send(self, run_dir: str | os.PathLike, command: str) -> None:
        runs.send_command(run_dir, command)
