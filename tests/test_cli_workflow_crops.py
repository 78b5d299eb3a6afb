"""CLI workflow, `crops` with bad boxes (found by the CLI QA pass): every one is exit 2 and one
line naming the option, never a traceback."""

from __future__ import annotations

import pytest

from engine.cli import main


@pytest.mark.parametrize("arg", ["--set=x=inf,0,10,10", "--set=x=0,0,1e400,10", "--face=-inf,0,5,5",
                                 "--figure=0,0,nan,5"])
def test_crops_non_finite_box_is_a_clear_mistake(project, capsys, arg):
    assert main(["prep", str(project.root), "--upscale", "0"]) == 0
    capsys.readouterr()
    assert main(["crops", str(project.root), arg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "x,y,w,h" in err[0] and "Traceback" not in err[0], err
