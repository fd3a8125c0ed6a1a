"""Evaluate a trained policy on another family with the same robot (a plain evaluate report).

``robo-meta evaluate`` refuses a family other than the one a checkpoint was trained on. This
script is for the one legitimate exception the benchmarks need: the same robot, observation
and action spaces and task parameters under another protocol, e.g. a maml policy trained on
``cheetah-vel-h100`` (horizon 100) scored on our ``cheetah-vel`` (horizon 200), where
``dr`` and ``oracle`` references exist for the normalized score::

    python scripts/evaluate_other_family.py --policy runs/maml --family cheetah-vel \\
        --split test --out reports/maml-on-cheetah-vel.json
    robo-meta compare reports/dr.json reports/oracle.json reports/maml-on-cheetah-vel.json

The report names the family the policy was trained on in ``policy.family``.
"""

import sys
from pathlib import Path

from robo_meta.argtypes import (
    MAX_EPISODES,
    MAX_SEEDS,
    OneLineParser,
    UsageError,
    check_writable,
    error_line,
    positive_int,
    seed,
)
from robo_meta.envs.errors import RoboMetaError


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="evaluate_other_family.py", description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="checkpoint directory or pretrained:NAME")
    parser.add_argument("--family", required=True, help="the family to evaluate on")
    parser.add_argument("--split", default="test", help="val, test or ood (default test)")
    parser.add_argument("--episodes", type=positive_int(MAX_EPISODES), default=3)
    parser.add_argument("--seeds", type=positive_int(MAX_SEEDS), default=1)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--threads", type=positive_int(1024), default=1)
    parser.add_argument("--out", type=Path, required=True, help="report path (.json)")
    try:
        args = parser.parse_args(argv)
        check_writable(args.out, "--out")
        check_writable(args.out.with_suffix(".png"), "--out (its figure)")
        from robo_meta import report as reports
        from robo_meta.adaptive import load_policy
        from robo_meta.envs import get_family
        from robo_meta.evaluation import run_trials

        family = get_family(args.family)
        if not family.has_split(args.split):
            raise RoboMetaError(f"family {family.name} has no {args.split!r} split")
        tasks = family.tasks(args.split)
        policy = load_policy(args.policy, device="cpu", seed=args.seed)
        results = run_trials(policy, family.name, tasks, episodes=args.episodes, seed=args.seed,
                             seeds_per_task=args.seeds, threads=args.threads)
        report = reports.build_report(
            policy=policy, source=args.policy, family=family.name, tasks=tasks,
            results=results, split=args.split, tasks_file=None, episodes=args.episodes,
            seeds=args.seeds, seed=args.seed, deterministic=True, device="cpu", num_envs=None)
        reports.write_report(report, args.out, args.out.with_suffix(".png"))
    except (UsageError, RoboMetaError) as exc:
        print(error_line(parser.prog, exc), file=sys.stderr)
        return 2
    print(f"{reports.describe(report)} (trained on {policy.family})")
    print(reports.summary_table(report))
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
