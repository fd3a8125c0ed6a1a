"""``robo-meta evaluate --inner-steps 0,1,3``: the return after k gradient steps, as MAML's
papers report it, and the figure of Meta-SGD's learned step sizes.

For each k the same trials run (same tasks, seeds and exploration episode: its actions are
drawn from the same generator state), and the policy takes k inner steps on its exploration
episode; the score of k is the return of the first episode after the exploration episodes
(episode 2 for a policy that explores one episode), with mean actions. Because everything
else is equal, the difference between two values of k is paired trial by trial; the table
gives each k's return and its paired difference from the first k listed, with a 95 %
Student-t interval over tasks (seeds averaged within a task), as ``robo-meta compare``.

k = 0 is θ itself (no step); a k larger than the policy was trained with extrapolates (MAML's
papers show up to 3 steps for a 1-step policy). Repeated steps reuse the exploration
episodes, importance-weighted (see robo_meta.algos.maml), as in training; with
``--fresh-episodes`` each step is taken on new ones, sampled with the weights of the step
before (MAML's protocol: its "3 steps" are on 3 x 20 episodes), so k steps score the episode
after k x E exploration episodes, and the table names each k's episode.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robo_meta.argtypes import int_list
from robo_meta.envs.errors import RoboMetaError
from robo_meta.text import table

MAX_INNER_STEPS = 100


inner_steps_list = int_list("inner steps", 0, MAX_INNER_STEPS, "0,1,3")
"""argparse type: comma-separated distinct integers in [0, 100], e.g. ``0,1,3``."""


def check_policy(policy: Any, episodes: int, steps: list[int]) -> list[int]:
    """The episode (0-based) that scores each k of ``steps``; one line if ``policy`` cannot
    take steps or a trial of ``episodes`` does not reach one of them."""
    check_maml(policy, "--inner-steps")
    scored = []
    for k in steps:
        with taking(policy, k):
            scored.append(int(policy.explored_episodes))
    if episodes <= max(scored):
        raise RoboMetaError(f"--inner-steps: --episodes must be at least {max(scored) + 1} "
                            f"(the policy explores for {max(scored)} episode(s) before it is "
                            f"scored)")
    return scored


def check_maml(policy: Any, flag: str) -> None:
    """One line if ``policy`` does not adapt by gradient steps."""
    if getattr(policy, "algo", None) != "maml" or not hasattr(policy, "inner_steps"):
        raise RoboMetaError(f"{flag} needs a maml policy (it adapts by gradient steps); "
                            f"{policy.name} is {getattr(policy, 'algo', '?')}")


@contextlib.contextmanager
def taking(policy: Any, k: int) -> Iterator[None]:
    """Inside the block ``policy`` takes ``k`` inner steps per adaptation; after it, the number
    it was trained with again (also when a trial fails)."""
    trained = policy.inner_steps
    policy.inner_steps = k
    try:
        yield
    finally:
        policy.inner_steps = trained


def output_paths(out: Path, steps: list[int]) -> dict[str, Path]:
    """Where each k's report goes (``REPORT-k1.json``...) and the step-size figure."""
    paths = {f"k{k}": out.with_name(f"{out.stem}-k{k}.json") for k in steps}
    paths["inner_lr_png"] = out.with_name(f"{out.stem}-inner-lr.png")
    return paths


def steps_table(reports: list[dict[str, Any]], steps: list[int],
                episode: int | list[int]) -> str:
    """Rows: k, mean return of ``episode`` (0-based; one per k where they differ, as with
    fresh episodes) ± 95 % CI, paired difference from the first k.

    Intervals as ``robo-meta compare``'s: over tasks (seeds averaged within each), or over the
    seeds within tasks where the tasks are a census of the distribution (cheetah-dir)."""
    from robo_meta.report import interval, is_census, trials

    census = is_census(reports[0])
    episodes = [episode] * len(steps) if isinstance(episode, int) else list(episode)
    returns = [trials(r)[:, :, [e]] for r, e in zip(reports, episodes, strict=True)]
    one = len(set(episodes)) == 1  # then the header names it; else a column per row
    rows = []
    for k, e, values in zip(steps, episodes, returns, strict=True):
        own = interval(values, census)
        diff = interval(values - returns[0], census)
        mean, ci = diff["mean"][0], diff["ci95"][0]
        paired = ("" if k == steps[0] else
                  f"{mean:+.2f} ± {ci:.2f}" + (" *" if abs(mean) > ci else ""))
        rows.append([str(k), *([] if one else [str(e + 1)]), f"{own['mean'][0]:.2f}",
                     f"{own['ci95'][0]:.2f}", paired])
    header = ["inner steps", *([] if one else ["episode"]),
              f"return (episode {episodes[0] + 1})" if one else "return", "± 95% CI",
              f"vs {steps[0]} steps (paired)"]
    return table(rows, header, left=1) + "\n* the 95% interval excludes 0"


def plot_inner_lrs(module) -> Any:
    """Meta-SGD's step sizes by adapted tensor: a box of each tensor's values, its mean, and
    the initial value (a policy trained with a fixed step shows flat lines)."""
    from robo_meta.report import _figure

    sizes = module.step_sizes()
    names = list(sizes)
    values = [sizes[n].detach().cpu().double().flatten().numpy() for n in names]
    fig, axes = _figure(1, width_per_panel=7.0)
    ax = axes[0]
    ax.boxplot(values, showfliers=False)
    ax.plot(range(1, len(names) + 1), [v.mean() for v in values], "o", color="C3",
            label="mean")
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20, fontsize=8)
    ax.set_ylabel("inner step size α")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    learned = "learned per weight (Meta-SGD)" if module.learn_inner_lr else "fixed"
    fig.suptitle(f"inner step sizes by layer, {learned}", fontsize=9.5)
    return fig


def describe_inner_lrs(module) -> str:
    """One line per adapted tensor: mean, min and max of its step sizes."""
    rows = []
    for name, lr in module.step_sizes().items():
        v = lr.detach().cpu().double().numpy()
        rows.append([name, str(v.size), f"{v.mean():.4f}", f"{v.min():.4f}", f"{v.max():.4f}"])
    return table(rows, ["adapted tensor", "size", "mean α", "min", "max"], left=1)



def run_inner_steps(args: argparse.Namespace, policy: Any, family: Any, tasks: list,
                    split: str | None, out: Path, device: Any, width: int) -> int:
    """The ``--inner-steps`` branch of ``robo-meta evaluate``: one report per k, the table and
    the step-size figure. Every check runs before the first trial."""
    import time

    from robo_meta import report as reports
    from robo_meta.argtypes import check_writable
    from robo_meta.evaluation import run_trials

    scored = check_policy(policy, args.episodes, args.inner_steps)
    paths = output_paths(out, args.inner_steps)
    for path in paths.values():
        check_writable(path, "--out")
        if path.suffix == ".json":
            check_writable(path.with_suffix(".png"), "--out (its figure)")
    trained_steps = policy.inner_steps
    built = []
    start = time.perf_counter()
    for k in args.inner_steps:
        with taking(policy, k):  # the report records the k it ran with
            results = run_trials(policy, family, tasks, episodes=args.episodes, seed=args.seed,
                                 seeds_per_task=args.seeds, num_envs=width,
                                 threads=args.threads, deterministic=not args.stochastic)
            built.append(reports.build_report(
                policy=policy, source=args.policy, family=family, tasks=tasks,
                results=results, split=split,
                tasks_file=None if args.tasks_file is None else str(args.tasks_file),
                episodes=args.episodes, seeds=args.seeds, seed=args.seed,
                deterministic=not args.stochastic, device=device.type, num_envs=args.num_envs))
    wall = time.perf_counter() - start
    for k, report in zip(args.inner_steps, built, strict=True):
        reports.write_report(report, paths[f"k{k}"], paths[f"k{k}"].with_suffix(".png"))
    paths["inner_lr_png"].write_bytes(reports.render_png(plot_inner_lrs(policy.module)))
    fresh = ", each step on fresh episodes" if policy.fresh_episodes else ""
    print(reports.describe(built[0]) + f", trained with {trained_steps} inner step(s){fresh}")
    print(steps_table(built, args.inner_steps, scored))
    print(describe_inner_lrs(policy.module))
    print(f"{len(args.inner_steps)} x {len(tasks) * args.seeds} trials in {wall:.2f} s")
    print("reports: " + ", ".join(str(paths[f"k{k}"]) for k in args.inner_steps))
    print(f"figure of the step sizes: {paths['inner_lr_png']}")
    return 0
