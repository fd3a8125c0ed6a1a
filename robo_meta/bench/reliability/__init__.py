"""Reliability probe: bad input at every boundary of robo_meta, each case classified.

The probe lives in ``robo_meta.bench.reliability.core``; this package keeps the names that
``scripts/probe_reliability.py`` and the tests import.
"""

from robo_meta.bench.reliability.core import (
    ACCEPTED,
    ACTION_CASES,
    ACTION_SCRIPT,
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
    Outcome,
    Proc,
    Target,
    all_cases,
    main,
    markdown,
    metrics_problems,
    probe,
    run_case,
    totals,
    verdict,
)

__all__ = ["ACCEPTED", "ACTION_CASES", "ACTION_SCRIPT", "CATEGORIES", "CLEAN", "CODE", "HANG",
           "KINDS", "NA", "REFUSED", "SILENT", "TORN", "TRACE", "UNCLEAR", "Case", "Outcome",
           "Proc", "Target", "all_cases", "main", "markdown", "metrics_problems", "probe",
           "run_case", "totals", "verdict"]
