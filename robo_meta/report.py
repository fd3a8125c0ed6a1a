"""Evaluation reports: the JSON, the terminal tables, the adaptation-curve and compare figures.

A report (``robo-meta evaluate --out REPORT.json``) holds everything needed to recompute its
summary: per task, per seed, per episode returns (and success where the family defines it).
It is deterministic: the same policy, tasks and seed give the same bytes, so timing and
machine facts are printed, never stored. Layout::

    {"format": "robo_meta.report/1", "family", "split", "tasks_file", "policy": {name, algo,
     source, adaptive, family, meta}, "episodes", "seeds", "seed", "deterministic", "device",
     "num_envs", "tasks": [{"task", "seeds", "returns": [[K] per seed], "success": ...}],
     "summary": {"episode", "mean_return", "ci95_return", "success_rate", "ci"}}

Summary statistics treat tasks as the independent units: seeds are averaged within a task
first, then mean and 95 % Student-t interval over tasks, per episode index.

The normalized score of ``compare`` is (R_k - R_dr,k) / (R_oracle,k - R_dr,k) per episode
index k, on reports of the same family and task list: 0 is the non-adaptive ``dr`` baseline,
1 the ``oracle`` that is told the task.
"""

from __future__ import annotations

import io as _io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robo_meta import io
from robo_meta.envs.errors import RoboMetaError
from robo_meta.evaluation import TrialResults, summarize
from robo_meta.text import table

FORMAT = "robo_meta.report/1"
CI_METHOD = "95% Student-t over tasks (seeds averaged within a task)"


# -- building ------------------------------------------------------------------------------------
def build_report(*, policy: Any, source: str, family: str, tasks: Sequence[Any],
                 results: TrialResults, split: str | None, tasks_file: str | None,
                 episodes: int, seeds: int, seed: int, deterministic: bool, device: str,
                 num_envs: int | None) -> dict[str, Any]:
    """The report of ``results`` (from ``run_trials(..., seeds_per_task=seeds)``) on ``tasks``."""
    n = len(tasks)
    # trial r ran tasks[r % n] with repetition r // n: (seeds, n, K) -> (n, seeds, K)
    returns = results.returns.reshape(seeds, n, episodes).transpose(1, 0, 2)
    success = (None if results.success is None
               else results.success.reshape(seeds, n, episodes).transpose(1, 0, 2))
    trial_seeds = np.asarray(results.seeds).reshape(seeds, n).T
    entries = []
    for i, task in enumerate(tasks):
        entry: dict[str, Any] = {"task": task.to_dict(), "seeds": trial_seeds[i].tolist(),
                                 "returns": returns[i].tolist()}
        if success is not None:
            entry["success"] = success[i].tolist()
        entries.append(entry)
    per_task = returns.mean(axis=1)  # (n, K): seeds averaged within each task
    stats = summarize(per_task)
    summary: dict[str, Any] = {"episode": list(range(1, episodes + 1)),
                               "mean_return": stats["mean"], "ci95_return": stats["ci95"],
                               "ci": CI_METHOD}
    if success is not None:
        summary["success_rate"] = success.mean(axis=(0, 1)).tolist()
    return {
        "format": FORMAT,
        "family": family,
        "split": split,
        "tasks_file": tasks_file,
        "policy": {"name": policy.name, "algo": policy.algo, "source": source,
                   "adaptive": bool(policy.adaptive), "family": policy.family,
                   "meta": getattr(policy, "meta", {}) or {}},
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
    return data


def split_label(report: dict[str, Any]) -> str:
    """``test``, ``ood``, ``train`` or the tasks file's name."""
    if report.get("split"):
        return str(report["split"])
    return Path(str(report.get("tasks_file") or "tasks")).name


def tasks_key(report: dict[str, Any]) -> str:
    """Identical for reports on the same family and the same task list (in order)."""
    return json.dumps([report["family"], [t["task"] for t in report["tasks"]]], sort_keys=True)


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


def describe(report: dict[str, Any], sep: str = ": ") -> str:
    """What was evaluated on what (``sep="\n"`` for a two-line figure title)."""
    policy = report["policy"]
    mode = "" if policy["algo"] in ("random", "zero") else (
        ", mean actions" if report["deterministic"] else ", sampled actions")
    seeds = report["seeds"]
    return (f"{policy['name']} ({policy['algo']}) on {report['family']} "
            f"{split_label(report)}{sep}{report['num_tasks']} tasks x {seeds} "
            f"seed{'s' if seeds > 1 else ''} x {report['episodes']} episodes{mode}")


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


def normalized_scores(reports: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Normalized score per episode for every report that shares its tasks with a dr and an oracle.

    Returns (groups, notes): each group is ``{"where": "family split (n tasks)", "dr": i,
    "oracle": j, "scores": {report index: [score per episode]}}``; notes say what was not
    normalized. A score is NaN where R_oracle,k = R_dr,k or the report has no episode k.
    """
    groups: dict[str, list[int]] = {}
    for i, report in enumerate(reports):
        groups.setdefault(tasks_key(report), []).append(i)
    found, notes = [], []
    for members in groups.values():
        algos = [reports[i]["policy"]["algo"] for i in members]
        dr = [i for i, a in zip(members, algos, strict=True) if a == "dr"]
        oracle = [i for i, a in zip(members, algos, strict=True) if a == "oracle"]
        first = reports[members[0]]
        where = f"{first['family']} {split_label(first)} ({first['num_tasks']} tasks)"
        if not dr or not oracle:
            if len(reports) > 1:
                missing = " and ".join(n for n, m in (("dr", dr), ("oracle", oracle)) if not m)
                notes.append(f"no normalized score on {where}: no {missing} report on these tasks")
            continue
        if len(dr) > 1 or len(oracle) > 1:
            notes.append(f"several dr/oracle reports on {where}: normalizing by the first of each")
        d, o = dr[0], oracle[0]
        r_dr = np.asarray(reports[d]["summary"]["mean_return"], dtype=float)
        r_oracle = np.asarray(reports[o]["summary"]["mean_return"], dtype=float)
        scores = {}
        for i in members:
            if i in (d, o):
                continue
            r = np.asarray(reports[i]["summary"]["mean_return"], dtype=float)
            scores[i] = [_score(r[k], r_dr[k], r_oracle[k])
                         if k < min(len(r_dr), len(r_oracle)) else math.nan
                         for k in range(len(r))]
        found.append({"where": where, "dr": d, "oracle": o, "scores": scores})
    return found, notes


def _score(r: float, r_dr: float, r_oracle: float) -> float:
    gap = r_oracle - r_dr
    return (r - r_dr) / gap if abs(gap) > 1e-12 else math.nan


def compare_tables(reports: Sequence[dict[str, Any]], names: Sequence[str],
                   groups: Sequence[dict[str, Any]]) -> str:
    """Mean return ± CI per episode for every report, then the normalized scores."""
    episodes = max(r["episodes"] for r in reports)
    header = ["report", "family", "tasks", *[f"ep {k}" for k in range(1, episodes + 1)]]
    rows = []
    for name, report in zip(names, reports, strict=True):
        s = report["summary"]
        cells = [f"{m:.2f} ± {c:.2f}" for m, c in zip(s["mean_return"], s["ci95_return"],
                                                        strict=True)]
        rows.append([name, report["family"], f"{split_label(report)} ({report['num_tasks']})",
                     *cells, *[""] * (episodes - len(cells))])
    parts = ["mean return ± 95% CI over tasks", table(rows, header, left=3)]
    with_success = [(n, r) for n, r in zip(names, reports, strict=True)
                    if r["summary"].get("success_rate")]
    if with_success:
        rows = [_pad([n, *[f"{v:.3f}" for v in r["summary"]["success_rate"]]], episodes + 1)
                for n, r in with_success]
        parts += ["", "success rate",
                  table(rows, ["report", *[f"ep {k}" for k in range(1, episodes + 1)]], left=1)]
    for group in groups:
        parts += ["", f"normalized score on {group['where']}: "
                      f"(R_k - R_dr,k) / (R_oracle,k - R_dr,k); dr = {names[group['dr']]} (0), "
                      f"oracle = {names[group['oracle']]} (1)"]
        if not group["scores"]:
            parts.append("(no other report on these tasks)")
            continue
        rows = [_pad([names[i], *[_show(v) for v in scores]], episodes + 1)
                for i, scores in group["scores"].items()]
        parts.append(table(rows, ["report", *[f"ep {k}" for k in range(1, episodes + 1)]], left=1))
    return "\n".join(parts)


def _pad(cells: list[str], width: int) -> list[str]:
    return cells + [""] * (width - len(cells))


def _show(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def plot_compare(reports: Sequence[dict[str, Any]], names: Sequence[str],
                 groups: Sequence[dict[str, Any]]):
    """Curves of every report (mean ± CI); a second panel of normalized scores if any."""
    scored = [(g, i, s) for g in groups for i, s in g["scores"].items()]
    fig, axes = _figure(2 if scored else 1, width_per_panel=5.4)
    episodes = max(r["episodes"] for r in reports)
    for i, (name, report) in enumerate(zip(names, reports, strict=True)):
        s = report["summary"]
        _curve(axes[0], s["episode"], s["mean_return"], s["ci95_return"], name, f"C{i % 10}")
    _episode_axis(axes[0], episodes)
    axes[0].set_ylabel("episode return (mean ± 95% CI over tasks)")
    axes[0].legend(fontsize=8, loc="best")
    if scored:
        ax = axes[1]
        ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
        ax.axhline(1.0, color="0.4", linestyle=":", linewidth=1)
        ax.text(0.8, 0.0, " dr", va="bottom", fontsize=8, color="0.3")
        ax.text(0.8, 1.0, " oracle", va="bottom", fontsize=8, color="0.3")
        for _, i, scores in scored:
            ax.plot(range(1, len(scores) + 1), scores, marker="o", color=f"C{i % 10}",
                    label=names[i], linewidth=1.8)
        _episode_axis(ax, episodes)
        ax.set_ylabel("normalized score (0 = dr, 1 = oracle)")
        ax.legend(fontsize=8, loc="best")
    families = sorted({f"{r['family']} {split_label(r)}" for r in reports})
    fig.suptitle("adaptation curves: " + ", ".join(families), fontsize=9.5)
    return fig
