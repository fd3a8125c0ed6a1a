"""Evaluation wall time: run_trials on one batch against one gymnasium env at a time.

The same held-out evaluation (every task of a split, one trial of K episodes each, the same
policy through the AdaptivePolicy interface) done three ways in one process:

| name | what runs |
|---|---|
| ``loop`` | a Python loop over tasks: ``robo_meta.envs.make(family, task)``, K episodes, |
|  | the policy reset per task and called on a batch of one at every step |
| ``batched_1`` | ``robo_meta.evaluation.run_trials``: every trial in one batch, 1 thread |
| ``batched`` | the same with the batch's threads on every CPU (``threads=0``) |

Rounds alternate the ways in a rotating order and the median of each is reported (the
machines are shared and noisy); the speedups over ``loop`` are what to compare between
machines. Each way runs trial i with reset seed ``seed + i``, so with a deterministic policy
(``zero``, a checkpoint) the loop and the batch compute the same returns; the table shows the
largest difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from robo_meta import envs
from robo_meta.argtypes import MAX_EPISODES, MAX_ROUNDS, positive_int, seed


def _loop(policy, family: str, tasks, episodes: int, seed: int) -> np.ndarray:
    """(n_tasks, K) returns, one single env per task, stepped in Python."""
    returns = np.zeros((len(tasks), episodes))
    for i, task in enumerate(tasks):
        env = envs.make(family, task=task)
        obs, info = env.reset(seed=seed + i)
        policy.reset(1, task_features=info["task_features"][None])
        for k in range(episodes):
            if k > 0:
                obs, _ = env.reset()  # same task; the policy keeps its memory (one trial)
            done = False
            while not done:
                action = policy.act(obs[None])
                obs, reward, terminated, truncated, _ = env.step(action[0])
                done = terminated or truncated
                policy.observe(obs[None], action, np.array([reward]), np.array([terminated]),
                               np.array([truncated]))
                returns[i, k] += reward
        env.close()
    return returns


def measure(family: str = "cheetah-vel", split: str = "test", episodes: int = 3,
            policy: str = "random", rounds: int = 3, seed: int = 0, device: str = "cpu") -> dict:
    """Wall seconds of each way (medians over ``rounds``) and the speedups over ``loop``."""
    from robo_meta.adaptive import load_policy
    from robo_meta.evaluation import run_trials, single_torch_thread

    fam = envs.get_family(family)
    tasks = fam.tasks(split) if split != "train" else fam.sample_tasks(40, seed)
    trained = load_policy(policy, device=device, family=fam.name, seed=seed)
    def _timed_loop() -> np.ndarray:
        with single_torch_thread():  # as run_trials does, so the two differ only in batching
            return _loop(trained, family, tasks, episodes, seed)

    ways = {
        "loop": _timed_loop,
        "batched_1": lambda: run_trials(trained, family, tasks, episodes=episodes, seed=seed,
                                        threads=1).returns,
        "batched": lambda: run_trials(trained, family, tasks, episodes=episodes, seed=seed,
                                      threads=0).returns,
    }
    names = list(ways)
    samples: dict[str, list[float]] = {name: [] for name in names}
    returns: dict[str, np.ndarray] = {}
    for r in range(rounds):
        for name in names[r % 3:] + names[:r % 3]:  # rotate so no way always goes first
            start = time.perf_counter()
            returns[name] = ways[name]()
            samples[name].append(time.perf_counter() - start)
    result: dict = {"family": fam.name, "split": split, "tasks": len(tasks),
                    "episodes": episodes, "policy": policy, "rounds": rounds,
                    "cpus": os.cpu_count(), "env_steps": int(fam.spec.horizon * episodes
                                                             * len(tasks))}
    for name, values in samples.items():
        result[f"{name}_s"] = statistics.median(values)
        result[f"{name}_rounds"] = values
        result[f"{name}_mean_return"] = returns[name].mean(axis=0).tolist()
    for name in ("batched_1", "batched"):
        result[f"{name}_speedup"] = result["loop_s"] / result[f"{name}_s"]
    result["max_return_difference"] = float(np.abs(returns["loop"] - returns["batched"]).max())
    return result


def format_table(result: dict) -> str:
    """The measurements as a Markdown-compatible table."""
    rows = [("one gymnasium env at a time (Python loop)", "loop"),
            ("run_trials, one batch, 1 thread", "batched_1"),
            (f"run_trials, one batch, {result['cpus']} threads", "batched")]
    width = max(len(label) for label, _ in rows)
    steps = result["env_steps"]
    lines = [
        f"{result['tasks']} {result['family']} {result['split']} tasks x {result['episodes']} "
        f"episodes ({steps:,} env steps, episodes that terminate early take fewer), "
        f"{result['policy']} policy, median of {result['rounds']} rounds, {result['cpus']} CPUs",
        f"| {'evaluation'.ljust(width)} | wall s | env steps/s | speedup |",
        f"|{'-' * (width + 2)}|-------:|------------:|--------:|",
    ]
    for label, name in rows:
        seconds = result[f"{name}_s"]
        speedup = 1.0 if name == "loop" else result[f"{name}_speedup"]
        lines.append(f"| {label.ljust(width)} | {seconds:6.2f} | {steps / seconds:11,.0f} |"
                     f" {speedup:6.1f}x |")
    lines.append("\nlargest |loop return - batched return| over trials: "
                 f"{result['max_return_difference']:.3g} (a deterministic policy: 0 up to float32 "
                 "rounding; the random policy draws different actions)")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", default="cheetah-vel", help="family (default cheetah-vel)")
    parser.add_argument("--split", default="test", help="test (default), ood or train (40 tasks)")
    parser.add_argument("--episodes", type=positive_int(MAX_EPISODES), default=3,
                        help="episodes per trial (default 3)")
    parser.add_argument("--policy", default="random",
                        help="random (default), zero, or a checkpoint (as for evaluate)")
    parser.add_argument("--rounds", type=positive_int(MAX_ROUNDS), default=3,
                        help="interleaved rounds; the median is reported (default 3)")
    parser.add_argument("--seed", type=seed, default=0, help="base reset seed")
    parser.add_argument("--device", default="cpu", help="policy device (default cpu)")


def run(args: argparse.Namespace) -> int:
    result = measure(args.family, args.split, args.episodes, args.policy, rounds=args.rounds,
                     seed=args.seed, device=args.device)
    print(format_table(result))
    return 0
