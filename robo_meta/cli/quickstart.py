"""``robo-meta quickstart``: watch a policy adapt, in about three minutes on 2 CPU cores.

A guided tour made of the other subcommands (each step prints the exact command it runs, so
every number can be reproduced one command at a time), everything under ``--out``:

1. ``evaluate`` the shipped ``cheetah-vel`` policies ``rl2``, ``dr`` and ``oracle`` on the 40
   held-out ``test`` tasks (target velocities never trained on) x ``--seeds`` seeds: the same
   tasks and seeds for all three, so the reports are paired; ``rl2``'s with a linear probe of
   its memory (``--probe``), which says from which step the memory holds the target;
2. ``compare`` them: the curves, the paired difference rl2 - dr with its 95 % CI and the
   normalized score with its bootstrap interval, and the figure ``compare.png``;
3. ``demo``: two episodes of ``rl2`` (one trial) beside ``dr`` on one test task, as an mp4;
4. ``train`` the ``oracle`` baseline for ``--train-steps`` steps and ``evaluate`` it against
   the zero policy on the same tasks and seeds (before/after, paired).

Why ``cheetah-vel``: the half-cheetah must run at a target velocity it is not told. ``dr``
(one policy for all targets) runs at one compromise speed; ``oracle`` is given the target;
``rl2`` (a recurrent policy) infers it from the rewards within its first episode. Why train
the ``oracle`` here: a couple of CPU minutes train it far enough to see it learn, while
training ``rl2`` to the shipped level took 33 minutes on 2 CPU cores (a first seed, 5.5
minutes on a GPU: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import time
from pathlib import Path

from robo_meta.argtypes import MAX_SEEDS, check_writable, nonnegative_int, positive_int
from robo_meta.envs.errors import RoboMetaError

FAMILY = "cheetah-vel"
DEMO_TASK = "test:18"  # target velocity 1.95: rl2 sprints, dr keeps its compromise speed
TRAIN_ALGO = "oracle"
TRAIN_NUM_ENVS = 256
PROBE_TASKS = 40  # training tasks the probe of rl2's memory is fitted on (a few seconds)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart", help="see adaptation: evaluate, compare and film the shipped "
                           "cheetah-vel policies, then a short training (~3 min on 2 CPUs)",
        description="Evaluate the shipped cheetah-vel rl2, dr and oracle policies on the same "
                    "held-out tasks and seeds, compare them (paired differences, normalized "
                    "score, curve PNG), render rl2 beside dr as a video, then train the oracle "
                    "briefly and compare it with the zero policy. Each step prints the command "
                    "it runs; every file goes under --out.",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"),
                        help="output directory (default runs/quickstart)")
    parser.add_argument("--seeds", type=positive_int(MAX_SEEDS), default=3,
                        help="trials per held-out task (default 3)")
    parser.add_argument("--train-steps", type=nonnegative_int(), default=2_000_000,
                        help="env steps of the short training (default 2,000,000; 0 skips it)")
    parser.add_argument("--no-video", action="store_true", help="skip the demo video")
    parser.add_argument("--device", default="auto",
                        help="torch device for the training: auto, cpu or cuda (default auto)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robo_meta.device import resolve_device

    resolve_device(args.device)  # a bad --device is one line now, not after the tour
    out, start = check_writable(args.out, "--out", directory=True), time.perf_counter()
    train_dir = out / f"{FAMILY}-{TRAIN_ALGO}-{_steps_label(args.train_steps)}"
    if args.train_steps and (train_dir / "state.pt").exists():
        raise RoboMetaError(f"{train_dir} holds an earlier quickstart's training run: remove "
                            f"{out} or give another --out")
    reports = out / "reports"
    seeds = ["--split", "test", "--seeds", str(args.seeds)]

    _title(f"1. Evaluate the shipped {FAMILY} policies on the held-out test tasks "
           f"(same tasks and seeds: paired)")
    paths = {}
    for algo in ("rl2", "dr", "oracle"):
        paths[algo] = reports / f"{FAMILY}-{algo}-test.json"
        probe = ["--probe", str(PROBE_TASKS)] if algo == "rl2" else []
        code = _call(["evaluate", "--policy", f"pretrained:{FAMILY}-{algo}", *seeds, *probe,
                      "--out", str(paths[algo])], quiet=True)
        if code:
            return code

    _title("2. Compare them: curves, paired differences, normalized score")
    code = _call(["compare", *(str(paths[a]) for a in ("rl2", "dr", "oracle")),
                  "--out", str(out / "compare.png")])
    if code:
        return code
    _explain_trio(paths)

    video = None
    if not args.no_video:
        _title(f"3. Film two episodes of rl2 (one trial: it adapts between them) beside dr on "
               f"{DEMO_TASK} (offscreen rendering)")
        video = out / f"{FAMILY}-rl2-vs-dr.mp4"
        code = _call(["demo", "--policy", f"pretrained:{FAMILY}-rl2", "--compare",
                      f"pretrained:{FAMILY}-dr", "--task", DEMO_TASK, "--episodes", "2",
                      "--video", str(video)])
        if code:
            print("(no video: see the line above; --no-video skips this step)")
            video = None

    trained = None
    if args.train_steps:
        _title(f"4. Train the {TRAIN_ALGO} baseline (told the target velocity) for "
               f"{args.train_steps:,} steps, then evaluate it against the zero policy")
        paths["zero"] = reports / f"zero-{FAMILY}-test.json"
        code = _call(["evaluate", "--policy", "zero", "--family", FAMILY, *seeds,
                      "--out", str(paths["zero"])], quiet=True)
        code = code or _call(
            ["train", "--family", FAMILY, "--algo", TRAIN_ALGO, "--num-envs",
             str(TRAIN_NUM_ENVS), "--total-steps", str(args.train_steps), "--eval-every",
             str(max(1, args.train_steps // 4)), "--device", args.device, "--no-progress",
             "--out", str(train_dir)])
        trained = reports / f"{train_dir.name}-test.json"
        code = code or _call(["evaluate", "--policy", str(train_dir), *seeds,
                              "--out", str(trained)], quiet=True)
        if code:
            return code
        _explain_training(paths["zero"], trained, paths["oracle"])

    _title(f"Done in {time.perf_counter() - start:.0f} s. Files under {out}/:")
    files = [*(paths[a] for a in paths), out / "compare.png", video,
             trained, train_dir if args.train_steps else None]
    for path in (p for p in files if p is not None):
        print(f"  {path}")
    return 0


def _title(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _call(argv: list[str], quiet: bool = False) -> int:
    """Run ``robo-meta ARGV`` in this process, printing the command first.

    ``quiet`` keeps only its last line (the report path); errors still reach stderr.
    """
    from robo_meta.cli.main import main

    print(f"$ robo-meta {shlex.join(argv)}", flush=True)
    start = time.perf_counter()
    if not quiet:
        code = main(argv)
    else:
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            code = main(argv)
        lines = captured.getvalue().strip().splitlines()
        if lines and not code:
            print("  " + next((ln for ln in lines if ln.startswith("report:")), lines[-1]))
    print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    return code


def _explain_trio(paths: dict[str, Path]) -> None:
    """The trio's comparison in two plain sentences, from the same reports."""
    from robo_meta import report as reports

    rl2, dr, oracle = (reports.load_report(paths[a]) for a in ("rl2", "dr", "oracle"))
    diff = reports.paired_difference(rl2, dr)
    score = reports.normalized_score(rl2, dr, oracle)
    k = 1 if rl2["episodes"] > 1 else 0
    print(f"\nIn words: rl2 is never told the target velocity, yet by episode {k + 1} it scores "
          f"{score['score'][k]:.2f} (95% CI {score['low'][k]:.2f} to {score['high'][k]:.2f}) "
          f"of the way from dr (0) to the oracle that is told it (1), and beats dr by "
          f"{diff['mean'][k]:+.1f} ± {diff['ci95'][k]:.1f} per episode on the same tasks and "
          f"seeds. {_across_the_trial(rl2) if k else ''}".rstrip())
    if "probe" in rl2:
        print(_what_the_memory_holds(rl2["probe"]))


def _across_the_trial(report: dict) -> str:
    """What episode 2 - episode 1 of ``report`` (paired) says about when it adapts."""
    from robo_meta.quality_bars import episode_gain

    gain = episode_gain(report)
    numbers = f"{gain['mean']:+.1f} ± {gain['ci95']:.1f} from episode 1 to 2, paired"
    if gain["significant"]:
        return f"It narrows in on the target as the rewards come in: {numbers}."
    if gain["mean"] >= -gain["ci95"]:
        return f"It infers the target within its first episode: {numbers}."
    return f"It loses from episode 1 to 2: {numbers}."


def _what_the_memory_holds(probe: dict) -> str:
    """When a linear probe reads the target from rl2's memory (R² at a few steps)."""
    from robo_meta.identification import format_r2

    first = probe["by_episode"][0]["r2"]
    read = ", ".join(f"{format_r2(first[s - 1])} at step {s}" for s in (1, 10, 50)
                     if s <= len(first))
    carried = (f", and {format_r2(probe['by_episode'][1]['r2'][0])} at the first step of "
               f"episode 2" if len(probe["by_episode"]) > 1 else "")
    return (f"Its memory holds the target: a linear probe (fitted on {probe['fit_tasks']} "
            f"training tasks) reads it with R² {read} of episode 1{carried}.")


def _explain_training(zero_path: Path, trained_path: Path, shipped_path: Path) -> None:
    """Before (the zero policy) and after, paired, with the shipped oracle for scale."""
    from robo_meta import report as reports
    from robo_meta.text import table

    zero, trained, shipped = (reports.load_report(p) for p in (zero_path, trained_path,
                                                               shipped_path))
    episodes = min(r["episodes"] for r in (zero, trained, shipped))
    rows = []
    for what, r in (("before: zero policy", zero), (f"after: {trained['policy']['name']}",
                                                     trained),
                    (f"shipped {shipped['policy']['name']}{_steps_note(shipped)}", shipped)):
        s = r["summary"]
        rows.append([what, *(f"{m:.1f} ± {c:.1f}" for m, c in
                             zip(s["mean_return"][:episodes], s["ci95_return"][:episodes],
                                 strict=True))])
    diff = reports.paired_difference(trained, zero)
    rows.append(["after - before (paired)",
                 *(f"{m:+.1f} ± {c:.1f}" for m, c in zip(diff["mean"], diff["ci95"],
                                                          strict=True))])
    print("\nmean return ± 95% CI over the test tasks")
    print(table(rows, ["", *(f"ep {k}" for k in range(1, episodes + 1))], left=1))


def _steps_note(report: dict) -> str:
    """`` (5.3M steps)`` from a report's policy metadata, where it says."""
    steps = report["policy"].get("meta", {}).get("steps")
    return f" ({steps / 1e6:.1f}M steps)" if isinstance(steps, int) and steps > 0 else ""


def _steps_label(steps: int) -> str:
    """2000000 -> 2M, 20000 -> 20k."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if steps >= size and steps % size == 0:
            return f"{steps // size}{unit}"
    return str(steps)
