"""Pretrained policies: small checkpoints in ``policies/pretrained/<name>/`` with a card.

A pretrained directory is a checkpoint (``config.json``, ``state.pt``, ``meta.json``) whose
``state.pt`` keeps only the networks (no optimizer: it is for inference, not ``--resume``), plus
``card.md``: how it was trained (the exact command, steps, wall time, device) and its
``robo-meta evaluate`` tables on the family's ``test`` and ``ood`` splits. The same numbers are
kept machine-readable in ``meta.json["evaluation"]``, so a test can re-run the evaluation and
check that the card still holds, and the full reports (every trial's returns) in
``report-<split>.json``, so shipped policies of one family can be compared paired
(``robo-meta compare``, the measured gap of ``robo-meta families``) without re-running them.
``meta.json["val_curve"]`` keeps the run's quick evaluations (step and episode-1 return on
``val``, from its metrics.csv), so whether training had converged can be checked from the
shipped files too (``robo_meta.quality_bars.plateau``).

Every card evaluates 3 episodes per trial, except a policy that explores K > 2 episodes before
it adapts (``maml --inner-episodes K``): its card runs K + 1, and since the family's ``dr`` and
``oracle`` reports hold 3, it also keeps theirs on its own trials (``report-<split>-dr.json``,
``-oracle.json``), the references of its normalized score and paired differences.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from robo_meta import checkpoint, io
from robo_meta.adaptive import PRETRAINED_DIR, load_policy, pretrained_names
from robo_meta.envs import get_family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.evaluation import DEFAULT_EPISODES, run_trials, shown_episodes, trial_episodes
from robo_meta.identification import format_r2, milestones
from robo_meta.inner_steps import steps_table, taking
from robo_meta.report import (
    action_mode,
    build_report,
    load_report,
    normalized_score,
    paired_difference,
    report_json,
    summary_table,
    unpaired_reason,
)

# the evaluation protocol of every card: K episodes per trial (``trial_episodes``: 3, or
# K + 1 for a policy that explores K before its step), seeds per task, base seed
EPISODES, SEED = DEFAULT_EPISODES, 0
# the memoryless references of a card's normalized score and paired differences
REFERENCES = ("dr", "oracle")


def evaluate_splits(source: str, seeds: int, splits: tuple[str, ...] = ("test", "ood"),
                    label: str | None = None, root: Path = PRETRAINED_DIR
                    ) -> dict[str, dict[str, Any]]:
    """The report of ``source`` on each held-out split of its family (CPU, deterministic).

    ``label`` is the source the reports name (``pretrained:NAME`` rather than a folder).
    A policy that adapts by gradient steps (``maml``) gets a second report per split under
    ``SPLIT-k0``: the same trials with no inner step (θ itself after the same exploration
    episode), the baseline of its "return after k steps" table (``steps_reports``). Where
    its card runs more than 3 episodes (``trial_episodes``), the family's ``dr`` and
    ``oracle`` shipped in ``root`` run the same trials too, under ``SPLIT-dr`` and
    ``SPLIT-oracle`` (``references``).
    """
    policy = load_policy(source, device="cpu")
    family = get_family(policy.family)
    episodes = trial_episodes(policy)
    own = label or source
    runs = {"": (policy, own, None)}  # report suffix: (policy, the source it names, k)
    if getattr(policy, "algo", None) == "maml":
        runs["-k0"] = (policy, own, 0)
    if episodes != EPISODES:
        for ref in REFERENCES:
            folder = root / f"{family.name}-{ref}"
            if (folder / "meta.json").is_file():
                runs[f"-{ref}"] = (load_policy(str(folder), device="cpu"),
                                   f"pretrained:{folder.name}", None)
    reports = {}
    for split in splits:
        if not family.has_split(split):
            continue
        tasks = family.tasks(split)
        for suffix, (player, named, k) in runs.items():
            with contextlib.nullcontext() if k is None else taking(player, k):
                results = run_trials(player, family.name, tasks, episodes=episodes, seed=SEED,
                                     seeds_per_task=seeds)
                reports[split + suffix] = build_report(
                    policy=player, source=named, family=family.name, tasks=tasks,
                    results=results, split=split, tasks_file=None, episodes=episodes,
                    seeds=seeds, seed=SEED, deterministic=True, device="cpu", num_envs=None)
    return reports


def _is_reference(split: str) -> bool:
    """Whether ``evaluate_splits``'s key ``split`` is a reference's (``SPLIT-dr``...)."""
    return split.endswith(tuple(f"-{ref}" for ref in REFERENCES))


def _is_own(split: str) -> bool:
    """Whether ``evaluate_splits``'s key ``split`` is the policy's own report, as trained."""
    return not split.endswith("-k0") and not _is_reference(split)


def export(run_dir: str | Path, name: str, command: str, seeds: int = 1, notes: str = "",
           root: Path = PRETRAINED_DIR) -> Path:
    """Copy run ``run_dir`` to ``root/name`` (policy weights only) and write its card."""
    config, state, meta = checkpoint.load(run_dir)
    target = root / name
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".tmp-{name}-") as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        io.write_json(staging / "config.json", config)
        torch.save({"format": checkpoint.FORMAT, "modules": state["modules"], "algorithm": {},
                    "runner": state["runner"]}, staging / "state.pt")
        meta = {**meta, "training_command": command,
                "state_sha256": checkpoint.sha256(staging / "state.pt")}
        curve = val_curve(run_dir)
        if curve is not None:
            meta["val_curve"] = curve
        io.write_json(staging / "meta.json", meta)
        reports = evaluate_splits(str(staging), seeds, label=f"pretrained:{name}", root=root)
        meta["evaluation"] = _evaluation(reports, seeds)
        io.write_json(staging / "meta.json", meta)
        _write_reports(staging, reports)
        io.write_text(staging / "card.md", card(name, config, meta, reports, notes))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def val_curve(run_dir: str | Path) -> dict[str, list] | None:
    """The quick evaluations of a run (``--eval-every``): ``{"steps": [...], "return_ep1":
    [...]}`` from its metrics.csv, the rows that have ``eval/return_ep1``; None without any."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("eval/return_ep1")]
    if not rows:
        return None
    return {"steps": [int(float(r["step"])) for r in rows],
            "return_ep1": [float(r["eval/return_ep1"]) for r in rows]}


def refresh(name: str, root: Path = PRETRAINED_DIR) -> Path:
    """Re-evaluate shipped policy ``name`` on its family's splits as they are now.

    For when a family's held-out splits change: only ``meta.json["evaluation"]`` and the card's
    tables are rewritten (same protocol and seeds per task as before, the card's notes kept);
    the weights, ``config.json`` and the training facts stay as they are.
    """
    folder = root / check_name(name)
    if not (folder / "meta.json").is_file():
        known = ", ".join(pretrained_names()) if root == PRETRAINED_DIR else str(root)
        raise RoboMetaError(f"no pretrained policy {name!r} (available: {known})")
    config = io.read_json(folder / "config.json", "checkpoint config")
    meta = io.read_json(folder / "meta.json", "checkpoint meta")
    seeds = meta.get("evaluation", {}).get("test", {}).get("seeds", 1)
    notes = card_notes((folder / "card.md").read_text())
    reports = evaluate_splits(str(folder), seeds, label=f"pretrained:{name}", root=root)
    meta["evaluation"] = _evaluation(reports, seeds)
    io.write_json(folder / "meta.json", meta)
    _write_reports(folder, reports)
    io.write_text(folder / "card.md", card(name, config, meta, reports, notes))
    return folder


def _write_reports(folder: Path, reports: dict[str, dict[str, Any]]) -> None:
    for split, report in reports.items():
        io.write_text(folder / f"report-{split}.json", report_json(report))


def shipped_report(name: str, split: str, root: Path = PRETRAINED_DIR) -> dict[str, Any] | None:
    """The stored ``split`` report of shipped policy ``name``; None if it has none."""
    path = root / check_name(name) / f"report-{split}.json"
    return load_report(path) if path.is_file() else None


def _evaluation(reports: dict[str, dict[str, Any]], seeds: int) -> dict[str, Any]:
    """``meta.json["evaluation"]``: the protocol and summary of each split's report."""
    return {split: {"episodes": r["episodes"], "seeds": seeds, "seed": SEED,
                    **{k: r["summary"][k] for k in ("mean_return", "ci95_return")}}
            for split, r in reports.items() if not _is_reference(split)}


def card_notes(text: str) -> str:
    """The free paragraph of a card written by ``card`` (between the facts and the tables)."""
    lines = text.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("- seed: ")), None)
    if start is None:
        return ""
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip()


def card(name: str, config: dict, meta: dict, reports: dict, notes: str) -> str:
    """The markdown card of a pretrained policy."""
    train = config["train"]
    lines = [
        f"# {name}",
        "",
        f"`{train['algo']}` policy for the `{meta['family']}` family "
        f"({get_family(meta['family']).spec.description}).",
        "",
        "## Training",
        "",
        "```",
        meta["training_command"],
        "```",
        "",
        *_budget_lines(meta),
        f"- device: {meta['device']} ({meta.get('device_name', '')})",
        f"- seed: {train['seed']}; versions: "
        + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()),
    ]
    if notes:
        lines += ["", notes]
    for split, report in reports.items():
        if not _is_own(split):
            continue
        seeds, episodes = report["seeds"], report["episodes"]
        flags = f"--split {split} --seeds {seeds}" + (
            f" --episodes {episodes}" if episodes != EPISODES else "")
        lines += [
            "", f"## Evaluation on `{split}` ({report['num_tasks']} tasks x {seeds} seed"
            f"{'s' if seeds > 1 else ''}, {episodes} episodes per trial, {action_mode(report)})",
            "",
            "```",
            f"robo-meta evaluate --policy pretrained:{name} {flags}",
            "```", "", "```", summary_table(report), "```",
        ]
        steps = steps_reports(reports, split)
        if steps is not None:
            k, scored = report["policy"]["meta"]["inner_steps"], steps[0]
            lines += [
                "", "Return after k inner steps (the same trials; k = 0 is θ itself after the "
                "same exploration):", "", "```",
                f"robo-meta evaluate --policy pretrained:{name} {flags} --inner-steps 0,{k}",
                "```", "", "```", steps_table(list(steps[1:]), [0, k], scored), "```"]
    return "\n".join(lines) + "\n"


def steps_reports(reports: dict[str, dict[str, Any]], split: str
                  ) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
    """``(scored episode, 0-based; report with no inner step; report as trained)`` of a
    maml policy's ``split``, from ``evaluate_splits``'s reports; None for other policies."""
    if f"{split}-k0" not in reports:
        return None
    report = reports[split]
    return report["policy"]["meta"]["exploration_episodes"], reports[f"{split}-k0"], report


def measured_gap(family: str, split: str = "test",
                 root: Path = PRETRAINED_DIR) -> dict[str, Any] | None:
    """Oracle - dr of the shipped ``<family>-oracle`` and ``<family>-dr``, paired, on ``split``.

    The family-validity test of the benchmark: privileged task features must pay, or the
    family's randomization does not call for adaptation. Episode 1 of the stored reports (both
    policies are memoryless, so every episode estimates the same thing); None when either
    policy or report is not shipped.
    """
    names = (f"{family}-oracle", f"{family}-dr")
    oracle, dr = (shipped_report(n, split, root) for n in names)
    if oracle is None or dr is None:
        return None
    reason = unpaired_reason(oracle, dr)
    if reason is not None:
        raise RoboMetaError(f"shipped reports {names[0]} and {names[1]} are not paired: {reason}")
    diff = paired_difference(oracle, dr)
    mean, excludes_zero = diff["mean"][0], diff["excludes_zero"][0]
    verdict = "not significant" if not excludes_zero else "valid" if mean > 0 else "oracle below dr"
    return {"mean": mean, "ci95": diff["ci95"][0], "significant": excludes_zero and mean > 0,
            "verdict": verdict, "tasks": oracle["num_tasks"], "seeds": oracle["seeds"]}


def matrix(split: str = "test", root: Path = PRETRAINED_DIR) -> list[dict[str, Any]]:
    """The benchmark matrix of the shipped policies on ``split``, from their stored reports.

    One row per shipped policy with a ``split`` report: family, algo, env steps, training wall
    time, mean return ± 95 % CI by episode, the run's quick-eval curve (``val_curve``, None if
    not stored), and, where the family's ``dr`` and ``oracle`` are
    shipped, the normalized score (bootstrap interval) and the paired difference to ``dr`` by
    episode: against the ``dr`` and ``oracle`` reports a card keeps of its own trials where it
    has them (``evaluate_splits``), else against the family's. Rows are ordered by family, then
    dr, oracle, rl2 and the rest by name.
    """
    order = {"dr": 0, "oracle": 1, "rl2": 2}
    rows = []
    reports = {name: shipped_report(name, split, root) for name in
               pretrained_names(root, holding="meta.json")}  # each read once
    for name, report in reports.items():
        if report is None:
            continue
        meta = io.read_json(root / name / "meta.json", "checkpoint meta")
        family, algo = meta["family"], meta["algo"]
        dr, oracle = (shipped_report(name, f"{split}-{ref}", root)
                      or reports.get(f"{family}-{ref}") for ref in REFERENCES)
        steps, wall = checkpoint.training_budget(meta)
        row = {"name": name, "family": family, "algo": algo, "steps": steps,
               "wall_time_s": wall,
               "device": meta.get("device_name", meta.get("device", "")),
               "mean": report["summary"]["mean_return"], "ci95": report["summary"]["ci95_return"],
               "val_curve": meta.get("val_curve"), "normalized": None, "minus_dr": None}
        if dr is not None and oracle is not None and unpaired_reason(report, dr) is None \
                and unpaired_reason(report, oracle) is None:
            row["normalized"] = normalized_score(report, dr, oracle)
            if algo != "dr":
                row["minus_dr"] = paired_difference(report, dr)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["family"], order.get(r["algo"], 3), r["name"]))


def matrix_markdown(rows: list[dict[str, Any]]) -> str:
    """``matrix`` rows as one markdown table (episodes 1 / 2 / 3 in each cell; for a card of
    more episodes, the first and its last two, named in the cell)."""
    lines = ["| family | policy | env steps | wall time | return ± 95 % CI, ep 1 / 2 / 3 "
             "| normalized score [95 % CI] | A - dr, paired (* excludes 0) | trained on |",
             "|---|---|---:|---:|---|---|---|---|"]
    for r in rows:
        ret = episodes_cell([f"{m:.1f} ± {c:.1f}" for m, c in zip(r["mean"], r["ci95"],
                                                                     strict=True)])
        ns, d = r["normalized"], r["minus_dr"]
        score = "" if ns is None or r["algo"] in ("dr", "oracle") else episodes_cell([
            f"{v:.2f} [{lo:.2f}, {hi:.2f}]"
            for v, lo, hi in zip(ns["score"], ns["low"], ns["high"], strict=True)])
        diff = "" if d is None else episodes_cell([
            f"{m:+.1f} ± {c:.1f}{'*' if e else ''}"
            for m, c, e in zip(d["mean"], d["ci95"], d["excludes_zero"], strict=True)])
        wall = "" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f} s"
        lines.append(f"| {r['family']} | {r['algo']} | {r['steps'] / 1e6:.1f} M | {wall} "
                     f"| {ret} | {score} | {diff} | {r['device']} |")
    return "\n".join(lines)


def episodes_cell(values: list[str]) -> str:
    """A matrix cell, one value per episode: episodes 1 / 2 / 3, or of a longer trial the
    first and the last two, named."""
    shown = shown_episodes(len(values))
    named = (f"(ep {' / '.join(str(i + 1) for i in shown)}) " if len(shown) < len(values)
             else "")
    return named + " / ".join(values[i] for i in shown)


def identification_markdown(root: Path = PRETRAINED_DIR,
                            splits: tuple[str, ...] = ("test", "ood")) -> str:
    """One markdown row per shipped policy that estimates its task (rma's ẑ, an rl2 task
    head): R² of the estimate at a few steps (``identification.milestones``), from the
    records in its reports; each cell holds one value per split, in ``splits`` order ('-'
    where there is none)."""
    lines = ["| policy | estimate | ep 1, step 10 | step 50 | last step all reached (step) "
             "| ep 2, step 1 |", "|---|---|---|---|---|---|"]
    for name in pretrained_names(root, holding="meta.json"):
        records = {split: (shipped_report(name, split, root) or {}).get("identification")
                   for split in splits}
        found = {split: milestones(r) for split, r in records.items() if r is not None}
        if not found:
            continue

        def cell(show, found=found) -> str:
            return " / ".join(show(found[s]) if s in found else "-" for s in splits)

        estimate = next(r["estimate"] for r in records.values() if r is not None)
        lines.append(" | ".join([
            f"| `{name}`", estimate, cell(lambda m: format_r2(m["step_10"])),
            cell(lambda m: format_r2(m["step_50"])),
            cell(lambda m: f"{format_r2(m['last'])} ({m['last_step']})"),
            cell(lambda m: format_r2(m["episode_2"]))]) + " |")
    return "\n".join(lines)


def _budget_lines(meta: dict[str, Any]) -> list[str]:
    """The card's steps and wall time: all the training behind the weights, and for a run
    started with ``--init-from``, how much of it was that run's."""
    steps, wall = checkpoint.training_budget(meta)
    lines = [f"- steps: {steps:,}", f"- wall time: {wall:.0f} s of training (collection + updates)"]
    before = meta.get("init_from")
    if before:
        lines.append(f"- of which before `--init-from {before['source']}`: "
                     f"{before['steps']:,} steps, {before['wall_time_s']:.0f} s; this run "
                     f"{meta['steps']:,} steps, {meta['wall_time_s']:.0f} s")
    return lines


def describe_all() -> list[dict[str, Any]]:
    """One row per shipped policy: name, family, algo, steps, device, test returns."""
    rows = []
    for name in pretrained_names():
        meta = json.loads((PRETRAINED_DIR / name / "meta.json").read_text())
        test = meta.get("evaluation", {}).get("test", {}).get("mean_return", [])
        rows.append({"name": name, "family": meta["family"], "algo": meta["algo"],
                     "steps": checkpoint.training_budget(meta)[0],
                     "device": meta.get("device_name", meta["device"]),
                     "test_return": test})
    return rows


def check_name(name: str) -> str:
    if not name or any(c in name for c in "/\\:") or name.startswith("."):
        raise RoboMetaError(f"bad pretrained name {name!r}: use letters, digits and dashes")
    return name
