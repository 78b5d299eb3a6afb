"""CLI workflow, `runs` (found by the CLI QA pass): a folder that is no project is a user
mistake (exit 2, one line), not an empty run list."""

from __future__ import annotations

from engine.cli import main


def test_runs_of_a_folder_without_a_project_says_so(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "project.toml" in err[0], err


def test_runs_of_a_new_project_is_an_empty_list(project, capsys):
    import json

    assert main(["runs", str(project.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []
