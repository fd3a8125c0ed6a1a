"""Train a stock stable-baselines3 baseline (PPO or SAC, MlpPolicy) with domain randomization.

    python scripts/baseline_sb3.py --family cheetah-vel --algo PPO --total-steps 1000000 \\
        --out runs/cheetah-vel-sb3-ppo
    robo-meta evaluate --policy sb3:runs/cheetah-vel-sb3-ppo/model.zip

Writes OUT/model.zip and OUT/model.json (see robo_meta.baselines).
"""

import argparse
import sys

from robo_meta.baselines import ALGOS, SB3Config, train_sb3
from robo_meta.envs.errors import RoboMetaError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="baseline_sb3.py", description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, help="task family")
    parser.add_argument("--algo", default="PPO", type=str.upper, choices=ALGOS)
    parser.add_argument("--total-steps", type=int, required=True, help="environment steps")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-envs", type=int, default=8, help="PPO environments (SAC uses 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    args = parser.parse_args(argv)
    config = SB3Config(family=args.family, algo=args.algo, total_steps=args.total_steps,
                       seed=args.seed, n_envs=args.n_envs, device=args.device)
    try:
        print(f"training SB3 {config.algo} on {config.family} for {config.total_steps:,} steps"
              f" -> {args.out}")
        info = train_sb3(config, args.out)
    except RoboMetaError as exc:
        print(f"baseline_sb3: error: {exc}", file=sys.stderr)
        return 2
    print(f"done: {info['steps_done']:,} steps in {info['wall_time_s']:.1f} s\n"
          f"model: {args.out}/model.zip\n"
          f"evaluate: robo-meta evaluate --policy sb3:{args.out}/model.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
