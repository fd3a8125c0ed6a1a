"""Simulator throughput: make_vec against SyncVectorEnv and a raw Batch; the single env
against gymnasium's own MuJoCo env of the same robot.

Three ways to step a family's robot, measured in one process with the same random actions:

| name | what runs |
|---|---|
| ``make_vec`` | ``robo_meta.envs.make_vec(family, N)``: observations, rewards, autoreset |
| ``sync`` | ``gymnasium.vector.SyncVectorEnv`` over 8 ``robo_meta.envs.make(family)`` |
| ``batch`` | a raw ``mujoco.batch.Batch`` of the family's model with N simulations, stepped |
|  | ``frame_skip`` substeps per env step with make_vec's actions, from make_vec's initial |
|  | states: physics only, no observations, rewards or resets |

``make_vec`` and ``batch`` each take ``steps`` env steps per simulation in a round, ``sync``
the same number of env steps in all (so each does about the same work). The rounds alternate
the three (in a rotating order) and the median of each is reported, because the machines these
run on are shared and noisy; the ratios make_vec/sync and make_vec/batch are what to compare
between machines.

The single env, as stable-baselines3 users meet it: ``robo_meta.envs.make(family)`` against
gymnasium's v5 env of the same robot (``HalfCheetah-v5`` for the cheetah families, ``Hopper-v5``,
``Walker2d-v5``, ``Ant-v5``; none for the point mass), both bare (``gymnasium.make(...)``'s
wrappers taken off, as ``make`` has none), stepped with the same random actions and reset where
their episodes end. The reference loads robo_meta's copy of the robot's MJCF (``xml_file``) with
the family's ``frame_skip``, so both simulate the same model: gymnasium's bundled
half_cheetah.xml uses ``settotalmass``, which MuJoCo 4.0 deprecates with a warning and a
MUJOCO_LOG.TXT in the working directory; robo_meta's writes the same masses out. Ant-v5 leaves
the contact forces out of its observation, as robo_meta's ant does. Within a round the two take
turns of ``BLOCK`` steps (a few milliseconds), so that a burst of load on a shared machine
slows both alike; the median of the per-round ratios is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import gymnasium
import numpy as np
from mujoco.batch import Batch

from robo_meta import envs
from robo_meta.argtypes import (
    MAX_NUM_ENVS,
    MAX_ROUNDS,
    MAX_THREADS,
    nonnegative_int,
    positive_int,
    seed,
)

SYNC_ENVS = 8  # the number of single envs in the SyncVectorEnv reference
ACTION_POOL = 50  # distinct random action batches, cycled, so drawing them is not timed
# gymnasium's env of each robot robo_meta shares with it (the point mass has none)
GYMNASIUM_IDS = {"half_cheetah": "HalfCheetah-v5", "hopper": "Hopper-v5",
                 "walker2d": "Walker2d-v5", "ant": "Ant-v5"}
BLOCK = 100  # env steps per turn in the single-env comparison


def _actions(space: gymnasium.spaces.Box, num_envs: int, seed: int) -> np.ndarray:
    """(ACTION_POOL, num_envs, action_dim) random actions inside ``space``."""
    rng = np.random.default_rng(seed)
    shape = (ACTION_POOL, num_envs, *space.shape)
    return rng.uniform(space.low, space.high, shape).astype(space.dtype)


def _make_vec_runner(vec: envs.RoboMetaVectorEnv, actions: np.ndarray):
    def run(steps: int) -> None:
        for t in range(steps):
            vec.step(actions[t % ACTION_POOL])

    return run


def _sync_runner(family: str, seed: int):
    sync = gymnasium.vector.SyncVectorEnv(
        [lambda: envs.make(family) for _ in range(SYNC_ENVS)]
    )
    sync.reset(seed=seed)
    actions = _actions(sync.single_action_space, SYNC_ENVS, seed)

    def run(steps: int) -> None:
        for t in range(steps):
            sync.step(actions[t % ACTION_POOL])

    return run


def _batch_runner(vec: envs.RoboMetaVectorEnv, actions: np.ndarray, threads: int):
    """A raw Batch that starts from make_vec's states and gets its actions.

    Both then simulate the same trajectories (bit for bit, until make_vec's first autoreset),
    so the ratio measures the env layer rather than the cost of two different state
    distributions (contacts make some states dearer to step than others).
    """
    batch = Batch(vec.family.model, vec.num_envs, threads)
    batch.state[:] = vec.sim.batch.state
    ctrl = batch.bind("ctrl")
    frame_skip = vec.family.spec.frame_skip
    low, high = vec.sim.action_low, vec.sim.action_high

    def run(steps: int) -> None:
        for t in range(steps):
            ctrl[:] = np.clip(actions[t % ACTION_POOL], low, high)  # as make_vec does
            batch.step(nstep=frame_skip)

    return run


def _timed(run: Callable[[int], None], steps: int) -> float:
    start = time.perf_counter()
    run(steps)
    return time.perf_counter() - start


def measure(family: str, num_envs: int, steps: int = 200, threads: int = 0, rounds: int = 3,
            seed: int = 0) -> dict:
    """Env steps/s of make_vec, SyncVectorEnv and a raw Batch (medians over ``rounds``).

    Returns a dict of numbers: ``{name}_steps_per_s`` (median) and ``{name}_rounds`` (every
    round) for name in make_vec, sync, batch; the ratios ``make_vec_over_sync`` and
    ``make_vec_over_batch``; and the settings (``threads`` is the resolved thread count).
    """
    vec = envs.make_vec(family, num_envs, nthread=threads)  # an unknown family fails here
    vec.reset(seed=seed)
    actions = _actions(vec.single_action_space, num_envs, seed)
    sync_steps = max(1, steps * num_envs // SYNC_ENVS)  # the same env steps as make_vec
    runners = {
        "make_vec": (_make_vec_runner(vec, actions), steps, num_envs),
        "sync": (_sync_runner(family, seed), sync_steps, SYNC_ENVS),
        "batch": (_batch_runner(vec, actions, threads), steps, num_envs),
    }
    for run, _, _ in runners.values():
        run(5)  # warm up: first-touch allocations, thread pool start
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(rounds):
        for name in names[r % 3:] + names[:r % 3]:  # rotate so no kind always goes first
            run, n_steps, width = runners[name]
            samples[name].append(n_steps * width / _timed(run, n_steps))
    result: dict = {
        "family": family, "num_envs": num_envs, "steps": steps, "threads": vec.sim.batch.nthread,
        "rounds": rounds, "sync_envs": SYNC_ENVS, "cpus": os.cpu_count(),
    }
    for name, values in samples.items():
        result[f"{name}_steps_per_s"] = statistics.median(values)
        result[f"{name}_rounds"] = values
    result["make_vec_over_sync"] = result["make_vec_steps_per_s"] / result["sync_steps_per_s"]
    result["make_vec_over_batch"] = result["make_vec_steps_per_s"] / result["batch_steps_per_s"]
    return result


def _rate_rows(title: str, rows: list[tuple[str, str]], result: dict) -> list[str]:
    """Markdown rows: each (label, name) with its median env steps/s and the rounds' range."""
    width = max(len(label) for label, _ in rows)
    lines = [f"| {title.ljust(width)} | env steps/s (median) | rounds (min-max) |",
             f"|{'-' * (width + 2)}|---------------------:|-----------------:|"]
    for label, name in rows:
        values = result[f"{name}_rounds"]
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        lines.append(f"| {label.ljust(width)} | {result[f'{name}_steps_per_s']:>20,.0f} |"
                     f" {spread:>16} |")
    return lines


def format_table(result: dict) -> str:
    """The measurements as a plain-text table (Markdown-compatible) with the two ratios."""
    family, n = result["family"], result["num_envs"]
    rows = [
        (f"make_vec({family}, {n})", "make_vec"),
        (f"SyncVectorEnv, {result['sync_envs']} x make({family})", "sync"),
        (f"raw mujoco.batch.Batch, {n} sims", "batch"),
    ]
    lines = [f"{family}: {n} envs, {result['steps']} steps x {result['rounds']} rounds, "
             f"{result['threads']} batch threads, {result['cpus']} CPUs",
             *_rate_rows("simulator", rows, result), ""]
    lines.append(f"make_vec / SyncVectorEnv: {result['make_vec_over_sync']:.2f}x")
    lines.append(f"make_vec / raw Batch:     {result['make_vec_over_batch']:.1%}")
    return "\n".join(lines)


def _single_runner(env: gymnasium.Env, seed: int):
    """Steps of one env with random actions, reset where its episodes end."""
    env.reset(seed=seed)
    actions = _actions(env.action_space, 1, seed)[:, 0]

    def run(steps: int) -> None:
        step = env.step
        for t in range(steps):
            _, _, terminated, truncated, _ = step(actions[t % ACTION_POOL])
            if terminated or truncated:
                env.reset()

    return run


def gymnasium_reference(family: str) -> tuple[str, gymnasium.Env] | None:
    """(id, bare env) of gymnasium's v5 env of ``family``'s robot, on robo_meta's MJCF of it."""
    fam = envs.get_family(family)
    env_id = GYMNASIUM_IDS.get(fam.robot.name)
    if env_id is None:
        return None
    kwargs = {"xml_file": str(fam.robot.path), "frame_skip": fam.spec.frame_skip}
    if env_id == "Ant-v5":
        kwargs["include_cfrc_ext_in_observation"] = False
    return env_id, gymnasium.make(env_id, **kwargs).unwrapped


def measure_single(family: str, steps: int = 2000, rounds: int = 25, seed: int = 0) -> dict:
    """Env steps/s of ``envs.make(family)`` and of gymnasium's env of the same robot.

    Returns ``single_steps_per_s`` and ``single_rounds`` (ours), ``reference`` (gymnasium's id,
    or None for a robot it lacks) with ``reference_steps_per_s`` and ``reference_rounds``, and
    ``single_over_reference``: the median of the per-round ratios (with ``ratio_rounds``),
    and ``best_over_best``: the ratio of each one's fastest round, the least disturbed by load.
    """
    ours = envs.make(family)  # an unknown family fails here
    reference = gymnasium_reference(family)
    runners = {"single": _single_runner(ours, seed)}
    if reference is not None:
        runners["reference"] = _single_runner(reference[1], seed)
    for run in runners.values():
        run(100)  # warm up
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    blocks = [BLOCK] * (steps // BLOCK) + ([steps % BLOCK] if steps % BLOCK else [])
    for r in range(rounds):
        elapsed = dict.fromkeys(names, 0.0)
        for b, block in enumerate(blocks):
            for name in names[(r + b) % 2:] + names[:(r + b) % 2]:  # in turn first
                elapsed[name] += _timed(runners[name], block)
        for name in names:
            samples[name].append(steps / elapsed[name])
    result: dict = {"family": family, "steps": steps, "rounds": rounds, "cpus": os.cpu_count(),
                    "reference": None if reference is None else reference[0]}
    for name, values in samples.items():
        result[f"{name}_steps_per_s"] = statistics.median(values)
        result[f"{name}_rounds"] = values
    if reference is not None:
        ratios = [a / b for a, b in zip(samples["single"], samples["reference"], strict=True)]
        result["ratio_rounds"] = ratios
        result["single_over_reference"] = statistics.median(ratios)
        result["best_over_best"] = max(samples["single"]) / max(samples["reference"])
    return result


def format_single_table(result: dict) -> str:
    """The single-env measurements as a plain-text table with the ratio to gymnasium's env."""
    family, reference = result["family"], result["reference"]
    rows = [(f"make({family})", "single")]
    if reference is not None:
        rows.append((f"gymnasium {reference} (bare, same MJCF)", "reference"))
    lines = [f"{family} single env: {result['steps']} steps x {result['rounds']} rounds,"
             f" {result['cpus']} CPUs", *_rate_rows("env", rows, result), ""]
    if reference is None:
        lines.append(f"no gymnasium env of the {envs.get_family(family).robot.name} robot")
    else:
        ratios = result["ratio_rounds"]
        lines.append(f"make / gymnasium {reference}: {result['single_over_reference']:.2f}x"
                     f" (median of per-round ratios; {min(ratios):.2f}-{max(ratios):.2f});"
                     f" fastest rounds: {result['best_over_best']:.2f}x")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", required=True, help="family name or path to a .toml spec")
    parser.add_argument("--num-envs", type=positive_int(MAX_NUM_ENVS), default=256,
                        help="simulations in make_vec and in the raw Batch (default 256)")
    parser.add_argument("--steps", type=positive_int(100_000), default=200,
                        help="env steps per simulation per round (default 200)")
    parser.add_argument("--threads", type=nonnegative_int(MAX_THREADS), default=0,
                        help="Batch threads for make_vec and the raw Batch; 0: every CPU")
    parser.add_argument("--rounds", type=positive_int(MAX_ROUNDS), default=3,
                        help="interleaved rounds; the median is reported (default 3)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of resets and actions")
    parser.add_argument("--single-steps", type=positive_int(10_000_000), default=2000,
                        help="env steps per round of the single-env comparison (default 2000)")
    parser.add_argument("--single-rounds", type=positive_int(MAX_ROUNDS), default=25,
                        help="rounds of the single-env comparison (default 25)")
    parser.add_argument("--single-only", action="store_true",
                        help="only the single env against gymnasium's, not make_vec")


def run(args: argparse.Namespace) -> int:
    if not args.single_only:
        result = measure(args.family, args.num_envs, steps=args.steps, threads=args.threads,
                         rounds=args.rounds, seed=args.seed)
        print(format_table(result))
        print()
    single = measure_single(args.family, steps=args.single_steps, rounds=args.single_rounds,
                            seed=args.seed)
    print(format_single_table(single))
    return 0
