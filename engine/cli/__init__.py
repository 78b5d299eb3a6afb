"""The ``onelora`` command: one subcommand per workflow step, each a thin adapter over engine
functions. Exit codes: 0 success, 2 a user error (one line, no traceback), 1 an internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any, Callable

from engine.errors import UserError

# Each module exposes register(subparsers); handlers import heavy modules (torch) lazily.
COMMAND_MODULES = ("project_cmds", "prep_cmds", "tag_cmds", "train_cmds", "sample_cmds",
                   "model_cmds", "grow_cmds")


def emit(args: argparse.Namespace, payload: dict, text: str | Callable[[], str]) -> None:
    """Print one JSON object with --json, else the human-readable text."""
    if getattr(args, "json", False):
        print(json.dumps(payload, default=str))
    else:
        print(text() if callable(text) else text)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line mistake message (no usage block), still exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="onelora",
        description="One drawing of a character in, one SD1.x LoRA out. "
                    "Run 'onelora demo' for a tour, 'onelora open DIR' for the TUI.")
    from engine import __version__
    parser.add_argument("--version", action="version", version=f"onelora {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"engine.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from engine import offline_env

    offline_env()
    from engine import project

    project.warning_sink = _print_warning  # unknown keys in project.toml, said once
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result: Any = args.func(args)
        return int(result or 0)
    except UserError as e:
        return _user_error(args, str(e))
    except KeyboardInterrupt:
        print("onelora: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        from engine.files import is_no_space, no_space_error

        if not is_no_space(e):
            return _internal_error()
        # a write that did not go through engine.files (a copy, a mkdir): still one line
        if not e.filename:
            return _user_error(args, "no space left on the disk while writing; free space "
                                     "and retry")
        return _user_error(args, str(no_space_error(e.filename, str(e.filename))))
    except Exception:  # an internal error: keep the traceback for the bug report
        return _internal_error()


def _user_error(args: argparse.Namespace, message: str) -> int:
    if getattr(args, "json", False):  # scripts reading stdout still get one object
        print(json.dumps({"error": message}))
    print(f"onelora: {message}", file=sys.stderr)
    return 2


def _internal_error() -> int:
    traceback.print_exc()
    print("onelora: internal error (the traceback above is a bug; please report it)",
          file=sys.stderr)
    return 1


def _print_warning(line: str) -> None:
    print(f"onelora: warning: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
