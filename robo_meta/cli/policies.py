"""``robo-meta policies`` (not yet implemented)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("policies", help="(not yet implemented)")
    parser.set_defaults(run=run)


def run(args) -> int:
    raise SystemExit("robo-meta policies: not implemented yet")
