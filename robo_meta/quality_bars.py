"""The benchmark's quality bars, checked per family from the shipped policies' reports.

The bars (docs/benchmarks.md; benchmarks, not CI tests) say what adapting well means:

- the family is **valid**: ``oracle - dr`` on ``test`` is paired-significant and positive;
- ``rl2`` reaches a normalized score of at least 0.8 by episode 2 on ``test``, 0.5 on ``ood``,
  and ``rl2 - dr`` (episode 2) is paired-significant and positive;
- where the task must be found by exploring (a ``goal`` task), ``rl2``'s episode 2 beats its
  episode 1, paired over the same trials;
- ``rma`` reaches 0.8 by episode 1 on ``test`` and 0.5 on ``ood``, and ``rma - rl2`` at
  episode 1 is at least 0 (paired);
- ``maml`` reaches 0.8 on ``test`` in the episode after it adapts (episode K + 1 after K
  exploration episodes), and its inner steps beat no step there, paired over the same trials
  (the shipped ``report-test-k0.json``: θ itself after the same exploration);
- ``dr`` and ``oracle`` had converged: their quick-evaluation curve (``meta.json["val_curve"]``)
  is flat over the last 20 % of the run (``plateau``; "noisy" where its scatter cannot tell).

A normalized score bar is "n/a" on a split where ``oracle - dr`` is not significantly positive:
there the score divides by a gap that may be zero or negative and means nothing.
Everything is computed from ``policies/pretrained/NAME/report-<split>.json`` (the matrix of
``robo_meta.pretrained``), so ``robo-meta policies bars`` needs no simulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from robo_meta.adaptive import PRETRAINED_DIR
from robo_meta.envs import get_family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.pretrained import matrix, shipped_report
from robo_meta.report import interval, is_census, paired_difference, trials, unpaired_reason

RL2_TEST, RL2_OOD, RMA_TEST, RMA_OOD, MAML_TEST = 0.8, 0.5, 0.8, 0.5, 0.8
TAIL, FLAT = 0.2, 0.1  # the last 20 % of a run; flat: rises by at most 10 % of the gap there


def plateau(curve: dict[str, list] | None, gap: float | None) -> dict[str, Any] | None:
    """How much a run's quick-evaluation curve still rose over its last ``TAIL`` of steps.

    The rise is the least-squares slope of the evaluations at or after 80 % of the last
    evaluated step, times 20 % of that step (a fit, not last minus first: each point is a
    few tasks' noisy mean), with the 95 % Student-t half-width of that slope (``ci95``, from
    the fit's residuals, n - 2 degrees of freedom). The verdict, against ``gap``, the family's
    ``oracle - dr`` on ``test``:

    - ``"flat"`` when ``|rise| <= FLAT x gap``: a curve still moving by a tenth of the gap the
      family measures could change the comparison, one moving less could not;
    - ``"rising"`` or ``"falling"`` when it is not flat and the interval excludes 0: the run
      had not converged;
    - ``"noisy"`` otherwise: the quick evaluations scatter too much to tell (each is a few
      tasks' mean); only a longer or larger evaluation can say.

    ``flat`` is the first verdict. None without a stored curve, with fewer than 3 evaluations
    in the tail, or without a positive gap.
    """
    if not curve or gap is None or gap <= 0:
        return None
    steps = np.asarray(curve["steps"], dtype=float)
    returns = np.asarray(curve["return_ep1"], dtype=float)
    tail = steps >= (1 - TAIL) * steps[-1]
    n = int(tail.sum())
    if n < 3:
        return None
    fit = stats.linregress(steps[tail], returns[tail])
    span = TAIL * steps[-1]
    rise = float(fit.slope * span)
    ci95 = float(stats.t.ppf(0.975, n - 2) * fit.stderr * span)
    if abs(rise) <= FLAT * gap:
        verdict = "flat"
    elif abs(rise) > ci95:
        verdict = "rising" if rise > 0 else "falling"
    else:
        verdict = "noisy"
    return {"rise": rise, "ci95": ci95, "points": n, "of_gap": rise / gap,
            "ci95_of_gap": ci95 / gap, "verdict": verdict, "flat": verdict == "flat"}


def _score(rows: dict, family: str, algo: str, episode: int) -> float | None:
    row = rows.get((family, algo))
    if row is None or row["normalized"] is None or len(row["normalized"]["score"]) < episode:
        return None
    return row["normalized"]["score"][episode - 1]


def _difference(diff: dict[str, list], episode: int) -> dict[str, Any]:
    k = episode - 1
    return {"mean": diff["mean"][k], "ci95": diff["ci95"][k],
            "significant": diff["excludes_zero"][k] and diff["mean"][k] > 0}


def _gap(rows: dict, family: str) -> dict[str, Any] | None:
    """``oracle - dr`` at episode 1 (``measured_gap``'s test), from the oracle's matrix row."""
    oracle = rows.get((family, "oracle"))
    return None if oracle is None or oracle["minus_dr"] is None \
        else _difference(oracle["minus_dr"], 1)


def episode_gain(report: dict[str, Any], later: int = 2, earlier: int = 1) -> dict[str, Any]:
    """Episode ``later`` - episode ``earlier`` of one report, paired over its tasks (seeds
    averaged per task first, or over seeds within tasks for a census), with the 95 %
    half-width."""
    returns = trials(report)
    stats = interval(returns[:, :, [later - 1]] - returns[:, :, [earlier - 1]],
                     is_census(report))
    mean, ci = stats["mean"][0], stats["ci95"][0]
    return {"mean": mean, "ci95": ci, "significant": mean > ci}


def steps_gain(adapted: dict[str, Any], unadapted: dict[str, Any]) -> dict[str, Any]:
    """A maml policy's return after its inner steps minus with none, paired trial by trial,
    in the first episode after its exploration (the same trials and exploration episodes:
    ``robo-meta evaluate --inner-steps``), with the 95 % half-width as ``episode_gain``."""
    reason = unpaired_reason(adapted, unadapted)
    if reason is not None:
        raise RoboMetaError(f"maml reports with and without inner steps are not paired: {reason}")
    k = adapted["policy"]["meta"]["exploration_episodes"]
    stats = interval(trials(adapted)[:, :, [k]] - trials(unadapted)[:, :, [k]],
                     is_census(adapted))
    mean, ci = stats["mean"][0], stats["ci95"][0]
    return {"mean": mean, "ci95": ci, "significant": mean > ci, "episode": k + 1}


def bars(root: Path = PRETRAINED_DIR,
         matrices: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """One row per family whose ``dr`` and ``oracle`` are shipped: each bar's value and
    whether it is met (None where the policy or split is not shipped).

    ``matrices``: ``{"test": matrix("test", root), "ood": ...}`` when the caller has them
    already (each costs a bootstrap per row); computed here otherwise.
    """
    matrices = matrices or {split: matrix(split, root) for split in ("test", "ood")}
    test = {(r["family"], r["algo"]): r for r in matrices["test"]}
    ood = {(r["family"], r["algo"]): r for r in matrices["ood"]}
    families = sorted({f for f, a in test if a == "dr" and (f, "oracle") in test})
    out = []
    for family in families:
        gap, ood_gap = (_gap(rows, family) for rows in (test, ood))
        rl2_test, rl2_ood = _score(test, family, "rl2", 2), _score(ood, family, "rl2", 2)
        rma_test, rma_ood = _score(test, family, "rma", 1), _score(ood, family, "rma", 1)
        rl2 = test.get((family, "rl2"))
        row: dict[str, Any] = {
            "family": family, "valid": gap,
            "scored": {"test": bool(gap and gap["significant"]),
                       "ood": bool(ood_gap and ood_gap["significant"])},
            "rl2_test": rl2_test, "rl2_ood": rl2_ood,
            "rl2_minus_dr": None if rl2 is None or rl2["minus_dr"] is None
            else _difference(rl2["minus_dr"], 2),
            "explore": None, "rma_test": rma_test, "rma_ood": rma_ood, "rma_minus_rl2": None,
            "maml_test": None, "maml_steps": None,
            "converged": {algo: plateau(test[(family, algo)]["val_curve"],
                                        gap["mean"] if gap else None)
                          for algo in ("dr", "oracle")}}
        rl2_report = shipped_report(f"{family}-rl2", "test", root)
        if rl2_report is not None and get_family(family).spec.task == "goal":
            row["explore"] = episode_gain(rl2_report)
        rma_report = shipped_report(f"{family}-rma", "test", root)
        if rma_report is not None and rl2_report is not None \
                and unpaired_reason(rma_report, rl2_report) is None:
            diff = paired_difference(rma_report, rl2_report)
            row["rma_minus_rl2"] = {"mean": diff["mean"][0], "ci95": diff["ci95"][0],
                                    "significant": diff["excludes_zero"][0]}
        maml = shipped_report(f"{family}-maml", "test", root)
        unadapted = shipped_report(f"{family}-maml", "test-k0", root)
        if maml is not None and unadapted is not None:
            row["maml_steps"] = steps_gain(maml, unadapted)
            row["maml_test"] = _score(test, family, "maml", row["maml_steps"]["episode"])
        out.append(row)
    return out


def _met(value: float | None, bar: float, meaningful: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {('yes' if value >= bar else 'NO') if meaningful else 'n/a'}"


def _diff(d: dict[str, Any] | None, passed: bool | None = None) -> str:
    if d is None:
        return "-"
    ok = d["significant"] if passed is None else passed
    return f"{d['mean']:+.1f} ± {d['ci95']:.1f} {'yes' if ok else 'NO'}"


def _flat(p: dict[str, Any] | None) -> str:
    if p is None:
        return "-"
    word = {"flat": "yes", "noisy": "noisy"}.get(p["verdict"], "NO")
    return f"{p['of_gap']:+.2f} ± {p['ci95_of_gap']:.2f} {word}"


def bars_markdown(rows: list[dict[str, Any]]) -> str:
    """``bars`` rows as one markdown table: each cell the value and whether the bar is met."""
    lines = ["| family | valid: oracle - dr (ep 1) | rl2 score ep 2, test (>= 0.8) "
             "| rl2 score ep 2, ood (>= 0.5) | rl2 - dr (ep 2) | rl2 ep 2 - ep 1 (goal tasks) "
             "| rma score ep 1, test (>= 0.8) | rma score ep 1, ood (>= 0.5) "
             "| rma - rl2 (ep 1, >= 0) | maml score after its step (ep K + 1), test (>= 0.8) "
             "| maml inner steps - none (ep K + 1) "
             "| dr, oracle flat over the last 20 % (rise / gap, 95 % CI) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gap = r["valid"]
        rma_rl2 = r["rma_minus_rl2"]
        cells = [
            "-" if gap is None else _diff(gap, gap["significant"]),
            _met(r["rl2_test"], RL2_TEST, r["scored"]["test"]),
            _met(r["rl2_ood"], RL2_OOD, r["scored"]["ood"]),
            _diff(r["rl2_minus_dr"]), _diff(r["explore"]),
            _met(r["rma_test"], RMA_TEST, r["scored"]["test"]),
            _met(r["rma_ood"], RMA_OOD, r["scored"]["ood"]),
            "-" if rma_rl2 is None else _diff(rma_rl2, rma_rl2["mean"] >= 0)
            + ("*" if rma_rl2["significant"] else ""),
            _met(r["maml_test"], MAML_TEST, r["scored"]["test"]), _diff(r["maml_steps"]),
            ", ".join(_flat(r["converged"][algo]) for algo in ("dr", "oracle"))]
        lines.append(f"| {r['family']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
