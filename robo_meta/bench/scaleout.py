"""Ray scale-out: training throughput with 1, 2, ... Ray workers against one process.

Trainers of the same PPO algorithm, each built fresh and timed over whole iterations
(collection + advantages + update; no evaluation or checkpoint), in one process, rounds
alternating so that the shared machine's load falls on all of them alike. With ``--workers
1,2`` and ``--worker-threads 1`` (the defaults, sized for a 2-core machine):

| name | what runs |
|---|---|
| ``in-process x N`` | ``PPO`` with the in-process Sampler: N simulations, T batch threads |
| ``in-process x 2N`` | the same with 2N simulations and 2T batch threads (all of 2T cores) |
| ``ray 1 worker`` | ``--ray local --workers 1``: one actor of N simulations, T threads |
| ``ray 2 workers`` | ``--ray local --workers 2``: two actors of N simulations each |

N is ``--envs-per-worker`` (256) and T ``--worker-threads``, so each Ray worker always steps
N simulations x ``--rollout-steps`` (64) on T threads; the largest worker count W sets the
second in-process trainer (W N simulations on W T threads) and the local Ray's CPUs (W T).
``--device cuda`` puts every trainer's learner on the GPU.

Per Ray iteration it also reports the overhead: the collect's wall
time on the learner minus the slowest worker's own stepping time (weights put, tasks sent,
rollouts fetched and joined, worker-side weight loading), the bytes that travel (weights
out, once per iteration, read by every worker; rollouts back, summed over workers), and the
cores the workers got: their summed CPU time over the slowest one's wall time while stepping
(2.0 for 2 workers on 2 free cores; less on a shared machine).

Throughput is reported twice: whole iterations (what training gets) and collection only
(the part Ray spreads; the update runs on the learner and grows with the workers' samples).
Each round also measures how many cores the machine gives at that moment: the summed rate of
two plain stepping tasks run together over one alone (``measure_capacity``), the ceiling of
the 2-worker/1-worker ratio on a shared machine (with more workers: W tasks together over
one alone, the ceiling of the W-worker/1-worker ratio).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from robo_meta.argtypes import int_list, positive_int, seed


def _trainer(family: str, algo: str, num_envs: int, rollout_steps: int, threads: int,
             workers: int, seed_: int, device: str = "cpu"):
    """``workers`` 0: in process on ``threads`` batch threads; else that many Ray actors of
    ``threads`` threads each."""
    from robo_meta.algos.ppo import PPO, PPOConfig
    from robo_meta.device import resolve_device
    from robo_meta.envs import get_family

    config = PPOConfig(family=family, algo=algo, num_envs=num_envs, rollout_steps=rollout_steps,
                       threads=threads if not workers else 1, seed=seed_, device=device,
                       total_steps=10**12, ray="local" if workers else "",
                       workers=max(workers, 1), worker_threads=threads if workers else 1)
    return PPO(config, get_family(family), resolve_device(device))


def plan(envs_per_worker: int, workers: tuple[int, ...], worker_threads: int
         ) -> dict[str, tuple[int, int, int]]:
    """The trainers, by name: (simulations, threads, Ray workers; 0 in process). 1 worker is
    always timed: the ratios are over it."""
    n, t, most = envs_per_worker, worker_threads, max(workers)
    trainers = {f"in-process x {n}": (n, t, 0), f"in-process x {most * n}": (most * n, most * t, 0)}
    for w in sorted({1, *workers}):
        trainers[f"ray {w} worker{'s' if w > 1 else ''}"] = (w * n, t, w)
    return trainers


def measure_one(family: str, algo: str, num_envs: int, rollout_steps: int, threads: int,
                workers: int, iterations: int, seed_: int = 0, device: str = "cpu") -> dict:
    """Build one trainer, run a warm-up iteration, time ``iterations`` more."""
    trainer = _trainer(family, algo, num_envs, rollout_steps, threads, workers, seed_, device)
    try:
        trainer.iteration()  # warm-up: actors' first weights, the normalizer's first update
        per_iteration, collect, update, overhead, cores = [], [], [], [], []
        weights_bytes = rollout_bytes = 0
        for _ in range(iterations):
            start = time.perf_counter()
            stats = trainer.iteration()
            per_iteration.append(time.perf_counter() - start)
            collect.append(stats["time/collect_s"])
            update.append(stats["time/update_s"])
            last = getattr(trainer.sampler, "last", None)
            if last:
                overhead.append(last["overhead_s"])
                cores.append(last["workers_cpu_s"] / last["worker_collect_s"])
                weights_bytes, rollout_bytes = last["weights_bytes"], last["rollout_bytes"]
    finally:
        trainer.close()
    steps = num_envs * rollout_steps
    return {"steps_per_s": steps * len(per_iteration) / sum(per_iteration),
            "collect_steps_per_s": steps * len(collect) / sum(collect),
            "iteration_s": statistics.median(per_iteration),
            "collect_s": statistics.median(collect), "update_s": statistics.median(update),
            "overhead_s": statistics.median(overhead) if overhead else None,
            "worker_cores": statistics.median(cores) if cores else None,
            "weights_bytes": weights_bytes, "rollout_bytes": rollout_bytes}


def _stepping_rate(family: str, num_envs: int, steps: int, threads: int = 1) -> float:
    """Env steps/s of ``make_vec(family, num_envs)`` on ``threads`` threads, zero actions (no
    policy)."""
    import numpy as np

    from robo_meta.envs import make_vec

    env = make_vec(family, num_envs, nthread=threads)
    env.reset(seed=0)
    actions = np.zeros((num_envs, env.single_action_space.shape[0]))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    rate = num_envs * steps / (time.perf_counter() - start)
    env.close()
    return rate


def measure_capacity(family: str, num_envs: int, steps: int, tasks: int = 2,
                     threads: int = 1) -> float:
    """How many workers' worth this machine gives now: the summed stepping rate of ``tasks``
    Ray tasks of ``threads`` CPUs run together over that of one alone (2.0 for two tasks on
    two idle cores). The ceiling of the ``tasks``-worker/1-worker ratio at that moment."""
    import ray

    task = ray.remote(num_cpus=threads)(_stepping_rate)
    alone = ray.get(task.remote(family, num_envs, steps, threads))
    together = sum(ray.get([task.remote(family, num_envs, steps, threads)
                            for _ in range(tasks)]))
    return together / alone


def measure(family: str = "cheetah-vel", algo: str = "dr", envs_per_worker: int = 256,
            rollout_steps: int = 64, iterations: int = 5, rounds: int = 2,
            seed_: int = 0, torch_threads: int = 1, workers: tuple[int, ...] = (1, 2),
            worker_threads: int = 1, device: str = "cpu") -> dict:
    """Every trainer of ``plan`` ``rounds`` times, alternating; per trainer the round with the
    median throughput, and the throughput ratios within each round."""
    import ray
    import torch

    torch.set_num_threads(torch_threads)  # the learner's (workers: their own)
    most = max(workers)
    ray.init(num_cpus=most * worker_threads, logging_level="warning", include_dashboard=False)
    n = envs_per_worker
    trainers = plan(n, workers, worker_threads)
    results: dict[str, list[dict]] = {name: [] for name in trainers}
    capacity = []
    try:
        for _ in range(rounds):
            capacity.append(measure_capacity(family, n, rollout_steps, most, worker_threads))
            for name, (num_envs, threads, count) in trainers.items():
                results[name].append(measure_one(family, algo, num_envs, rollout_steps,
                                                 threads, count, iterations, seed_, device))
    finally:
        ray.shutdown()
    ray_names = [name for name, (_, _, count) in trainers.items() if count]
    one = results[ray_names[0]]
    over_one = {name: [r["steps_per_s"] / r1["steps_per_s"]
                       for r1, r in zip(one, results[name], strict=True)]
                for name in ray_names[1:]}
    collect_over_one = {name: [r["collect_steps_per_s"] / r1["collect_steps_per_s"]
                               for r1, r in zip(one, results[name], strict=True)]
                        for name in ray_names[1:]}
    vs_process = [r1["steps_per_s"] / p["steps_per_s"] for r1, p in
                  zip(one, results[f"in-process x {n}"], strict=True)]
    median = {name: sorted(rs, key=lambda r: r["steps_per_s"])[len(rs) // 2]
              for name, rs in results.items()}
    return {"family": family, "algo": algo, "cpus": os.cpu_count(), "n": n,
            "rollout_steps": rollout_steps, "iterations": iterations, "rounds": rounds,
            "worker_threads": worker_threads, "device": device, "first_ray": ray_names[0],
            "trainers": median, "all": results, "over_one": over_one,
            "collect_over_one": collect_over_one, "capacity": capacity,
            "capacity_tasks": most, "torch_threads": torch_threads,
            "ray_over_process": vs_process, "load": os.getloadavg()}


def format_table(result: dict) -> str:
    lines = [
        f"{result['family']} {result['algo']}: {result['cpus']} CPUs, {result['n']} simulations"
        f" x {result['rollout_steps']} steps per worker on {result['worker_threads']} "
        f"thread(s), {result['iterations']} timed iterations x {result['rounds']} rounds, "
        f"learner on {result['device']} with {result['torch_threads']} torch thread(s); "
        "load average after "
        f"{' '.join(f'{x:.1f}' for x in result['load'])}",
        "| trainer | env steps/s | collection env steps/s | iteration ms | collect ms | "
        "update ms | Ray overhead ms (% of iteration) | cores the workers got | weights bytes |"
        " rollout bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["trainers"].items():
        overhead = ("" if r["overhead_s"] is None else
                    f"{r['overhead_s'] * 1e3:.1f} ({r['overhead_s'] / r['iteration_s']:.1%})")
        sent = "" if r["overhead_s"] is None else f"{r['weights_bytes']:,}"
        got = "" if r["worker_cores"] is None else f"{r['worker_cores']:.2f}"
        returned = "" if r["overhead_s"] is None else f"{r['rollout_bytes']:,}"
        lines.append(f"| {name} | {r['steps_per_s']:,.0f} | {r['collect_steps_per_s']:,.0f} | "
                     f"{r['iteration_s'] * 1e3:.0f} | "
                     f"{r['collect_s'] * 1e3:.0f} | {r['update_s'] * 1e3:.0f} | {overhead} | "
                     f"{got} | {sent} | {returned} |")
    lines.append("")
    for name, ratios in result["over_one"].items():
        shown = " / ".join(f"{x:.2f}" for x in ratios)
        collected = " / ".join(f"{x:.2f}" for x in result["collect_over_one"][name])
        lines.append(f"{name} / {result['first_ray']}, per round: {shown} (collection only: "
                     f"{collected})")
    lines += [f"workers available ({result['capacity_tasks']} stepping tasks together / 1 "
              "alone), per round: " + " / ".join(f"{x:.2f}" for x in result["capacity"]),
              f"{result['first_ray']} / in-process x {result['n']}, per round: "
              + " / ".join(f"{x:.2f}" for x in result["ray_over_process"])]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", default="cheetah-vel", help="family (default cheetah-vel)")
    parser.add_argument("--algo", default="dr", help="dr, oracle or rl2 (default dr)")
    parser.add_argument("--envs-per-worker", type=positive_int(1 << 15), default=256,
                        help="simulations per Ray worker (default 256)")
    parser.add_argument("--rollout-steps", type=positive_int(1 << 12), default=64,
                        help="steps per simulation per iteration (default 64)")
    parser.add_argument("--iterations", type=positive_int(10_000), default=5,
                        help="timed iterations per trainer and round (default 5)")
    parser.add_argument("--rounds", type=positive_int(100), default=2,
                        help="rounds over the four trainers (default 2)")
    parser.add_argument("--seed", type=seed, default=0, help="run seed")
    parser.add_argument("--torch-threads", type=positive_int(1024), default=1,
                        help="the learner's torch threads, every trainer (default 1)")
    parser.add_argument("--workers", type=int_list("worker counts", 1, 1024, "1,2,4"),
                        default=(1, 2),
                        help="Ray worker counts to time, comma-separated; 1 is always timed "
                             "(default 1,2)")
    parser.add_argument("--worker-threads", type=positive_int(1024), default=1,
                        help="batch threads of each Ray worker (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="the learner's device, every trainer (default cpu)")


def run(args: argparse.Namespace) -> int:
    try:
        import ray  # noqa: F401
    except ImportError:
        from robo_meta.envs.errors import RoboMetaError

        raise RoboMetaError('bench ray needs Ray: pip install "robo-meta[ray]"') from None
    result = measure(args.family, args.algo, args.envs_per_worker, args.rollout_steps,
                     args.iterations, args.rounds, args.seed, args.torch_threads, args.workers,
                     args.worker_threads, args.device)
    print(format_table(result))
    return 0
