"""Regenerate the benchmark documents from the reports shipped beside the weights.

- The section "The matrix: every shipped policy" of docs/benchmarks.md: the output of
  ``robo-meta policies matrix`` (test and ood) and ``robo-meta policies bars``, and how
  well each task estimate (rma's ẑ, an rl2 task head) identifies the task, from the
  identification records in the reports. Only that section changes (from its heading to
  the next ``### `` heading).
- The table of shipped policies in README.md (steps, training time and device, test return
  by episode), from each policy's meta.json.
- docs/curves/FAMILY.png for every family with shipped policies: the ``robo-meta compare``
  figure of their ``test`` reports (dr, oracle, rl2, then the rest), which docs/families.md
  shows.
- The table of measured gaps in docs/families.md (``oracle - dr`` on ``test``, episode 1, as
  ``robo-meta families`` prints it).

Run it after exporting or refreshing a pretrained policy, so the documents say what the
reports say::

    python scripts/update_benchmark_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from robo_meta import checkpoint, io, pretrained, quality_bars
from robo_meta import report as reports
from robo_meta.adaptive import PRETRAINED_DIR

HEADING = "### The matrix: every shipped policy"
DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC = DOCS / "benchmarks.md"

INTRO = """`robo-meta policies matrix` (and `--split ood`) prints this table from the reports
shipped beside the weights (`policies/pretrained/NAME/report-<split>.json`, written by `robo-meta
policies export`: trials of 3 episodes, mean actions, seeds per task as on each card). A
family's `dr`, `oracle` and `rl2` share one env-step budget; `rma`'s steps are its teacher's
plus its phase 2 (its teacher's budget is the family's unless its row's steps say otherwise).
The normalized score is (R - R_dr) / (R_oracle - R_dr) with a 95 % bootstrap interval over
tasks; A - dr is the paired difference per episode, 95 % Student-t over tasks (`*`: the
interval excludes 0). cheetah-dir's two tasks are its whole task distribution (a census): its
intervals are over the seeds within each task. A normalized score is meaningless where
`oracle - dr` is not significantly positive (`robo-meta families`). The `ant-crippled` and
`walker-params` oracles read their features through an encoder (`--latent-dim 8`);
`cheetah-params` (2026-11-27) and `walker-params` (2026-11-28) were recalibrated and their
four rows retrained (docs/families.md). Wall time is training time (collection and updates)
on the device named; the CPU rows shared the 2-core machine with other jobs. A `maml` row
runs 21 episodes a trial (20 explore, then one step): its cells show episodes 1, 20 and 21,
against the family's `dr` and `oracle` on those same trials. The cards trained before
2026-11-29 carry `--no-numpy-tanh` in their commands, so that these repeat them bit for bit on
today's code; the commands of that time in the sections below need it too (docs/design.md,
"Checkpoints")."""

BARS = """The quality bars (`robo-meta policies bars`, from the same reports): each cell holds the
value and whether the bar is met ("yes"/"NO"); differences are paired, 95 % Student-t over
tasks (a difference passes when its interval excludes 0 above it; `rma - rl2` passes at a
mean of at least 0, `*` where it is also significant). `maml` is scored in episode K + 1,
the first after its K exploration episodes (21 for the shipped ones, which explore 20), and
its inner step must beat none there: the same trials with no step (θ itself after the same
exploration) ship as `report-test-k0.json` beside its `report-test.json`, and the family's
`dr` and `oracle` on the same 21-episode trials as `report-test-dr.json` and
`report-test-oracle.json`, the references of its normalized score and of `maml - dr` in the
matrix. A normalized-score bar reads "n/a" on
a split where `oracle - dr` is not significantly positive: the score means nothing there.
The last column asks whether `dr` and `oracle` had converged: the rise of their quick-eval
curve (`val`, episode 1, stored in each `meta.json`) over the last 20 % of the run, a
least-squares fit, as a fraction of the family's `oracle - dr` gap, with the 95 % Student-t
interval of that fit (from its residuals); flat ("yes") within ±0.10. A curve that is not
flat reads "NO" where the interval excludes 0 (it was still rising, or falling) and "noisy"
where it does not: each quick evaluation is 8 tasks' mean, and their scatter cannot tell a
trend from noise. The intervals are as wide on many curves that read "yes", so the
convergence probes below answer the question directly: the same run trained 50 % longer,
evaluated on the same trials. "-" where no curve is stored, or where it has fewer than 3
evaluations in the last 20 % (`point-goal`'s `dr` evaluated about every 600 k of its 6 M
steps; a rerun of its command with `--eval-every 300000` is flat, +0.00 ± 0.01, under
"point-goal" below)."""


IDENTIFICATION = """What the policies that estimate their task know of it (`robo-meta evaluate`
scores the estimate at every step of the cards' trials, and the shipped reports keep that
record): `rma`'s ẑ against z = μ(task features), in episode 1 (ẑ restarts at every episode
start), and an `rl2` task head's guess (`--task-inference-coef`) against the normalized task
features, across the trial. R² over the trials, features pooled, each cell `test / ood`. The
last column but one is the last step of episode 1 that every trial reached (in brackets; later
steps hold only the trials still running). R² is relative to the split's own spread of the
target. On `ood` the estimates err more (the reports' `rms_error` by step), and where those
tasks differ little from each other (their `z_std`: `ant-crippled`'s `ood` is leg 3 only) the
R² falls far below 0."""


def matrices() -> dict[str, list[dict]]:
    """The benchmark matrix of each split, computed once for every document."""
    return {split: pretrained.matrix(split) for split in ("test", "ood")}


def section(rows: dict[str, list[dict]]) -> str:
    """The matrix section of docs/benchmarks.md, from ``matrices()``."""
    tables = {split: pretrained.matrix_markdown(rows[split]) for split in rows}
    bars = quality_bars.bars_markdown(quality_bars.bars(matrices=rows))
    return (f"{HEADING}\n\n{INTRO}\n\nTest:\n\n{tables['test']}\n\nOod:\n\n"
            f"{tables['ood']}\n\n{BARS}\n\n{bars}\n\n{IDENTIFICATION}\n\n"
            f"{pretrained.identification_markdown()}\n\n")


def section_span(text: str) -> tuple[int, int]:
    """Where the matrix section lies in docs/benchmarks.md: its heading to the next one."""
    start = text.index(HEADING)
    end = text.find("\n### ", start + len(HEADING))
    return start, len(text) if end < 0 else end + 1


README = DOCS.parent / "README.md"
TABLE_HEADER = "| policy | steps | trained | test return, episodes 1 / 2 / 3 |\n|---|---|---|---|\n"
FAMILY_ORDER = ["point-goal", "cheetah-vel", "cheetah-dir", "cheetah-params", "hopper-params",
                "walker-params", "cheetah-motor", "ant-dir", "ant-goal", "ant-crippled"]
README_ORDER = {"rl2": 0, "rma": 1, "oracle": 2, "dr": 3}


def readme_rows() -> str:
    """One row per shipped policy: family by family, rl2, rma, oracle, dr, then the rest."""
    rows = []
    for name in pretrained.pretrained_names():
        meta = io.read_json(PRETRAINED_DIR / name / "meta.json", "checkpoint meta")
        config = io.read_json(PRETRAINED_DIR / name / "config.json", "checkpoint config")
        family, algo = meta["family"], meta["algo"]
        steps, wall = checkpoint.training_budget(meta)
        adapt = config["train"].get("adapt_steps", 0) if algo == "rma" else 0
        shown = f"{(steps - adapt) / 1e6:.1f} M" + (f" + {adapt / 1e6:.1f} M" if adapt else "")
        minutes = wall / 60
        device = ("2-core CPU" if meta["device"] == "cpu"
                  else meta.get("device_name", meta["device"]).removeprefix("NVIDIA "))
        returns = pretrained.episodes_cell(
            [f"{r:.1f}" for r in meta["evaluation"]["test"]["mean_return"]])
        key = (FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER),
               family, README_ORDER.get(algo, 4), name)
        rows.append((key, f"| `{name}` | {shown} | {minutes:.{1 if minutes < 10 else 0}f} min, "
                          f"{device} | {returns} |\n"))
    return "".join(row for _, row in sorted(rows))


def rows_span(text: str, header: str) -> tuple[int, int]:
    """Where the rows of the table under ``header`` lie in ``text`` (up to its blank line)."""
    start = text.index(header) + len(header)
    return start, text.index("\n\n", start) + 1


FAMILIES = DOCS / "families.md"
GAPS_HEADER = "| family | oracle − dr (test, episode 1) | verdict |\n|---|---|---|\n"


def gap_rows() -> str:
    """One row per family of FAMILY_ORDER: its measured validity gap and verdict."""
    rows = []
    for family in FAMILY_ORDER:
        gap = pretrained.measured_gap(family)
        rows.append(f"| `{family}` | not measured | |\n" if gap is None else
                    f"| `{family}` | {gap['mean']:+.1f} ± {gap['ci95']:.1f} | {gap['verdict']} |\n")
    return "".join(rows)


def update_tables() -> None:
    """README's shipped-policies rows and docs/families.md's measured gaps."""
    for path, header, rows in ((README, TABLE_HEADER, readme_rows),
                               (FAMILIES, GAPS_HEADER, gap_rows)):
        text = path.read_text()
        start, end = rows_span(text, header)
        io.write_text(path, text[:start] + rows() + text[end:])
        print(f"rewrote the table {rows.__name__} in {path}")


def curves(rows: list[dict], split: str = "test") -> list[Path]:
    """docs/curves/FAMILY.png: the compare figure of each family's shipped ``split`` reports.

    ``rows`` is ``pretrained.matrix(split)``, already ordered dr, oracle, rl2, the rest.
    """
    by_family: dict[str, list[str]] = {}
    for row in rows:
        by_family.setdefault(row["family"], []).append(row["name"])
    written = []
    for family, names in sorted(by_family.items()):
        paths = [PRETRAINED_DIR / name / f"report-{split}.json" for name in names]
        comparison = reports.compare([reports.load_report(p) for p in paths], paths)
        target = DOCS / "curves" / f"{family}.png"
        target.parent.mkdir(exist_ok=True)
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(reports.render_png(reports.plot_compare(comparison)))
        written.append(target)
    return written


def main() -> int:
    text = DOC.read_text()
    if HEADING not in text:
        print(f"update_benchmark_docs.py: {DOC} has no section {HEADING!r}", file=sys.stderr)
        return 2
    rows = matrices()
    start, end = section_span(text)
    io.write_text(DOC, text[:start] + section(rows) + text[end:])
    print(f"rewrote {HEADING!r} in {DOC}")
    update_tables()
    for path in curves(rows["test"]):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
