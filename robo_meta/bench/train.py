"""Training throughput: our PPO trainer against stable-baselines3 PPO, env steps/s.

Two trainers on the same family, one after the other in one process:

| name | what runs |
|---|---|
| ``robo_meta`` | ``robo_meta.runner.Runner`` (``--algo``, default ``dr``) on     |
|  | ``make_vec(family, N)``: batched rollouts, PPO updates, the final quick evaluation |
|  | and checkpoint |
| ``sb3`` | stock ``stable_baselines3.PPO("MlpPolicy")``, default hyperparameters, on a |
|  | ``DummyVecEnv`` of 8 ``robo_meta.envs.make(family)``, CPU (SB3's advice for MLPs) |

Each is timed from the first call of its training loop (``Runner.train``, ``PPO.learn``) to
its return: collection and updates, nothing of process start, imports or construction.
Steps/s is the env steps actually taken (both round up to whole rollouts) over that time;
the ratio robo_meta / sb3 is what to compare between machines. The trainer's own split of its
time (collection vs the rest: updates, logging, evaluation, checkpoint) is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from robo_meta.argtypes import MAX_NUM_ENVS, MAX_THREADS, nonnegative_int, positive_int, seed

SB3_ENVS = 8  # the DummyVecEnv width of the SB3 reference


def measure_robo_meta(family: str, steps: int, num_envs: int, algo: str = "dr",
                      device: str = "auto", threads: int = 0, seed: int = 0,
                      rollout_steps: int = 64, numpy_tanh: bool = True) -> dict:
    """Train ``algo`` for ``steps`` env steps in a throwaway run directory; time the loop.

    The collection and update times are the sums of the ``time/collect_s`` (collection and
    advantages) and ``time/update_s`` the algorithm logs per iteration, read back from the
    run's ``metrics.csv``.
    """
    import csv

    from robo_meta.algos.ppo import PPOConfig
    from robo_meta.device import resolve_device
    from robo_meta.runner import Runner

    config = PPOConfig(family=family, algo=algo, total_steps=steps, num_envs=num_envs,
                       rollout_steps=rollout_steps, seed=seed, device=device, threads=threads,
                       eval_tasks=1, eval_every=10 * steps, numpy_tanh=numpy_tanh)
    torch_device = resolve_device(config.device)
    with tempfile.TemporaryDirectory(prefix="robo-meta-bench-") as run_dir:
        start = time.perf_counter()
        runner = Runner(config, run_dir, torch_device, progress=False)
        setup = time.perf_counter() - start
        batch_threads = runner.algorithm.sampler.env.sim.batch.nthread
        start = time.perf_counter()
        runner.train()
        wall = time.perf_counter() - start
        with open(f"{run_dir}/metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        collect = sum(float(row["time/collect_s"]) for row in rows)
        update = sum(float(row["time/update_s"]) for row in rows)
    return {"steps": runner.step, "wall_s": wall, "steps_per_s": runner.step / wall,
            "setup_s": setup, "collect_s": collect, "update_s": update,
            "rest_s": wall - collect,
            "num_envs": num_envs, "algo": algo, "device": str(torch_device),
            "batch_threads": batch_threads}


def measure_sb3(family: str, steps: int, seed: int = 0) -> dict:
    """Stock SB3 PPO (MlpPolicy, default hyperparameters) on 8 single envs in a DummyVecEnv."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from robo_meta import envs

    envs.get_family(family)  # an unknown family fails here, as one line
    venv = DummyVecEnv([lambda: envs.make(family) for _ in range(SB3_ENVS)])
    start = time.perf_counter()
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start
    venv.close()
    return {"steps": model.num_timesteps, "wall_s": wall,
            "steps_per_s": model.num_timesteps / wall, "setup_s": setup, "num_envs": SB3_ENVS}


def measure(family: str, steps: int = 200_000, sb3_steps: int = 30_000, num_envs: int = 512,
            algo: str = "dr", device: str = "auto", threads: int = 0, seed: int = 0,
            torch_threads: int = 0) -> dict:
    """Both measurements and their ratio: ``{"robo_meta": {...}, "sb3": {...}, "ratio": x}``.

    ``torch_threads`` > 0 sets torch's intra-op threads for both trainers (0: torch's default).
    """
    import torch

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    ours = measure_robo_meta(family, steps, num_envs, algo, device, threads, seed)
    sb3 = measure_sb3(family, sb3_steps, seed)
    return {"family": family, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "robo_meta": ours, "sb3": sb3,
            "ratio": ours["steps_per_s"] / sb3["steps_per_s"]}


def format_table(result: dict) -> str:
    ours, sb3 = result["robo_meta"], result["sb3"]
    rows = [
        (f"robo_meta {ours['algo']}, make_vec x {ours['num_envs']}, {ours['device']}", ours),
        (f"SB3 PPO MlpPolicy, DummyVecEnv x {sb3['num_envs']}, cpu", sb3),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [
        f"{result['family']}: {result['cpus']} CPUs, {result['torch_threads']} torch threads, "
        f"{ours['batch_threads']} batch threads",
        f"| {'trainer'.ljust(width)} | env steps | wall s | env steps/s |",
        f"|{'-' * (width + 2)}|----------:|-------:|------------:|",
    ]
    for label, r in rows:
        lines.append(f"| {label.ljust(width)} | {r['steps']:>9,} | {r['wall_s']:>6.1f} |"
                     f" {r['steps_per_s']:>11,.0f} |")
    lines += [
        "",
        f"robo_meta / SB3: {result['ratio']:.1f}x",
        f"robo_meta loop: collection {ours['collect_s']:.1f} s "
        f"({ours['collect_s'] / ours['wall_s']:.0%}), updates + logging + eval + checkpoint "
        f"{ours['rest_s']:.1f} s; construction {ours['setup_s']:.1f} s (not timed)",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", required=True, help="family name or path to a .toml spec")
    parser.add_argument("--steps", type=positive_int(10**9), default=200_000,
                        help="env steps for robo_meta (default 200000)")
    parser.add_argument("--sb3-steps", type=positive_int(10**8), default=30_000,
                        help="env steps for SB3 PPO (default 30000; SB3 rounds up to whole "
                             "rollouts of 2048 x 8)")
    parser.add_argument("--num-envs", type=positive_int(MAX_NUM_ENVS), default=512,
                        help="robo_meta simulations (default 512)")
    parser.add_argument("--algo", default="dr", help="robo_meta algorithm (default dr)")
    parser.add_argument("--device", default="auto", help="robo_meta device: auto, cpu, cuda")
    parser.add_argument("--threads", type=nonnegative_int(MAX_THREADS), default=0,
                        help="robo_meta batch threads; 0: every CPU")
    parser.add_argument("--seed", type=seed, default=0, help="seed of both trainers")
    parser.add_argument("--torch-threads", type=nonnegative_int(MAX_THREADS), default=0,
                        help="torch intra-op threads for both trainers; 0: torch's default")


def run(args: argparse.Namespace) -> int:
    result = measure(args.family, steps=args.steps, sb3_steps=args.sb3_steps,
                     num_envs=args.num_envs, algo=args.algo, device=args.device,
                     threads=args.threads, seed=args.seed, torch_threads=args.torch_threads)
    print(format_table(result))
    return 0
