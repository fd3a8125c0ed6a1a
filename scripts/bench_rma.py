"""Training throughput of rma, phase 1 and phase 2 apart, against rl2: alternating runs.

    python scripts/bench_rma.py --family hopper-params --steps 200000 --rounds 2

Each round trains rl2 for ``--steps`` env steps, then rma for ``--steps`` teacher steps and
``--steps`` student steps, each in a throwaway run directory through the Runner, with the
settings of the shipped hopper-params rows (256 simulations, 32-step rollouts, one batch
thread, one torch thread). A phase's env steps/s is its steps over the summed time of its
iterations (collection and update; the Runner's quick evaluations and checkpoints are not
counted), read from ``metrics.csv`` rows by their ``phase`` column. Alternating rounds, as
the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile

import torch

from robo_meta.algos import get_algorithm
from robo_meta.runner import Runner


def phase_rates(run_dir: str) -> dict[str, float]:
    """{phase label: env steps/s} from a run's metrics.csv."""
    steps: dict[str, float] = {}
    times: dict[str, float] = {}
    previous_step, previous_wall = 0, 0.0
    with open(f"{run_dir}/metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            label = f"phase {row['phase']}" if row.get("phase") else "all"
            step, wall = int(row["step"]), float(row["wall_time"])
            steps[label] = steps.get(label, 0) + step - previous_step
            times[label] = times.get(label, 0.0) + wall - previous_wall
            previous_step, previous_wall = step, wall
    return {label: steps[label] / times[label] for label in steps}


def train(algo: str, family: str, steps: int, threads: int) -> dict[str, float]:
    fields = dict(family=family, algo=algo, total_steps=steps, num_envs=256, rollout_steps=32,
                  threads=threads, torch_threads=1, device="cpu", eval_tasks=1,
                  eval_every=100 * steps)
    if algo == "rma":
        fields["adapt_steps"] = steps
    config = get_algorithm(algo).config_class(**fields).validate()
    with tempfile.TemporaryDirectory(prefix="robo-meta-bench-rma-") as run_dir:
        Runner(config, run_dir, torch.device("cpu"), progress=False).train()
        return phase_rates(run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="hopper-params")
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="simulation batch threads")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rates: dict[str, list[float]] = {"rl2": [], "rma phase 1": [], "rma phase 2": []}
    for round_ in range(1, args.rounds + 1):
        rl2 = train("rl2", args.family, args.steps, args.threads)["all"]
        rma = train("rma", args.family, args.steps, args.threads)
        rates["rl2"].append(rl2)
        rates["rma phase 1"].append(rma["phase 1"])
        rates["rma phase 2"].append(rma["phase 2"])
        print(f"round {round_}: rl2 {rl2:,.0f}  rma phase 1 {rma['phase 1']:,.0f}  "
              f"rma phase 2 {rma['phase 2']:,.0f} env steps/s", flush=True)
    print("\n| run | env steps/s per round | median | / rl2 (median of rounds) |")
    print("|---|---|---|---|")
    for label, values in rates.items():
        ratios = [v / r for v, r in zip(values, rates["rl2"], strict=True)]
        print(f"| {label} | {' / '.join(f'{v:,.0f}' for v in values)} | "
              f"{statistics.median(values):,.0f} | {statistics.median(ratios):.2f} |")


if __name__ == "__main__":
    main()
