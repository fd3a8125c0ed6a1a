"""``robo-meta train``: train an algorithm on a family and write a run directory.

The flags are the fields of the algorithm's config dataclass, built by tyro from the field
types and docstrings: ``robo-meta train --algo rl2 --help`` shows rl2's options, and a new
field is a new documented flag. Values come from, last wins: the dataclass defaults, the run
being resumed (``--resume DIR``), a JSON file (``--config FILE``, which may be a run's own
``config.json``), the flags.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import io
from pathlib import Path
from typing import Any

from robo_meta.argtypes import check_writable
from robo_meta.config import RunConfig, read_config_file
from robo_meta.envs.errors import RoboMetaError, did_you_mean

RUNNER_OPTIONS = """Run options (any algorithm):
  --out DIR       run directory (default runs/FAMILY-ALGO-sSEED)
  --config FILE   JSON of config fields, or a run's config.json
  --resume DIR    continue the run in DIR (its config, then --config, then flags)
  --no-progress   no progress bar"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", add_help=False,
        help="train a policy (--algo NAME --help for that algorithm's options)",
        description="Train on batched simulations; writes config.json, state.pt, meta.json, "
                    "metrics.csv and TensorBoard logs to --out.",
    )
    parser.set_defaults(run=run, takes_extra_args=True)


def _runner_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--resume", type=Path)
    parser.add_argument("--no-progress", action="store_true")
    return parser


def _peek_algo(argv: list[str]) -> str | None:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("--algo")
    try:
        return parser.parse_known_args(argv)[0].algo
    except argparse.ArgumentError as exc:
        raise RoboMetaError(str(exc)) from None


def resolve_config(argv: list[str]) -> tuple[RunConfig, argparse.Namespace]:
    """(the validated config, the run options) of ``robo-meta train ARGV``."""
    from robo_meta.algos import algorithm_names, get_algorithm

    try:
        options, rest = _runner_parser().parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise RoboMetaError(str(exc)) from None
    data: dict[str, Any] = {}
    saved_runs = False  # a run's own config.json, whose missing fields mean former defaults
    if options.resume is not None:
        saved = options.resume / "config.json"
        if not saved.is_file():
            raise RoboMetaError(f"--resume {options.resume}: no config.json there")
        data.update(read_config_file(saved)[0])
        saved_runs = True
    if options.config is not None:
        fields, from_run = read_config_file(options.config)
        data.update(fields)
        saved_runs = saved_runs or from_run
    algo = _peek_algo(rest) or data.get("algo") or RunConfig.algo
    spec = get_algorithm(str(algo))
    data["algo"] = spec.name
    default = (spec.config_class.from_saved(data) if saved_runs
               else spec.config_class.from_dict(data))
    description = (f"{spec.name}: {spec.summary}.\n\n{_config_doc(spec.config_class)}"
                   f"Algorithms: {', '.join(algorithm_names())}"
                   f" (robo-meta train --algo NAME --help).\n\n{RUNNER_OPTIONS}")
    config = _parse_flags(spec.config_class, rest, default, f"robo-meta train --algo {algo}",
                          description)
    return config.validate(), options


def _config_doc(config_class: type[RunConfig]) -> str:
    """The config class's docstring as paragraphs of the help (which of its flags apply
    where), or nothing for a class without one (dataclass then writes its signature there).

    Each paragraph is one line: tyro would keep a line break before a line that starts with
    a flag, as before a list item.
    """
    doc = inspect.getdoc(config_class) or ""
    signature = config_class.__name__ + str(inspect.signature(config_class)).replace(" -> None", "")
    if doc in ("", signature):
        return ""
    return "".join(" ".join(paragraph.split()) + "\n\n" for paragraph in doc.split("\n\n"))


def _parse_flags(config_class: type[RunConfig], argv: list[str], default: RunConfig, prog: str,
                 description: str) -> RunConfig:
    """tyro's parse of ``argv`` into ``config_class``; any error in one line."""
    import tyro

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            config, unknown = tyro.cli(config_class, args=argv, default=default, prog=prog,
                                       description=description, return_unknown_args=True)
    except SystemExit as exc:
        if not exc.code:  # --help: tyro printed it on stdout
            raise
        raise RoboMetaError(_first_message(captured.getvalue())) from None
    if unknown:
        flags = ["--" + f.name.replace("_", "-") for f in dataclasses.fields(config_class)]
        flags += ["--out", "--config", "--resume", "--no-progress"]
        first = unknown[0].split("=", 1)[0]
        raise RoboMetaError(f"unknown option {first!r} for --algo {default.algo}"
                            f"{did_you_mean(first, flags)} (see --help)")
    return config


def _first_message(panel: str) -> str:
    """The message of tyro's error panel, as one line.

    The panel is a title, a rule, then the message up to the next rule; drawn with box
    characters on a terminal and with plain ones elsewhere (pytest), so both are read.
    """
    texts = []
    for line in panel.splitlines():
        text = line.strip().strip("│╭╮╰╯|+").strip().strip("─").strip()
        texts.append("" if set(text) <= {"-", "─"} else text)
    while texts and not texts[0]:
        texts.pop(0)
    body = texts[1:]  # after the title
    while body and not body[0]:
        body.pop(0)
    words = []
    for text in body:
        if not text:
            break
        words.append(text)
    return " ".join(words) or "bad option (see --help)"


def run(args: argparse.Namespace) -> int:
    config, options = resolve_config(list(args.extra_args))
    from robo_meta.device import resolve_device
    from robo_meta.evaluation import shown_episodes
    from robo_meta.runner import Runner, returned_episodes

    device = resolve_device(config.device)
    default_out = Path("runs") / f"{Path(config.family).stem}-{config.algo}-s{config.seed}"
    out = options.resume or options.out or default_out
    if options.resume is None and (out / "state.pt").exists():
        raise RoboMetaError(f"{out} already holds a run: use --resume {out} or another --out")
    check_writable(out, "--resume" if options.resume else "--out", directory=True)
    runner = Runner(config, out, device, resume=options.resume is not None,
                    progress=False if options.no_progress else None)
    print(f"training {config.algo} on {config.family} for {config.run_steps():,} steps "
          f"on {device} -> {out}")
    result = runner.train()
    kept = {f"eval/return_ep{i + 1}" for i in shown_episodes(len(returned_episodes(result)))}
    shown = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in result.items()
                      if not k.startswith("eval/return_ep") or k in kept)
    print(f"done: {shown}\ncheckpoint: {out}")
    return 0
