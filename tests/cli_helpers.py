"""Helpers for tests that drive the ``robo-meta`` command line in-process."""

from __future__ import annotations

from robo_meta.cli.main import main


def exit_status(argv: list) -> int:
    """Exit status of ``robo-meta ARGV``, whether main returns it or argparse exits."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code
