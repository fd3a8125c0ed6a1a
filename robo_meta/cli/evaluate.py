"""``robo-meta evaluate``: held-out adaptation of a policy, as a JSON report, a table and a PNG.

One trial of ``--episodes`` episodes per task and seed, every trial in parallel on the batched
simulator; the policy adapts as its algorithm defines and forgets between trials. Trial r
(task r mod N, repetition r div N) resets with seed ``--seed + r``, so the same command gives
the same report, byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from robo_meta.argtypes import (
    MAX_EPISODES,
    MAX_NUM_ENVS,
    MAX_SEEDS,
    MAX_TASKS,
    MAX_THREADS,
    check_writable,
    nonnegative_int,
    positive_int,
    seed,
)
from robo_meta.envs import Task, get_family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.identification import describe as describe_identification
from robo_meta.inner_steps import check_maml, inner_steps_list, taking


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a policy's adaptation on held-out tasks",
        description="Run one trial of K episodes per held-out task (and seed) in one batch; "
                    "write a JSON report, print the adaptation table and draw the curve "
                    "(REPORT.png beside REPORT.json). A policy that estimates the task (rma; "
                    "rl2 trained with --task-inference-coef) is also scored on how well its "
                    "estimate tracks the task, by step of each episode.",
    )
    parser.add_argument("--policy", required=True,
                        help="checkpoint directory, pretrained:NAME, sb3:FILE.zip, random or zero")
    parser.add_argument("--family", help="task family (default: the policy's family)")
    parser.add_argument("--split", help="test (default: final reports), val (for checks during "
                                        "training), ood or train (--train-tasks samples from "
                                        "the training distribution with --seed)")
    parser.add_argument("--tasks-file", type=Path,
                        help="JSON list of Task.to_dict() objects, instead of a split")
    parser.add_argument("--train-tasks", type=positive_int(MAX_TASKS), default=40,
                        help="tasks sampled for --split train (default 40)")
    parser.add_argument("--episodes", type=positive_int(MAX_EPISODES),
                        help=f"episodes per trial K (at most {MAX_EPISODES}; default 3, or "
                             "E + 1 for a policy that explores E episodes before it adapts)")
    parser.add_argument("--seeds", type=positive_int(MAX_SEEDS), default=1,
                        help=f"trials per task (default 1, at most {MAX_SEEDS})")
    parser.add_argument("--seed", type=seed, default=0, help="base seed (default 0; < 2**32)")
    parser.add_argument("--num-envs", type=positive_int(MAX_NUM_ENVS),
                        help=f"simulations stepped together (default: every trial at once, "
                             f"at most {MAX_NUM_ENVS}; the report does not depend on it)")
    parser.add_argument("--threads", type=nonnegative_int(MAX_THREADS), default=0,
                        help="threads of the simulation batch (default 0: every CPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--stochastic", action="store_true",
                        help="sample actions instead of taking the mean (seeded by --seed)")
    parser.add_argument("--inner-steps", type=inner_steps_list, metavar="K,K,...",
                        help="maml only: the return after each number of inner gradient steps "
                             "(e.g. 0,1,3), paired over the same trials; writes REPORT-kK.json "
                             "per K and the learned step sizes' figure REPORT-inner-lr.png")
    parser.add_argument("--fresh-episodes", action="store_true",
                        help="maml only: MAML's protocol for several inner steps: each step "
                             "on new exploration episodes, sampled with the weights the step "
                             "before gave (E x k episodes explored for k steps); default: "
                             "every step reuses the first E, as in training")
    parser.add_argument("--probe", type=positive_int(MAX_TASKS), metavar="N",
                        help="rl2 only: fit a linear probe of the task features on the policy's "
                             "memory over N tasks sampled from the training distribution (with "
                             "--seed + 1), and score it by step of each episode of these trials "
                             "(does the memory hold the task, and from when?)")
    parser.add_argument("--out", type=Path,
                        help="report path (default reports/POLICY-FAMILY-SPLIT.json)")
    add_trust_pickle(parser)
    parser.set_defaults(run=run)


def add_trust_pickle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-pickle", action="store_true",
                        help="load sb3: zips with SB3's own loader, which unpickles them, so "
                             "the file can run code: only for files whose author you trust "
                             "(default: load without unpickling; a zip that needs it is "
                             "refused)")


def _check_args(args: argparse.Namespace) -> None:
    """What the flags' types cannot check alone (numbers are range-checked by their types)."""
    if args.split is not None and args.tasks_file is not None:
        raise RoboMetaError("give --split or --tasks-file, not both")
    if args.probe is not None and args.inner_steps is not None:
        raise RoboMetaError("--probe reads an rl2 memory; --inner-steps is for maml")
    if args.out is not None:
        if args.out.suffix == ".png":
            raise RoboMetaError(f"--out {args.out}: the report is JSON (its figure goes "
                                f"beside it)")
        check_outputs(args.out)


def check_outputs(out: Path) -> None:
    """The report ``out`` and its figure beside it can be written (before any work)."""
    check_writable(out, "--out")
    check_writable(out.with_suffix(".png"), "--out (its figure)")


def warn_trust_pickle(command: str, *policies: str | None) -> None:
    """The one warning line of ``--trust-pickle`` when it applies to an ``sb3:`` policy."""
    if any(p is not None and p.startswith("sb3:") for p in policies):
        print(f"robo-meta {command}: warning: --trust-pickle: SB3's own loader unpickles the "
              f"zip, which runs any code stored in it; use it only on files you trust",
              file=sys.stderr)


def resolve_tasks(args: argparse.Namespace, family_name: str,
                  file_tasks: list[Task] | None) -> tuple[list[Task], str | None]:
    """(validated tasks, split name or None for a tasks file)."""
    family = get_family(family_name)
    if file_tasks is not None:
        checked = []
        for i, task in enumerate(file_tasks):
            if task.family != family.name:
                raise RoboMetaError(
                    f"tasks file {args.tasks_file}, task {i}: a task of family {task.family!r},"
                    f" not {family.name!r}"
                )
            try:
                checked.append(family.validate(task))
            except RoboMetaError as exc:
                raise RoboMetaError(f"tasks file {args.tasks_file}, task {i}: {exc}") from None
        return checked, None
    split = args.split or "test"
    if split == "train":
        return family.sample_tasks(args.train_tasks, args.seed), split
    if not family.has_split(split):
        known = ", ".join(["train", *family.spec.splits])
        raise RoboMetaError(f"family {family.name} has no {split!r} split (it has: {known})")
    return family.tasks(split), split


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    from robo_meta.evaluation import read_tasks_file

    file_tasks = read_tasks_file(args.tasks_file) if args.tasks_file is not None else None
    from robo_meta import report as reports
    from robo_meta.adaptive import load_policy_on_family
    from robo_meta.device import resolve_device
    from robo_meta.evaluation import run_trials, trial_episodes
    from robo_meta.sb3_policy import trusting_pickle

    device = resolve_device(args.device)
    if args.trust_pickle:
        warn_trust_pickle("evaluate", args.policy)
    with trusting_pickle(args.trust_pickle):
        policy, family = load_policy_on_family(
            args.policy, args.family, task_family=file_tasks[0].family if file_tasks else None,
            device=device, seed=args.seed)
    family_name = get_family(family).name
    if args.inner_steps is not None:
        check_maml(policy, "--inner-steps")
    if args.fresh_episodes:
        check_maml(policy, "--fresh-episodes")
        policy.fresh_episodes = True
    if args.episodes is None:  # enough for the most steps asked
        most = (taking(policy, max(args.inner_steps)) if args.inner_steps
                else contextlib.nullcontext())
        with most:
            args.episodes = trial_episodes(policy)
    tasks, split = resolve_tasks(args, family, file_tasks)
    label = split or args.tasks_file.stem
    out = args.out or Path("reports") / f"{policy.name}-{family_name}-{label}.json"
    png = out.with_suffix(".png")
    if args.out is None:
        check_outputs(out)

    trials = len(tasks) * args.seeds
    width = args.num_envs if args.num_envs is not None or trials <= MAX_NUM_ENVS else MAX_NUM_ENVS
    if args.inner_steps is not None:
        from robo_meta.inner_steps import run_inner_steps

        return run_inner_steps(args, policy, family, tasks, split, out, device, width)
    evaluated, probed = policy, None
    if args.probe is not None:
        from robo_meta import probe as probes

        probes.check_probeable(policy)
        fitted = probes.fit_on_train_tasks(policy, family, args.probe, args.episodes,
                                           seed=args.seed + 1, threads=args.threads,
                                           deterministic=not args.stochastic)
        evaluated, probed = probes.scoring(policy, fitted, family)
    start = time.perf_counter()
    results = run_trials(evaluated, family, tasks, episodes=args.episodes, seed=args.seed,
                         seeds_per_task=args.seeds, num_envs=width, threads=args.threads,
                         deterministic=not args.stochastic)
    wall = time.perf_counter() - start
    report = reports.build_report(
        policy=policy, source=args.policy, family=family, tasks=tasks, results=results,
        split=split, tasks_file=None if args.tasks_file is None else str(args.tasks_file),
        episodes=args.episodes, seeds=args.seeds, seed=args.seed,
        deterministic=not args.stochastic, device=device.type, num_envs=args.num_envs,
    )
    tracked = results.identification
    if probed is not None:
        report["probe"] = {**probed.pop(args.episodes), **fitted.describe()}
    reports.write_report(report, out, png)
    steps = int(results.lengths.sum())
    print(reports.describe(report))
    print(reports.summary_table(report))
    if tracked is not None:
        print(describe_identification(tracked))
    if probed is not None:
        print(describe_identification(report["probe"]))
        print(f"probe: fitted on {fitted.tasks} train tasks, {fitted.rows:,} memory states; "
              f"R² {fitted.fit_r2:.3f} on them")
    print(f"{trials} trials, {steps:,} env steps in {wall:.2f} s ({steps / wall:,.0f} steps/s, "
          f"{device})")
    print(f"report: {out}\nfigure: {png}")
    return 0
