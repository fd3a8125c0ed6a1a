"""Scale a maml policy's inner step by c: does a larger step help every task, or only some?

No training; one evaluation per scale. On ``--tasks`` tasks of ``--split`` (ordered by their
first parameter's first number, then every n-th, so that they span the split), each trial
explores the policy's K exploration episodes with θ (sampled actions, as deployed), takes its
inner step(s) with every step size α multiplied by c, and runs episode K + 1 with mean
actions: the trial protocol of ``robo-meta evaluate --inner-steps``, with c = 1 exactly the
policy's own step and c = 0 no step. Printed: the return of episode K + 1 per task and scale,
seeds averaged, with each task's parameters.

What it tells: a step whose direction carries the task lifts every task as c grows (until it
overshoots); a step that moves every task the same way (a direction shared by the tasks,
such as "use less force") lifts some tasks and sinks the others. Used for docs/benchmarks.md::

    python scripts/maml_step_scale.py --policy runs/cv-pool20-s0 --tasks 10 --seeds 2
"""

import argparse
import sys

from robo_meta.argtypes import OneLineParser, UsageError, error_line, finite_float, positive_int
from robo_meta.envs.errors import RoboMetaError

SCALES = "0,1,3,10,30"


def spread_tasks(family, split: str, count: int) -> list:
    """``count`` tasks of ``split`` that span it: ordered by their first parameter's first
    number, then every n-th."""
    import numpy as np

    tasks = sorted(family.tasks(split), key=lambda t: float(np.ravel(t.params[0][1])[0]))
    return tasks[::max(1, len(tasks) // count)][:count]


def step_scale(policy, tasks: list, seeds: int, scales: list[float], threads: int = 1):
    """Episode K + 1's return, seeds averaged: an array (scales, tasks).

    Every step size α of ``policy`` is multiplied by c for the trials of scale c, and restored
    afterwards (also when a trial fails).
    """
    import numpy as np
    import torch

    from robo_meta.evaluation import run_trials

    k, lrs = policy.exploration_episodes, policy.module.inner_lrs
    saved = {name: a.detach().clone() for name, a in lrs.items()}
    table = np.zeros((len(scales), len(tasks)))
    try:
        for i, c in enumerate(scales):
            with torch.no_grad():
                for name, a in lrs.items():
                    a.copy_(saved[name] * c)
            results = run_trials(policy, policy.family, tasks, episodes=k + 1, seed=0,
                                 seeds_per_task=seeds, threads=threads)
            table[i] = results.returns[:, -1].reshape(seeds, len(tasks)).mean(0)
    finally:
        with torch.no_grad():
            for name, a in lrs.items():
                a.copy_(saved[name])
    return table


def report(source: str, split: str, num_tasks: int, seeds: int, scales: list[float],
           threads: int) -> None:
    """Load ``source``, scale its step on ``num_tasks`` tasks of ``split``, print the table."""
    import torch

    from robo_meta.adaptive import load_policy
    from robo_meta.envs import get_family

    torch.set_num_threads(1)
    policy = load_policy(source, device="cpu")
    if getattr(policy, "algo", None) != "maml":
        raise RoboMetaError(f"{source} is not a maml policy")
    if policy.inner_steps == 0:
        raise RoboMetaError(f"{source} takes no inner step: there is nothing to scale")
    fam = get_family(policy.family)
    tasks = spread_tasks(fam, split, num_tasks)
    table = step_scale(policy, tasks, seeds, scales, threads)
    k = policy.exploration_episodes
    print(f"policy {source} ({fam.name}); {len(tasks)} {split} tasks x {seeds} seeds; "
          f"{k} exploration episode(s), {policy.inner_steps} inner step(s) with α x c; "
          f"return of episode {k + 1} (mean actions), seeds averaged")
    print("     c " + " ".join(f"{f'task {i}':>8s}" for i in range(len(tasks))) + "      mean")
    for c, row in zip(scales, table, strict=True):
        print(f"{c:6g} " + " ".join(f"{x:8.1f}" for x in row) + f"  {row.mean():8.1f}")
    for i, task in enumerate(tasks):
        print(f"task {i}: " + ", ".join(f"{name} {_rounded(value)}" for name, value in task.params))


def _rounded(value):
    import numpy as np

    return np.round(np.asarray(value, dtype=float), 3).tolist()


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="maml_step_scale.py", description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="a maml checkpoint directory")
    parser.add_argument("--split", default="test", help="val, test or ood (default test)")
    parser.add_argument("--tasks", type=positive_int(1000), default=10)
    parser.add_argument("--seeds", type=positive_int(1000), default=2)
    parser.add_argument("--scales", default=SCALES,
                        help=f"comma-separated multipliers of the step sizes (default {SCALES})")
    parser.add_argument("--threads", type=positive_int(1024), default=1,
                        help="simulation threads")
    try:
        args = parser.parse_args(argv)
        scale = finite_float(0.0, 1e6)
        try:
            scales = [scale(c) for c in args.scales.split(",")]
        except argparse.ArgumentTypeError as exc:
            raise UsageError(parser.prog, f"--scales: {exc}") from None
        report(args.policy, args.split, args.tasks, args.seeds, scales, args.threads)
    except (UsageError, RoboMetaError) as exc:
        print(error_line(parser.prog, exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
