"""Helpers for tests that drive the ``robo-meta`` command line in-process."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from robo_meta.cli.main import main

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def exit_status(argv: list) -> int:
    """Exit status of ``robo-meta ARGV``, whether main returns it or argparse exits."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


def load_script(name: str) -> ModuleType:
    """``scripts/NAME.py`` imported as a module (its ``main`` not run)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
