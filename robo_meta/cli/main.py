"""``robo-meta``: one console script, a subcommand per module in ``robo_meta.cli``.

Every subcommand module has ``add_parser(subparsers)`` and ``run(args) -> int``; heavy imports
(torch) happen inside ``run`` so ``robo-meta families`` starts fast. A subcommand that parses
its own flags (``train``: they depend on ``--algo``) sets ``takes_extra_args`` and finds them
in ``args.extra_args``. A ``RoboMetaError`` (bad user input) becomes one line on stderr and
exit status 2, never a traceback; so does a bad flag (``OneLineParser``: no usage block).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from robo_meta.argtypes import OneLineParser, UsageError
from robo_meta.envs.errors import RoboMetaError

COMMANDS = ("quickstart", "families", "train", "evaluate", "compare", "demo", "policies", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="robo-meta",
        description="Meta-RL on randomized-dynamics MuJoCo task families.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"robo_meta.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "takes_extra_args", False):
            raise UsageError(f"robo-meta {args.command}",
                             f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    args.extra_args = extra
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a reader gone away shows here, inside the handlers, not at exit
        return code
    except RoboMetaError as exc:
        print(f"robo-meta {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"robo-meta {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``robo-meta families -v | head``): end quietly, as cat does;
        # stdout is pointed at /dev/null so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
