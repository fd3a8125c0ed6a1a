"""The reliability probe (scripts/probe_reliability.py): its verdicts, and a few of its cases
run against this checkout. The full probe takes minutes; docs/reliability.md has its figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robo_meta.bench import reliability as probe
from robo_meta.bench.reliability import Case, Proc

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "probe_reliability.py"


def _verdict(proc: Proc, folder: Path, **case) -> str:
    return probe.verdict(Case("c", "n", **case), None, folder, proc)[0]


def test_verdicts(tmp_path):
    one_line = Proc(2, "", "robo-meta train: error: bad\n", 1.0)
    assert _verdict(one_line, tmp_path) == probe.CLEAN
    assert _verdict(Proc(2, "", "usage: robo-meta\nrobo-meta: error: bad\n", 1.0),
                    tmp_path) == probe.UNCLEAR
    assert _verdict(Proc(1, "", "Traceback (most recent call last):\n  x\nValueError: y\n",
                         1.0), tmp_path) == probe.TRACE
    assert _verdict(Proc(None, "", "", 30.0, timed_out=True), tmp_path) == probe.HANG
    assert _verdict(Proc(0, "done\n", "", 1.0), tmp_path) == probe.ACCEPTED
    assert _verdict(Proc(0, "done\n", "", 1.0), tmp_path, if_accepted=probe.SILENT) == (
        probe.SILENT)
    assert _verdict(Proc(0, "done\n", "", 1.0), tmp_path, expect="ok") == probe.CLEAN
    assert _verdict(one_line, tmp_path, expect="ok") == probe.REFUSED
    assert _verdict(Proc(0, "", "", 1.0), tmp_path, expect="either") == probe.CLEAN
    (tmp_path / "PWNED").touch()  # a payload ran: whatever the exit said
    assert _verdict(one_line, tmp_path) == probe.CODE


def test_metrics_problems(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,x\n128,1\n256,2\n256,2\n128,3\n")
    (tmp_path / ".tmp-state-1.pt").touch()
    problems = "; ".join(probe.metrics_problems(tmp_path))
    assert "2 duplicated step rows" in problems and "2 non-increasing steps" in problems
    assert "1 temporary files left" in problems


def test_every_category_has_cases_and_names_are_unique():
    cases = probe.all_cases()
    names = [f"{c.category}: {c.name}" for c in cases]
    assert len(names) == len(set(names))
    assert {c.category for c in cases} == set(probe.CATEGORIES)
    assert set(probe.ACTION_CASES) == {c.name for c in cases if c.category == "actions"}


def test_markdown_tables():
    def run(kinds):
        outcomes = [probe.Outcome("actions", f"case {i}", k) for i, k in enumerate(kinds)]
        return {"totals": probe.totals(outcomes), "cases": [vars(o) for o in outcomes]}

    text = probe.markdown(run([probe.SILENT, probe.TRACE, probe.CLEAN]),
                          run([probe.CLEAN, probe.CLEAN, probe.NA]))
    assert "| **total** | 3 / 2 | 1 / 2 | **2 / 0** | 0 / 1 |" in text
    assert "| silent wrong result | 1 | 0 |" in text
    assert "Still mishandled after (0)" in text


@pytest.mark.parametrize("only", ["actions: vector: transposed", "tasks files: NaN goal"])
def test_cases_against_this_checkout(tmp_path, only):
    out = tmp_path / "probe.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--root", str(ROOT), "--only", only,
                             "--json", str(out), "--quiet"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    cases = json.loads(out.read_text())["cases"]
    assert len(cases) == 1 and cases[0]["kind"] == probe.CLEAN, cases
