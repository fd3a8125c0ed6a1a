"""``robo-meta families``: the table of task families."""

from __future__ import annotations

import argparse

from robo_meta import envs
from robo_meta.pretrained import measured_gap
from robo_meta.text import table


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("families", help="list the task families")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also print each parameter's train and ood distributions")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    for name in envs.families():
        family = envs.get_family(name)
        params = ", ".join(
            f"{p.name}[{family.sizes[p.name]}]" if p.per else p.name for p in family.params
        )
        counts = [str(len(family.tasks(s))) if family.has_split(s) else "-"
                  for s in ("val", "test", "ood")]
        rows.append([name, family.robot.name, family.spec.task, params, *counts, _gap(name)])
    print(table(rows, ["family", "robot", "task", "randomized parameters", "val", "test",
                       "ood", "oracle - dr (test)"]))
    print("\noracle - dr: the shipped policies' paired difference on test, episode 1, with its "
          "95 % CI;\na family is a meta-RL benchmark where it is significant (privileged task "
          "features pay).")
    if args.verbose:
        for name in envs.families():
            family = envs.get_family(name)
            print(f"\n{name}: {family.spec.description}")
            ends = "ends when unhealthy" if family.terminates else "never terminates early"
            print(f"  horizon {family.spec.horizon}, frame skip {family.spec.frame_skip}, {ends}")
            for p in family.params:
                ood = f"; ood {p.ood.describe()}" if p.ood else ""
                print(f"  {p.name}: train {p.train.describe()}{ood}")
    return 0


def _gap(family: str) -> str:
    gap = measured_gap(family)
    if gap is None:
        return "not measured"
    return f"{gap['mean']:+.1f} ± {gap['ci95']:.1f} ({gap['verdict']})"
