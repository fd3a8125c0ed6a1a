"""``robo-meta demo`` (not yet implemented)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="(not yet implemented)")
    parser.set_defaults(run=run)


def run(args) -> int:
    raise SystemExit("robo-meta demo: not implemented yet")
