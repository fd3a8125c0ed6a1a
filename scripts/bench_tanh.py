"""Training throughput with the fast tanh (policies/activations.py) against torch's own.

    python scripts/bench_tanh.py --family cheetah-vel --algo dr --steps 200000 --rounds 3

Each round trains ``--algo`` twice from the same seed in throwaway run directories
(``robo_meta.bench.train.measure_robo_meta``, as ``robo-meta bench train`` does): once with
``--no-numpy-tanh`` (torch's tanh in the update: what ``nn.Tanh``, and this code before the
change, computes), once with the default. The order alternates by round, as the machine is
shared and noisy; the ratio of the two runs of a round is the number to compare. Printed
per run: env steps/s over the training loop (collection, updates, the final quick
evaluation and checkpoint) and the summed update time (``time/update_s`` of ``metrics.csv``).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from robo_meta.argtypes import MAX_NUM_ENVS, OneLineParser, UsageError, positive_int
from robo_meta.bench.train import measure_robo_meta
from robo_meta.envs.errors import RoboMetaError


def train(args: argparse.Namespace, numpy_tanh: bool) -> tuple[float, float]:
    """(env steps/s, update seconds) of one run."""
    result = measure_robo_meta(args.family, args.steps, args.num_envs, args.algo, device="cpu",
                               threads=args.threads, rollout_steps=args.rollout_steps,
                               numpy_tanh=numpy_tanh)
    return result["steps_per_s"], result["update_s"]


def main() -> int:
    parser = OneLineParser(prog="bench_tanh.py", description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="cheetah-vel")
    parser.add_argument("--algo", default="dr", choices=("dr", "oracle", "rl2"))
    parser.add_argument("--steps", type=positive_int(10**9), default=200_000)
    parser.add_argument("--num-envs", type=positive_int(MAX_NUM_ENVS), default=512)
    parser.add_argument("--rollout-steps", type=positive_int(1 << 16), default=64)
    parser.add_argument("--threads", type=positive_int(1024), default=1,
                        help="batch threads (default 1)")
    parser.add_argument("--torch-threads", type=positive_int(1024), default=1)
    parser.add_argument("--rounds", type=positive_int(100), default=3)
    try:
        args = parser.parse_args()
    except UsageError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    torch.set_num_threads(args.torch_threads)
    results: dict[str, list[tuple[float, float]]] = {"torch": [], "fast": []}
    try:
        for round_ in range(args.rounds):
            for name in (("torch", "fast") if round_ % 2 == 0 else ("fast", "torch")):
                results[name].append(train(args, numpy_tanh=name == "fast"))
    except RoboMetaError as exc:
        print(f"bench_tanh.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.algo} on {args.family}: {args.steps:,} steps, {args.num_envs} simulations x "
          f"{args.rollout_steps}, {args.threads} batch and {args.torch_threads} torch threads")
    print("| tanh | env steps/s per round | update s per round |")
    print("|---|---|---|")
    for name, rows in results.items():
        print(f"| {name} | {' / '.join(f'{r:,.0f}' for r, _ in rows)} | "
              f"{' / '.join(f'{u:.2f}' for _, u in rows)} |")
    speed = [f[0] / t[0] for f, t in zip(results["fast"], results["torch"], strict=True)]
    update = [f[1] / t[1] for f, t in zip(results["fast"], results["torch"], strict=True)]
    print(f"fast / torch env steps/s per round: {' / '.join(f'{r:.2f}' for r in speed)} "
          f"(median {statistics.median(speed):.2f}); update time: "
          f"{' / '.join(f'{r:.2f}' for r in update)} (median {statistics.median(update):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
