"""Train a stock stable-baselines3 baseline (PPO or SAC, MlpPolicy) with domain randomization.

    python scripts/baseline_sb3.py --family cheetah-vel --algo PPO --total-steps 1000000 \\
        --out runs/cheetah-vel-sb3-ppo
    robo-meta evaluate --policy sb3:runs/cheetah-vel-sb3-ppo/model.zip

Writes OUT/model.zip and OUT/model.json (see robo_meta.baselines).
"""

import sys

from robo_meta.argtypes import OneLineParser, UsageError, check_writable, positive_int, seed
from robo_meta.baselines import ALGOS, SB3Config, train_sb3
from robo_meta.envs.errors import RoboMetaError

MAX_N_ENVS = 1024  # SB3's DummyVecEnv steps them one by one in Python
MAX_TOTAL_STEPS = 10**10


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="baseline_sb3.py", description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, help="task family")
    parser.add_argument("--algo", default="PPO", type=str.upper, choices=ALGOS)
    parser.add_argument("--total-steps", type=positive_int(MAX_TOTAL_STEPS), required=True,
                        help="environment steps")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--n-envs", type=positive_int(MAX_N_ENVS), default=8,
                        help="PPO environments (SAC uses 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    config = SB3Config(family=args.family, algo=args.algo, total_steps=args.total_steps,
                       seed=args.seed, n_envs=args.n_envs, device=args.device)
    try:
        check_writable(args.out, "--out", directory=True)
        print(f"training SB3 {config.algo} on {config.family} for {config.total_steps:,} steps"
              f" -> {args.out}")
        info = train_sb3(config, args.out)
    except RoboMetaError as exc:
        print(f"baseline_sb3.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"done: {info['steps_done']:,} steps in {info['wall_time_s']:.1f} s\n"
          f"model: {args.out}/model.zip\n"
          f"evaluate: robo-meta evaluate --policy sb3:{args.out}/model.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
