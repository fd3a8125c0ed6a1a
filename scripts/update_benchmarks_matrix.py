"""Rewrite the section "The matrix: every shipped policy" of docs/benchmarks.md.

Its tables are the output of ``robo-meta policies matrix`` (test and ood) and ``robo-meta
policies bars``, which read the reports shipped beside the weights; run this after exporting
or refreshing a pretrained policy so the document says what the reports say::

    python scripts/update_benchmarks_matrix.py

Only that section changes (from its heading to the next ``### `` heading).
"""

from __future__ import annotations

import sys
from pathlib import Path

from robo_meta import io, pretrained, quality_bars

HEADING = "### The matrix: every shipped policy"
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

INTRO = """`robo-meta policies matrix` (and `--split ood`) prints this table from the reports
shipped beside the weights (`policies/pretrained/NAME/report-<split>.json`, written by `robo-meta
policies export`: trials of 3 episodes, mean actions, seeds per task as on each card). A
family's `dr`, `oracle` and `rl2` share one env-step budget; `rma`'s steps are its teacher's
plus its phase 2 (its teacher's budget is the family's unless its row's steps say otherwise).
The normalized score is (R - R_dr) / (R_oracle - R_dr) with a 95 % bootstrap interval over
tasks; A - dr is the paired difference per episode, 95 % Student-t over tasks (`*`: the
interval excludes 0). cheetah-dir's two tasks are its whole task distribution (a census): its
intervals are over the seeds within each task. A normalized score is meaningless where
`oracle - dr` is not significantly positive (`robo-meta families`). The `walker-params` oracle
reads its features through an encoder (`--latent-dim 8`); `cheetah-params` was recalibrated
on 2026-11-27 and its four rows retrained (docs/families.md). Wall time is training time
(collection and updates) on the device named; the CPU rows shared the 2-core machine with
other jobs."""

BARS = """The quality bars (`robo-meta policies bars`, from the same reports): each cell holds the
value and whether the bar is met ("yes"/"NO"); differences are paired, 95 % Student-t over
tasks (a difference passes when its interval excludes 0 above it; `rma - rl2` passes at a
mean of at least 0, `*` where it is also significant). A normalized-score bar reads "n/a" on
a split where `oracle - dr` is not significantly positive: the score means nothing there."""


def _matrix(split: str) -> str:
    return pretrained.matrix_markdown(pretrained.matrix(split))


def section() -> str:
    return (f"{HEADING}\n\n{INTRO}\n\nTest:\n\n{_matrix('test')}\n\nOod:\n\n"
            f"{_matrix('ood')}\n\n{BARS}\n\n{quality_bars.bars_markdown(quality_bars.bars())}\n\n")


def main() -> int:
    text = DOC.read_text()
    start = text.find(HEADING)
    if start < 0:
        print(f"update_benchmarks_matrix.py: {DOC} has no section {HEADING!r}", file=sys.stderr)
        return 2
    end = text.find("\n### ", start + len(HEADING))
    rest = "" if end < 0 else text[end + 1:]
    io.write_text(DOC, text[:start] + section() + rest)
    print(f"rewrote {HEADING!r} in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
