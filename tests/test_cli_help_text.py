"""`onelora --help` and `onelora SUB --help` as a user reads them: the internal run-worker
command is not listed (argparse printed it as `run-worker  ==SUPPRESS==`), and every positional
argument of every command says what it is."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from engine.cli import build_parser, main


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    return out.getvalue()


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_onelora_help_lists_the_commands_without_the_internal_worker():
    text = _help(["--help"])
    assert "SUPPRESS" not in text
    assert "run-worker" not in text
    for name in ("new", "open", "train", "grow"):
        assert f"    {name} " in text


def test_every_positional_of_every_command_has_a_help_line():
    commands = _commands()
    assert "run-worker" in commands  # still there for start_run, only not listed
    missing = []
    for name, parser in commands.items():
        text = _help([name, "--help"])
        assert "SUPPRESS" not in text
        for action in parser._actions:
            if action.option_strings:
                continue  # an option, not a positional
            if not (action.help or "").strip():
                missing.append(f"{name} {action.dest}")
            elif name != "run-worker":
                shown = action.metavar or action.dest
                listed = text.split("positional arguments:", 1)[1].splitlines()
                line = next(ln for ln in listed if ln.strip().split(" ")[0] == shown)
                assert line.strip() != shown, f"{name} --help shows {shown} without help"
    assert missing == []
