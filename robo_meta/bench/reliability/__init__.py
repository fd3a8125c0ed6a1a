"""Reliability probe: bad input at every boundary of robo_meta, each case classified.

``python scripts/probe_reliability.py --root DIR`` (``main``) runs a table of cases against
the robo_meta source tree in ``DIR`` (this checkout, or a git worktree of an older commit: see
docs/reliability.md) and prints how each was handled. Every case runs the target's code in a
fresh subprocess (``PYTHONPATH=DIR``, a scratch working directory, an address-space limit, a
timeout): the CLI as a user types it, or a short library script for the actions. Nothing from
the target is imported into this process, so old and new trees are probed by the same table.

| category | what the cases feed |
|---|---|
| CLI flags | every subcommand's numeric flags (NaN, inf, negative, huge), unknown flags, bad |
|  | names, unwritable ``--out`` (/proc, an existing file, a read-only directory) |
| family specs | a built-in spec mutated: keys missing, unknown, misspelt; NaN, inverted and |
|  | overlapping ranges; huge frame_skip, horizon and splits; selectors naming nothing; |
|  | malformed TOML; a built-in's name on other content; a user spec trained end to end |
| tasks files | malformed JSON, wrong family, out-of-range, NaN, huge and mistyped values |
| checkpoints | flipped bytes, NaN weights, truncated or missing state.pt, edited config.json |
|  | (algorithm, sizes, kwargs), a pickled global, a rejected ``--resume`` |
| SB3 zips | a cloudpickled reducer that would create a marker file (data entries, policy.pth), |
|  | NaN weights, truncated and foreign files |
| actions | ``make``/``make_vec`` step with wrong shapes and dtypes, lists, ints, out-of-bound |
|  | values and NaN |
| runs | kill -9 at random moments then ``--resume``; two trainings, or two resumes, on one |
|  | ``--out``; ``families -v`` into a closed pipe; a new run on an existing run directory |

Outcomes, checked in this order:

| kind | meaning |
|---|---|
| code execution | the case's marker file exists: a file's payload ran |
| hang / runaway | no end within the case's timeout, or memory past the limit |
| traceback | a Python traceback on stderr (or, for the library, an exception that is not |
|  | ``RoboMetaError``) |
| data loss / torn run dir | a run directory changed by a refused command, rows duplicated or |
|  | out of order in metrics.csv, temporaries left, a file overwritten |
| silent wrong result | exit 0 with a meaningless number: NaN weights scored, a misread spec's |
|  | returns, another simulation's actions |
| accepted invalid input | exit 0 on input that should have been refused, no wrong number seen |
| unclear error | refused, but not as exit 2 with exactly one stderr line (a usage block, a |
|  | warning before the error, exit 1) |
| refused valid input | a control case (valid input) refused |
| clean | refused with exit 2 and one stderr line (or ``RoboMetaError`` with one line), or, |
|  | for valid input, the documented result |

Cases a tree cannot take (a flag or split it does not have) are ``n/a`` for it, with the reason.

The package, one module per part (the case table keeps the order of this list):

| module | holds |
|---|---|
| ``core`` | the target tree, a case's process, ``Case``, ``Outcome`` and the verdicts, and |
|  | the inputs and checks several categories share |
| ``cli_flags``, ``specs``, ``tasks_files``, ``checkpoints``, ``sb3_zips``, ``actions``, |
| ``runs`` | the cases of one category each, with the inputs and mutations only they use |
| ``runner`` | ``all_cases`` (every category's cases, in order), ``run_case``, ``probe`` |
| ``command`` | the totals, the JSON and Markdown tables, ``main`` (the script's command line) |

This module re-exports what ``scripts/probe_reliability.py`` and the tests import.
"""

from robo_meta.bench.reliability.actions import ACTION_CASES, ACTION_SCRIPT, library_verdict
from robo_meta.bench.reliability.command import main, markdown, print_totals, save, totals
from robo_meta.bench.reliability.core import (
    ACCEPTED,
    CATEGORIES,
    CLEAN,
    CODE,
    HANG,
    KINDS,
    NA,
    REFUSED,
    SILENT,
    TORN,
    TRACE,
    UNCLEAR,
    Case,
    FixtureError,
    NotApplicable,
    Outcome,
    Proc,
    Target,
    verdict,
)
from robo_meta.bench.reliability.runner import all_cases, probe, run_case
from robo_meta.bench.reliability.runs import metrics_problems

__all__ = ["ACCEPTED", "ACTION_CASES", "ACTION_SCRIPT", "CATEGORIES", "CLEAN", "CODE", "HANG",
           "KINDS", "NA", "REFUSED", "SILENT", "TORN", "TRACE", "UNCLEAR", "Case",
           "FixtureError", "NotApplicable", "Outcome", "Proc", "Target", "all_cases",
           "library_verdict", "main", "markdown", "metrics_problems", "print_totals", "probe",
           "run_case", "save", "totals", "verdict"]
