"""``robo-meta bench KIND``: speed benchmarks, one module ``robo_meta.bench.<kind>`` per kind.

A kind module has ``add_arguments(parser)`` and ``run(args) -> int``. It is imported when the
parser is built (argparse needs its arguments), so it must be light at import time: torch and
other heavy imports go inside its functions. To add a kind, write the module and name it in
``KINDS``.
"""

from __future__ import annotations

import argparse
import importlib

KINDS = ("sim", "eval", "train", "ray")
# kinds whose module is named otherwise (``eval`` would shadow the builtin's name, ``ray``
# the package's)
MODULES = {"eval": "evaluate", "ray": "scaleout"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure speed against references (see docs/benchmarks.md)",
        description="Speed benchmarks; each kind prints a table of measured numbers.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind in KINDS:
        module = importlib.import_module(f"robo_meta.bench.{MODULES.get(kind, kind)}")
        summary = (module.__doc__ or kind).strip().splitlines()[0]
        sub = kinds.add_parser(kind, help=summary, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
