"""``robo-meta policies``: list the pretrained policies, or export a run as one."""

from __future__ import annotations

import argparse
from pathlib import Path

from robo_meta.argtypes import MAX_SEEDS, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "policies", help="list the pretrained policies (or export a run as one)",
        description="Without arguments: the pretrained policies (load them with "
                    "--policy pretrained:NAME). 'export RUN NAME --command CMD' copies a "
                    "training run into policies/pretrained/NAME and writes its card with the "
                    "test/ood evaluation tables. 'refresh NAME' re-evaluates a shipped policy "
                    "on its family's current test/ood splits and rewrites its card's tables. "
                    "'matrix [--split S]' prints the benchmark matrix of the shipped policies "
                    "(markdown), from their stored reports; 'bars' checks each family's "
                    "quality bars from the same reports.",
    )
    parser.add_argument("action", nargs="?",
                        choices=["list", "export", "refresh", "matrix", "bars"],
                        default="list")
    parser.add_argument("run_dir", nargs="?", type=Path,
                        help="export: the training run; refresh: the pretrained name")
    parser.add_argument("name", nargs="?", help="export: the pretrained name")
    parser.add_argument("--command", dest="training_command",
                        help="export: the exact command that trained the run")
    parser.add_argument("--seeds", type=positive_int(MAX_SEEDS), default=1,
                        help="export: seeds per task (default 1)")
    parser.add_argument("--notes", default="", help="export: a paragraph for the card")
    parser.add_argument("--split", default="test", choices=["test", "ood"],
                        help="matrix: the held-out split (default test)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robo_meta import pretrained
    from robo_meta.envs.errors import RoboMetaError

    if args.action == "export":
        if args.run_dir is None or args.name is None or not args.training_command:
            raise RoboMetaError("usage: robo-meta policies export RUN_DIR NAME --command CMD")
        target = pretrained.export(args.run_dir, pretrained.check_name(args.name),
                                   args.training_command,
                                   seeds=args.seeds, notes=args.notes)
        print((target / "card.md").read_text())
        print(f"exported to {target}")
        return 0
    if args.action == "refresh":
        if args.run_dir is None or args.name is not None:
            raise RoboMetaError("usage: robo-meta policies refresh NAME")
        target = pretrained.refresh(str(args.run_dir))
        print((target / "card.md").read_text())
        print(f"refreshed {target}")
        return 0
    if args.action == "matrix":
        if args.run_dir is not None:
            raise RoboMetaError("usage: robo-meta policies matrix [--split test|ood]")
        print(pretrained.matrix_markdown(pretrained.matrix(args.split)))
        return 0
    if args.action == "bars":
        if args.run_dir is not None:
            raise RoboMetaError("usage: robo-meta policies bars")
        from robo_meta import quality_bars

        print(quality_bars.bars_markdown(quality_bars.bars()))
        return 0
    rows = pretrained.describe_all()
    if not rows:
        print("no pretrained policies are installed")
        return 0
    from robo_meta.text import table

    print(table([[r["name"], r["family"], r["algo"], f"{r['steps']:,}", r["device"],
                  pretrained.episodes_cell([f"{v:.1f}" for v in r["test_return"]])]
                 for r in rows],
                ["name", "family", "algo", "steps", "trained on", "test return by episode"]))
    print("\nuse: --policy pretrained:NAME (evaluate, demo) or "
          "robo_meta.load_policy('pretrained:NAME')")
    return 0
