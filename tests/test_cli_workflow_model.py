"""CLI workflow, `train --model` with a wrong file (found by the CLI QA pass): the message names
the file once."""

from __future__ import annotations

import pytest

from engine.errors import UserError


def test_model_of_wrong_type_names_the_file_once(tmp_path):
    from engine import models

    bad = tmp_path / "drawing.png"
    bad.write_bytes(b"not a model")
    with pytest.raises(UserError) as e:
        models.load_base(str(bad))
    assert str(e.value).count(str(bad)) == 1, str(e.value)
