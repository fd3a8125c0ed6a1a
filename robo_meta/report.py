"""Evaluation reports: the JSON, the terminal tables, the adaptation-curve and compare figures.

A report (``robo-meta evaluate --out REPORT.json``) holds everything needed to recompute its
summary: per task, per seed, per episode returns (and success where the family defines it).
It is deterministic: the same policy, tasks and seed give the same bytes, so timing and
machine facts are printed, never stored. Layout::

    {"format": "robo_meta.report/1", "family", "split", "tasks_file", "policy": {name, algo,
     source, adaptive, family, meta}, "episodes", "seeds", "seed", "deterministic", "device",
     "num_envs", "tasks": [{"task", "seeds", "returns": [[K] per seed],
     "lengths": [[K] per seed], "success": ...}],
     "summary": {"episode", "mean_return", "ci95_return", "success_rate", "ci"}}

``lengths`` (episode lengths in steps) came later: reports without them still load, and
``compare`` shows lengths only for reports that have them. ``"census": true`` (top level,
absent otherwise) marks a report whose tasks are the family's whole finite task distribution
(``Family.is_census``, e.g. cheetah-dir's two directions), with at least 2 seeds per task.

Summary statistics treat tasks as the independent units: seeds are averaged within a task
first, then mean and 95 % Student-t interval over tasks, per episode index. A census has no
task sampling to account for: its intervals come from the seeds within each task
(``summarize_census``), which is what makes a 2-task family measurable at all (a t interval
over 2 task means has 1 degree of freedom and is 12.7 standard errors wide).

``compare`` works from the per-task, per-seed numbers of the JSON files alone. Reports of the
same family, the same task list (in order) and the same seeds per task are *paired*: trial
(task i, seed s) of one faced exactly the task and initial-state noise of the other's. For
paired reports it gives

- the paired difference A - B per episode index k: the mean over tasks of the per-task
  differences (seeds averaged within a task first) with a 95 % Student-t interval over tasks;
  task difficulty varies far more than policies do, so this interval is much narrower than
  the two curves' intervals suggest;
- the normalized score (R_k - R_dr,k) / (R_oracle,k - R_dr,k), where R is the mean over tasks:
  0 is the non-adaptive ``dr`` baseline, 1 the ``oracle`` that is told the task. Its 95 %
  interval is a percentile bootstrap over tasks (the same resampled task indices for the
  three reports, 10,000 resamples, a fixed seed, so the output is deterministic).
"""

from __future__ import annotations

import io as _io
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robo_meta import io
from robo_meta.envs import Family, get_family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.evaluation import TrialResults, summarize, summarize_census
from robo_meta.text import table

FORMAT = "robo_meta.report/1"
CI_METHOD = "95% Student-t over tasks (seeds averaged within a task)"
CENSUS_CI_METHOD = ("95% Student-t over the seeds within each task (Welch-Satterthwaite): the "
                    "tasks are the whole task distribution")


# -- building ------------------------------------------------------------------------------------
def build_report(*, policy: Any, source: str, family: str | Family, tasks: Sequence[Any],
                 results: TrialResults, split: str | None, tasks_file: str | None,
                 episodes: int, seeds: int, seed: int, deterministic: bool, device: str,
                 num_envs: int | None) -> dict[str, Any]:
    """The report of ``results`` (from ``run_trials(..., seeds_per_task=seeds)``) on ``tasks``.

    ``family`` is a Family or what ``get_family`` accepts. Results in which a simulation
    failed are refused (``TrialResults.check_scored``). Where the policy estimated the task
    (``TrialResults.identification``), the report keeps that record under "identification".
    """
    results.check_scored(policy.name)
    family = get_family(family)
    census = seeds >= 2 and family.is_census(tasks)
    n = len(tasks)
    # trial r ran tasks[r % n] with repetition r // n: (seeds, n, K) -> (n, seeds, K)
    returns = results.returns.reshape(seeds, n, episodes).transpose(1, 0, 2)
    success = (None if results.success is None
               else results.success.reshape(seeds, n, episodes).transpose(1, 0, 2))
    lengths = results.lengths.reshape(seeds, n, episodes).transpose(1, 0, 2)
    trial_seeds = np.asarray(results.seeds).reshape(seeds, n).T
    entries = []
    for i, task in enumerate(tasks):
        entry: dict[str, Any] = {"task": task.to_dict(), "seeds": trial_seeds[i].tolist(),
                                 "returns": returns[i].tolist(),
                                 "lengths": lengths[i].astype(int).tolist()}
        if success is not None:
            entry["success"] = success[i].tolist()
        entries.append(entry)
    stats = interval(returns, census)
    summary: dict[str, Any] = {"episode": list(range(1, episodes + 1)),
                               "mean_return": stats["mean"], "ci95_return": stats["ci95"],
                               "ci": CENSUS_CI_METHOD if census else CI_METHOD}
    if success is not None:
        summary["success_rate"] = success.mean(axis=(0, 1)).tolist()
    extra = {"census": True} if census else {}  # absent in the (usual) sampled case
    if results.identification is not None:  # a policy that estimates the task (rma, rl2's head)
        extra["identification"] = results.identification
    return {
        **extra,
        "format": FORMAT,
        "family": family.name,
        "split": split,
        "tasks_file": tasks_file,
        "policy": {"name": policy.name, "algo": policy.algo, "source": source,
                   "adaptive": bool(policy.adaptive), "family": policy.family,
                   # not the policy's own stored evaluation: stale once the report is redone
                   "meta": {k: v for k, v in (getattr(policy, "meta", {}) or {}).items()
                            if k != "evaluation"}},
        "episodes": episodes,
        "seeds": seeds,
        "seed": seed,
        "deterministic": deterministic,
        "device": device,
        "num_envs": num_envs,
        "num_tasks": n,
        "tasks": entries,
        "summary": summary,
    }


def report_json(report: dict[str, Any]) -> str:
    """The exact text written for ``report`` (key-sorted, so equal reports are equal bytes)."""
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def write_report(report: dict[str, Any], json_path: Path, png_path: Path) -> None:
    """Write the JSON and its figure; the figure is rendered first, so a failure writes nothing."""
    png = render_png(plot_report(report))
    text = report_json(report)
    io.write_text(json_path, text)
    with io.atomic_path(png_path) as tmp:
        tmp.write_bytes(png)


# -- reading -------------------------------------------------------------------------------------
def load_report(path: str | Path) -> dict[str, Any]:
    """A report written by ``robo-meta evaluate``; anything else is a clear error."""
    path = Path(path)
    data = io.read_json(path, "report")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RoboMetaError(f"{path} is not a robo-meta evaluate report (format {FORMAT})")
    summary = data.get("summary", {})
    if not all(k in summary for k in ("episode", "mean_return", "ci95_return")):
        raise RoboMetaError(f"report {path} lacks its summary")
    _check_trials(data, path)
    return data


def _check_trials(data: dict[str, Any], path: Path) -> None:
    """Per-task entries with seeds and (seeds x episodes) returns, and lengths if any."""
    episodes, entries = data.get("episodes"), data.get("tasks")
    if not isinstance(episodes, int) or episodes < 1 or not isinstance(entries, list) \
            or not entries or len(entries) != data.get("num_tasks", len(entries)):
        raise RoboMetaError(f"report {path} lacks its per-task results")
    with_lengths = sum(isinstance(e, dict) and "lengths" in e for e in entries)
    for i, entry in enumerate(entries):
        seeds = entry.get("seeds") if isinstance(entry, dict) else None
        ok = isinstance(seeds, list) and seeds and "task" in entry
        for key in ("returns", "lengths") if with_lengths else ("returns",):
            try:
                values = np.asarray(entry[key], dtype=float) if ok else None
            except (KeyError, TypeError, ValueError):
                values = None
            # a non-finite return is no score (evaluate never writes one)
            ok = ok and values is not None and values.shape == (len(seeds), episodes) \
                and bool(np.isfinite(values).all())
        if not ok:
            raise RoboMetaError(f"report {path}, task {i}: expected its seeds and one "
                                f"{episodes}-episode row of finite returns"
                                f"{' and lengths' if with_lengths else ''} per seed")


def split_label(report: dict[str, Any]) -> str:
    """``test``, ``ood``, ``train`` or the tasks file's name."""
    if report.get("split"):
        return str(report["split"])
    return Path(str(report.get("tasks_file") or "tasks")).name


def tasks_key(report: dict[str, Any]) -> str:
    """Identical for reports on the same family and the same task list (in order)."""
    return json.dumps([report["family"], [t["task"] for t in report["tasks"]]], sort_keys=True)


def is_census(report: dict[str, Any]) -> bool:
    """Whether the report's tasks are its family's whole (finite) task distribution, each
    with at least 2 seeds: its intervals come from the seeds within tasks."""
    return bool(report.get("census")) and report["seeds"] >= 2


def trials(report: dict[str, Any], key: str = "returns") -> np.ndarray:
    """(tasks, seeds, episodes) array of ``key`` per trial."""
    return np.array([np.asarray(e[key], dtype=np.float64) for e in report["tasks"]])


def interval(values: np.ndarray, census: bool) -> dict[str, list[float]]:
    """Mean and 95 % half-width per episode of (tasks, seeds, K) trial values.

    Tasks sampled from the distribution (the usual case) are the independent units: seeds are
    averaged within each task, then Student-t over tasks. A census (``is_census``) takes its
    interval from the seeds within tasks instead (``summarize_census``).
    """
    return summarize_census(values) if census else summarize(values.mean(axis=1))


def per_task(report: dict[str, Any], key: str = "returns") -> np.ndarray | None:
    """(tasks, episodes) array of ``key`` (returns or lengths), seeds averaged within a task.

    None for ``lengths`` in a report written before reports kept them.
    """
    if any(key not in entry for entry in report["tasks"]):
        return None
    return np.array([np.mean(np.asarray(e[key], dtype=np.float64), axis=0)
                     for e in report["tasks"]])


# -- pairing -------------------------------------------------------------------------------------
def unpaired_reason(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """Why reports ``a`` and ``b`` are not paired (None if they are: same tasks and seeds)."""
    if a["family"] != b["family"]:
        return f"families {a['family']} and {b['family']}"
    if tasks_key(a) != tasks_key(b):
        return (f"different tasks: {split_label(a)} ({a['num_tasks']} tasks) and "
                f"{split_label(b)} ({b['num_tasks']} tasks)")
    for i, (ta, tb) in enumerate(zip(a["tasks"], b["tasks"], strict=True)):
        if ta["seeds"] != tb["seeds"]:
            if len(ta["seeds"]) != len(tb["seeds"]):
                return (f"different seeds: {len(ta['seeds'])} and {len(tb['seeds'])} per task "
                        "(--seeds)")
            return f"different seeds: task {i} ran seeds {ta['seeds']} and {tb['seeds']} (--seed)"
    return None


def check_paired(reports: Sequence[dict[str, Any]], paths: Sequence[str | Path]) -> None:
    """Raise a one-line RoboMetaError unless every report is paired with the first."""
    for report, path in zip(reports[1:], paths[1:], strict=True):
        why = unpaired_reason(reports[0], report)
        if why is not None:
            raise RoboMetaError(
                f"{paths[0]} and {path} are not paired ({why}); paired statistics need reports "
                "of the same tasks and seeds (evaluate with the same --split or --tasks-file, "
                "--seeds and --seed), or use --curves-only")


def comparison_pairs(reports: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    """The (A, B) report indices whose paired difference A - B ``compare`` shows.

    Every report against each ``dr`` report, then against each ``oracle`` report (oracle - dr
    once); without either, every report against the first one given.
    """
    algos = [r["policy"]["algo"] for r in reports]
    refs = [j for j, a in enumerate(algos) if a == "dr"]
    refs += [j for j, a in enumerate(algos) if a == "oracle"]
    if not refs:
        return [(i, 0) for i in range(1, len(reports))]
    pairs: list[tuple[int, int]] = []
    for j in refs:
        pairs += [(i, j) for i in range(len(reports))
                  if i != j and (j, i) not in pairs and (i, j) not in pairs]
    return pairs


def paired_difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list]:
    """A - B per common episode index: mean and 95 % Student-t half-width over tasks.

    ``a`` and ``b`` must be paired. Per task the seeds are averaged first, so each task is
    one difference; ``excludes_zero`` says whether the interval excludes 0. With one task
    there is no interval (NaN). Where the tasks are a census (``is_census``), each trial
    (task, seed) is one difference and the interval is over seeds within tasks.
    """
    k = min(a["episodes"], b["episodes"])
    if is_census(a) and is_census(b):
        stats = summarize_census(trials(a)[:, :, :k] - trials(b)[:, :, :k])
        ci = stats["ci95"]
    else:
        diff = per_task(a)[:, :k] - per_task(b)[:, :k]
        stats = summarize(diff)
        ci = stats["ci95"] if len(diff) > 1 else [math.nan] * k
    return {"mean": stats["mean"], "ci95": ci,
            "excludes_zero": [bool(abs(m) > c) for m, c in zip(stats["mean"], ci, strict=True)]}


BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def normalized_score(report: dict[str, Any], dr: dict[str, Any], oracle: dict[str, Any], *,
                     resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> dict[str, list[float]]:
    """(R_k - R_dr,k) / (R_oracle,k - R_dr,k) per common episode k, with a 95 % interval.

    R is the mean over tasks of the seed-averaged returns. The interval is a percentile
    bootstrap over tasks: ``resamples`` draws of task indices with replacement (one draw
    shared by the three reports, which must be paired) from ``numpy.random.default_rng(seed)``.
    The score and its interval are NaN where the oracle and dr means are equal. Where the
    tasks are a census (``is_census``) the bootstrap resamples the seeds within each task
    instead (stratified: every task stays, the same seed draw for the three reports).
    """
    k = min(report["episodes"], dr["episodes"], oracle["episodes"])
    x, d, o = (per_task(r)[:, :k] for r in (report, dr, oracle))
    score = _ratio(x.mean(axis=0), d.mean(axis=0), o.mean(axis=0))
    rng, n = np.random.default_rng(seed), len(x)
    census = all(is_census(r) for r in (report, dr, oracle))
    if census:
        x, d, o = (trials(r)[:, :, :k] for r in (report, dr, oracle))
    draws = []
    for start in range(0, resamples, 1000):  # bounded memory for large task sets
        m = min(1000, resamples - start)
        if census:  # (m, tasks, seeds) seed indices; each task keeps its own trials
            seeds = x.shape[1]
            rows, idx = np.arange(n)[None, :, None], rng.integers(0, seeds, size=(m, n, seeds))
            draws.append(_ratio(*(v[rows, idx].mean(axis=(1, 2)) for v in (x, d, o))))
            continue
        idx = rng.integers(0, n, size=(m, n))
        draws.append(_ratio(x[idx].mean(axis=1), d[idx].mean(axis=1), o[idx].mean(axis=1)))
    draws = np.concatenate(draws)
    draws[~np.isfinite(draws)] = np.nan  # a resample whose oracle and dr means are equal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column gives NaN
        low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    bad = np.isnan(score)
    low[bad], high[bad] = math.nan, math.nan
    return {"score": score.tolist(), "low": low.tolist(), "high": high.tolist()}


def _ratio(r: np.ndarray, r_dr: np.ndarray, r_oracle: np.ndarray) -> np.ndarray:
    gap = r_oracle - r_dr
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(gap) > 1e-12, (r - r_dr) / gap, np.nan)


# -- terminal tables -----------------------------------------------------------------------------
def summary_table(report: dict[str, Any]) -> str:
    """Episode index, mean return, ± 95 % CI and success rate (where defined)."""
    summary = report["summary"]
    success = summary.get("success_rate")
    header = ["episode", "mean return", "± 95% CI"] + (["success"] if success else [])
    rows = []
    for k, episode in enumerate(summary["episode"]):
        row = [str(episode), f"{summary['mean_return'][k]:.2f}",
               f"{summary['ci95_return'][k]:.2f}"]
        if success:
            row.append(f"{success[k]:.3f}")
        rows.append(row)
    return table(rows, header, left=0)


def action_mode(report: dict[str, Any]) -> str:
    """How the report's policy chose its actions ("mean actions", ...); "" for the fixed
    reference policies, which have no mean to take."""
    policy = report["policy"]
    if policy["algo"] in ("random", "zero"):
        return ""
    meta = policy.get("meta") or {}
    explores = meta.get("explored_episodes") or meta.get("exploration_episodes")
    if explores and report["deterministic"]:  # maml samples while it explores
        return f"sampled actions in episode{'s 1-' if explores > 1 else ' '}{explores}, then mean"
    return "mean actions" if report["deterministic"] else "sampled actions"


def describe(report: dict[str, Any], sep: str = ": ") -> str:
    """What was evaluated on what (``sep="\n"`` for a two-line figure title)."""
    policy, mode, seeds = report["policy"], action_mode(report), report["seeds"]
    return (f"{policy['name']} ({policy['algo']}) on {report['family']} "
            f"{split_label(report)}{sep}{report['num_tasks']} tasks x {seeds} "
            f"seed{'s' if seeds > 1 else ''} x {report['episodes']} episodes"
            + (f", {mode}" if mode else ""))


# -- figures -------------------------------------------------------------------------------------
def _figure(panels: int, width_per_panel: float = 4.8):
    # pyplot-free: no global backend switch, safe in threads and inside notebooks
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_per_panel * panels + 0.4, 3.8), dpi=110, layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    return fig, axes


def _curve(ax, x, mean, ci, label: str | None, color) -> None:
    x, mean, ci = np.asarray(x), np.asarray(mean, dtype=float), np.asarray(ci, dtype=float)
    ax.plot(x, mean, marker="o", color=color, label=label, linewidth=1.8)
    ax.fill_between(x, mean - ci, mean + ci, color=color, alpha=0.18, linewidth=0)


def _episode_axis(ax, episodes: int) -> None:
    ax.set_xticks(range(1, episodes + 1))
    ax.set_xlim(0.75, episodes + 0.25)
    ax.set_xlabel("episode in trial")
    ax.grid(alpha=0.3)


def plot_report(report: dict[str, Any]):
    """The adaptation curve: mean return ± 95 % CI per episode (and success rate if defined)."""
    summary = report["summary"]
    success = summary.get("success_rate")
    fig, axes = _figure(2 if success else 1, width_per_panel=4.8 if success else 6.0)
    _curve(axes[0], summary["episode"], summary["mean_return"], summary["ci95_return"],
           "mean ± 95% CI over tasks", "C0")
    _episode_axis(axes[0], report["episodes"])
    axes[0].set_ylabel("episode return")
    axes[0].legend(fontsize=8, loc="best")
    if success:
        axes[1].plot(summary["episode"], success, marker="o", color="C2", linewidth=1.8)
        axes[1].set_ylim(-0.03, 1.03)
        axes[1].set_ylabel("success rate")
        _episode_axis(axes[1], report["episodes"])
    fig.suptitle(describe(report, sep="\n"), fontsize=9.5)
    return fig


def render_png(fig) -> bytes:
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# -- compare -------------------------------------------------------------------------------------
def labels(reports: Sequence[dict[str, Any]], paths: Sequence[Path]) -> list[str]:
    """Legend names: the policy name, plus the tasks when they differ, plus the file if needed."""
    same_tasks = len({tasks_key(r) for r in reports}) == 1
    names = [r["policy"]["name"] if same_tasks
             else f"{r['policy']['name']} · {r['family']} {split_label(r)}" for r in reports]
    return [f"{name} ({Path(p).stem})" if names.count(name) > 1 else name
            for name, p in zip(names, paths, strict=True)]


@dataclass
class Comparison:
    """What ``robo-meta compare`` shows: curves, and for paired reports their statistics.

    ``differences``: one ``paired_difference`` per pair of ``comparison_pairs``, with the
    indices ``a`` and ``b`` added. ``normalized``: None, or ``{"dr": i, "oracle": j,
    "scores": {report index: normalized_score(...)}}`` for the reports other than those two.
    """

    reports: list[dict[str, Any]]
    names: list[str]
    paired: bool
    differences: list[dict[str, Any]] = field(default_factory=list)
    normalized: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def census(self) -> bool:
        """Whether every report's tasks are a census (``is_census``): the intervals shown
        are then over the seeds within tasks, not over tasks."""
        return all(is_census(r) for r in self.reports)


def compare(reports: Sequence[dict[str, Any]], paths: Sequence[str | Path],
            curves_only: bool = False) -> Comparison:
    """The comparison of ``reports`` (loaded from ``paths``).

    Unless ``curves_only``, the reports must be paired (same tasks and seeds, else a
    one-line RoboMetaError), and the paired differences and the normalized score are
    computed from their per-task results.
    """
    reports = list(reports)
    result = Comparison(reports, labels(reports, [Path(p) for p in paths]), not curves_only)
    if curves_only:
        if len({tasks_key(r) for r in reports}) > 1:
            sets = sorted({f"{r['family']} {split_label(r)} ({r['num_tasks']} tasks)"
                           for r in reports})
            result.notes.append("these reports are on different tasks (" + "; ".join(sets)
                                + "): their curves are not directly comparable")
        return result
    check_paired(reports, paths)
    for i, j in comparison_pairs(reports):
        result.differences.append({"a": i, "b": j, **paired_difference(reports[i], reports[j])})
    algos = [r["policy"]["algo"] for r in reports]
    dr = [i for i, a in enumerate(algos) if a == "dr"]
    oracle = [i for i, a in enumerate(algos) if a == "oracle"]
    if dr and oracle:
        if len(dr) > 1 or len(oracle) > 1:
            result.notes.append("several dr or oracle reports: the normalized score uses the "
                                "first of each")
        d, o = dr[0], oracle[0]
        result.normalized = {"dr": d, "oracle": o, "scores": {
            i: normalized_score(r, reports[d], reports[o])
            for i, r in enumerate(reports) if i not in (d, o)}}
    elif dr or oracle:
        result.notes.append(f"no normalized score: it needs a dr and an oracle report, and "
                            f"there is no {'oracle' if dr else 'dr'} report")
    return result


def compare_tables(comparison: Comparison) -> str:
    """The curves table, success and episode lengths, paired differences, normalized score."""
    reports, names = comparison.reports, comparison.names
    episodes = max(r["episodes"] for r in reports)
    eps = [f"ep {k}" for k in range(1, episodes + 1)]
    rows = []
    for name, report in zip(names, reports, strict=True):
        s = report["summary"]
        cells = [f"{m:.2f} ± {c:.2f}" for m, c in zip(s["mean_return"], s["ci95_return"],
                                                        strict=True)]
        rows.append(_pad([name, report["family"],
                          f"{split_label(report)} ({report['num_tasks']}x{report['seeds']})",
                          *cells], episodes + 3))
    census = comparison.census
    over = ("over the seeds within each task: the tasks are the whole task distribution"
            if census else "over tasks (tasks x seeds; seeds averaged within a task)")
    parts = [f"mean return ± 95% CI {over}",
             table(rows, ["report", "family", "tasks", *eps], left=3)]
    with_success = [(n, r) for n, r in zip(names, reports, strict=True)
                    if r["summary"].get("success_rate")]
    if with_success:
        rows = [_pad([n, *[f"{v:.3f}" for v in r["summary"]["success_rate"]]], episodes + 1)
                for n, r in with_success]
        parts += ["", "success rate", table(rows, ["report", *eps], left=1)]
    parts += ["", *_lengths_lines(reports, names, eps)]
    if comparison.differences:
        n = reports[0]["num_tasks"]
        how = ("over the seeds within each of the {n} tasks (a census of the distribution: "
               "Student-t, Welch-Satterthwaite)" if census else
               "over the {n} tasks (Student-t on the per-task differences)").format(n=n)
        parts += ["", f"paired difference A - B: mean ± 95% CI {how}; * the interval "
                      "excludes 0"]
        rows = [_pad([f"{names[d['a']]} - {names[d['b']]}",
                      *[_difference(m, c, x) for m, c, x in
                        zip(d["mean"], d["ci95"], d["excludes_zero"], strict=True)]],
                     episodes + 1) for d in comparison.differences]
        parts.append(table(rows, ["A - B", *eps], left=1))
    group = comparison.normalized
    if group is not None:
        parts += ["", f"normalized score (R_k - R_dr,k) / (R_oracle,k - R_dr,k): 0 = "
                      f"{names[group['dr']]}, 1 = {names[group['oracle']]}; [95% bootstrap "
                      f"interval over {'seeds within tasks' if census else 'tasks'}, "
                      f"{BOOTSTRAP_RESAMPLES:,} resamples]"]
        if not group["scores"]:
            parts.append("(no other report)")
        else:
            rows = [_pad([names[i], *[_interval(*v) for v in zip(
                        s["score"], s["low"], s["high"], strict=True)]], episodes + 1)
                    for i, s in group["scores"].items()]
            parts.append(table(rows, ["report", *eps], left=1))
    return "\n".join(parts)


def _lengths_lines(reports: Sequence[dict[str, Any]], names: Sequence[str],
                   eps: Sequence[str]) -> list[str]:
    """Mean episode length per episode index (one line when every episode has one length)."""
    lengths = [per_task(r, "lengths") for r in reports]
    if all(x is None for x in lengths):
        return ["episode lengths: not in these reports (written before reports kept them)"]
    values = {int(v) for r in reports if per_task(r, "lengths") is not None
              for e in r["tasks"] for row in e["lengths"] for v in row}
    if len(values) == 1 and all(x is not None for x in lengths):
        return [f"episode length: {values.pop()} steps in every episode of every report"]
    rows = [_pad([name, *(["n/a"] * len(eps) if x is None
                          else [f"{v:.1f}" for v in x.mean(axis=0)])], len(eps) + 1)
            for name, x in zip(names, lengths, strict=True)]
    return ["mean episode length in steps (episodes far shorter than the zero policy's "
            "suggest an early-termination exploit)", table(rows, ["report", *eps], left=1)]


def _pad(cells: list[str], width: int) -> list[str]:
    return cells + [""] * (width - len(cells))


def _difference(mean: float, ci: float, excludes_zero: bool) -> str:
    if math.isnan(ci):
        return f"{mean:+.2f} (1 task: no CI)"
    return f"{mean:+.2f} ± {ci:.2f}{' *' if excludes_zero else '  '}"


def _interval(score: float, low: float, high: float) -> str:
    if math.isnan(score):
        return "n/a"
    return f"{score:.2f} [{low:.2f}, {high:.2f}]"


def plot_compare(comparison: Comparison):
    """Curves of every report (mean ± CI); a second panel of normalized scores if any."""
    reports, names, group = comparison.reports, comparison.names, comparison.normalized
    scored = list(group["scores"].items()) if group is not None else []
    fig, axes = _figure(2 if scored else 1, width_per_panel=5.4)
    episodes = max(r["episodes"] for r in reports)
    for i, (name, report) in enumerate(zip(names, reports, strict=True)):
        s = report["summary"]
        _curve(axes[0], s["episode"], s["mean_return"], s["ci95_return"], name, f"C{i % 10}")
    _episode_axis(axes[0], episodes)
    census = comparison.census
    axes[0].set_ylabel("episode return (mean ± 95% CI over "
                       f"{'seeds within tasks' if census else 'tasks'})")
    axes[0].legend(fontsize=8, loc="best")
    if scored:
        ax = axes[1]
        ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
        ax.axhline(1.0, color="0.4", linestyle=":", linewidth=1)
        ax.text(0.8, 0.0, " dr", va="bottom", fontsize=8, color="0.3")
        ax.text(0.8, 1.0, " oracle", va="bottom", fontsize=8, color="0.3")
        for i, s in scored:
            x = np.arange(1, len(s["score"]) + 1)
            color = f"C{i % 10}"
            ax.plot(x, s["score"], marker="o", color=color, label=names[i], linewidth=1.8)
            ax.fill_between(x, s["low"], s["high"], color=color, alpha=0.18, linewidth=0)
        _episode_axis(ax, episodes)
        ax.set_ylabel("normalized score (0 = dr, 1 = oracle)")
        ax.set_title("shaded: 95% bootstrap interval over "
                     f"{'seeds within tasks' if census else 'tasks'}", fontsize=8.5)
        ax.legend(fontsize=8, loc="best")
    families = sorted({f"{r['family']} {split_label(r)}" for r in reports})
    fig.suptitle("adaptation curves: " + ", ".join(families), fontsize=9.5)
    return fig
