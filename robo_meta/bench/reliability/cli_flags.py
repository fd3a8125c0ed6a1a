"""CLI flags: the mistakes a user makes by typing, in every subcommand.

``train``, ``evaluate``, ``compare``, ``demo``, ``policies``, ``families``, ``bench``,
``quickstart``, no command and an unknown one, fed NaN, inf, negative and huge numbers,
non-numbers, unknown flags and names, ``--device cuda`` without a GPU, broken ``--config``
files, broken reports for ``compare``, and outputs that cannot or must not be written (under
/proc, an existing file or directory, under a file, a read-only directory). Each must end in
one line and exit 2: not a traceback, not a hang on a huge number, not a run trained on NaN
(``weights_check``), not an existing file overwritten (``_file_kept``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from robo_meta.bench.reliability.core import (
    HANG_TIMEOUT,
    POINT_TASKS,
    SILENT,
    TINY,
    TORN,
    ZERO,
    Case,
    FixtureError,
    Proc,
    Target,
    _last,
    readonly,
    run,
    run_dr,
    weights_check,
)

DEMO = ["--policy", "zero", "--family", "point-goal", "--episodes", "1", "--width", "64",
        "--height", "48"]
BENCH_SIM = ["bench", "sim", "--family", "point-goal", "--num-envs", "8", "--steps", "10",
             "--rounds", "1", "--threads", "1"]


def _reports_fixture(target: Target, folder: Path) -> tuple[Path, Path]:
    paths = []
    for policy in ("zero", "random"):
        out = folder / f"{policy}.json"
        proc = run(target, ["evaluate", "--policy", policy, "--family", "point-goal",
                            "--episodes", "2", "--threads", "1", "--out", str(out)], folder)
        if proc.rc != 0:
            raise FixtureError(f"evaluate --policy {policy} failed: {_last(proc.err)}")
        paths.append(out)
    return paths[0], paths[1]


def _setup_readonly(target: Target, folder: Path) -> dict:
    return {"ro": str(readonly(folder))}


def _setup_file(target: Target, folder: Path) -> dict:
    (folder / "existing").write_text("keep me\n")
    return {"file": str(folder / "existing")}


def _file_kept(target: Target, folder: Path, proc: Proc) -> tuple[str, str] | None:
    path = folder / "existing"
    if path.is_file() and path.read_text() != "keep me\n":
        return TORN, f"exit {proc.rc}; the existing file at --out was overwritten"
    return None


def cli_flag_cases(cuda: bool) -> list[Case]:
    c = "CLI flags"
    cases: list[Case] = []

    def train(name, *flags, out="{dir}/run", **kw):
        kw.setdefault("check", weights_check)
        cases.append(Case(c, f"train {name}", ["train", *TINY, "--out", out, *flags], **kw))

    for flag, value in [("--learning-rate", "nan"), ("--learning-rate", "inf"),
                        ("--learning-rate", "-0.001"), ("--init-log-std", "1e30"),
                        ("--init-log-std", "nan"), ("--max-learning-rate", "nan"),
                        ("--total-steps", "-256"), ("--total-steps", "0"),
                        ("--num-envs", "0"), ("--num-envs", "-8"),
                        ("--rollout-steps", "0"), ("--epochs", "-1"), ("--minibatches", "0"),
                        ("--eval-every", "-5"), ("--checkpoint-every", "-5"),
                        ("--threads", "-2"), ("--time-limit-s", "-1"),
                        ("--time-limit-s", "nan"), ("--seed", "-1"),
                        ("--seed", str(2**64)), ("--episodes-per-trial", "0"),
                        ("--eval-tasks", "0"), ("--eval-tasks", "-3"),
                        ("--learning-rate", "abc")]:
        train(f"{flag} {value}", flag, value)
    train("--num-envs 10**12", "--num-envs", str(10**12), timeout=HANG_TIMEOUT)
    for flag, value in [("--gamma", "nan"), ("--gae-lambda", "2"), ("--clip-coef", "-1"),
                        ("--hidden-sizes", "0"), ("--torch-threads", "-1"),
                        ("--max-grad-norm", "inf")]:
        train(f"{flag} {value}", flag, value, needs=("algo-config-flags",))
    train("--family nosuch", "--family", "nosuch")
    train("--algo nosuch", "--algo", "nosuch")
    train("--device tpu", "--device", "tpu")
    if not cuda:
        train("--device cuda (no GPU)", "--device", "cuda")
    train("unknown flag", "--bogus-flag", "1")
    train("--out under /proc", out="/proc/probe-run", check=None)
    train("--out an existing file", out="{file}", check=_file_kept, setup=_setup_file)
    train("--out in a read-only directory", out="{ro}/run", check=None, setup=_setup_readonly)
    train("--config missing file", "--config", "{dir}/missing.json")
    train("--config malformed JSON", "--config", "{dir}/bad.json",
          setup=lambda t, f: (f / "bad.json").write_text('{"learning_rate": 0.1,'))
    train("--config NaN learning rate", "--config", "{dir}/nan.json",
          setup=lambda t, f: (f / "nan.json").write_text('{"learning_rate": NaN}'))
    train("--config unknown key", "--config", "{dir}/typo.json",
          setup=lambda t, f: (f / "typo.json").write_text('{"learnig_rate": 0.001}'))
    train("--resume missing directory", "--resume", "{dir}/nowhere")

    def evaluate(name, *flags, base=ZERO, **kw):
        argv = ["evaluate", *base, *flags]
        if "--out" not in flags:
            argv += ["--out", "{dir}/r.json"]
        cases.append(Case(c, f"evaluate {name}", argv, **kw))

    for flag, value in [("--episodes", "0"), ("--episodes", "-1"), ("--seeds", "0"),
                        ("--seed", "-1"), ("--seed", str(2**64)), ("--num-envs", "0"),
                        ("--num-envs", "-4"), ("--threads", "-1"), ("--split", "bogus"),
                        ("--family", "nosuch"), ("--episodes", "abc")]:
        evaluate(f"{flag} {value}", flag, value)
    evaluate("--episodes 10**9", "--episodes", str(10**9), timeout=HANG_TIMEOUT)
    evaluate("--seeds 10**9", "--seeds", str(10**9), timeout=HANG_TIMEOUT)
    evaluate("--split train --train-tasks 0", "--split", "train", "--train-tasks", "0")
    evaluate("--split train --train-tasks -5", "--split", "train", "--train-tasks", "-5")
    for policy in ("{dir}/nowhere", "pretrained:nosuch", "sb3:{dir}/missing.zip"):
        evaluate(f"--policy {policy.replace('{dir}/', '')}", "--policy", policy)
    if not cuda:
        evaluate("--device cuda (no GPU)", "--device", "cuda")
    evaluate("--out under /proc", "--out", "/proc/probe.json")
    evaluate("--out an existing directory", "--out", "{dir}")
    evaluate("--out whose parent is a file", "--out", "{file}/r.json", setup=_setup_file)
    evaluate("--out in a read-only directory", "--out", "{ro}/sub/r.json",
             setup=_setup_readonly)
    evaluate("unknown flag", "--bogus")

    def compare(name, *argv, expect="refuse", setup=None, **kw):
        def prepare(target, folder):
            zero, rand = target.fixture("reports", _reports_fixture)
            fields = {"zero": str(zero), "random": str(rand)}
            if setup is not None:
                extra = setup(target, folder, zero)
                fields.update(extra if isinstance(extra, dict) else {})
            return fields
        cases.append(Case(c, f"compare {name}", ["compare", *argv], expect=expect,
                          setup=prepare, **kw))

    def bad_report(text_of: Callable[[dict], object]):
        def setup(target, folder, zero):
            report = json.loads(zero.read_text())
            (folder / "bad.json").write_text(json.dumps(text_of(report)))
        return setup

    def nan_returns(report):
        report["tasks"][0]["returns"][0][0] = float("nan")
        return report

    def ragged(report):
        report["tasks"][0]["returns"][0] = report["tasks"][0]["returns"][0][:1]
        return report

    def fmt(report):
        report["format"] = "robo_meta.report/99"
        return report

    compare("two valid reports (control)", "{zero}", "{random}", "--out", "{dir}/c.png",
            expect="ok")
    compare("a missing report", "{zero}", "{dir}/missing.json", "--out", "{dir}/c.png")
    compare("malformed JSON", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=lambda t, f, z: (f / "bad.json").write_text('{"tasks": ['))
    compare("a JSON list", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=lambda t, f, z: (f / "bad.json").write_text("[]"))
    compare("an empty object", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=lambda t, f, z: (f / "bad.json").write_text("{}"))
    compare("NaN returns", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=bad_report(nan_returns), if_accepted=SILENT)
    compare("ragged returns", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=bad_report(ragged), if_accepted=SILENT)
    compare("unknown format", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=bad_report(fmt))
    compare("--out under /proc", "{zero}", "{random}", "--out", "/proc/c.png")
    compare("--out in a read-only directory", "{zero}", "{random}", "--out", "{ro}/c.png",
            setup=lambda t, f, z: _setup_readonly(t, f))
    compare("unknown flag", "{zero}", "{random}", "--bogus")

    def demo(name, *flags, **kw):
        argv = ["demo", *DEMO, *flags]
        if "--video" not in flags:
            argv += ["--video", "{dir}/v.mp4"]
        cases.append(Case(c, f"demo {name}", argv, **kw))

    for flag, value in [("--episodes", "0"), ("--width", "0"), ("--width", "-64"),
                        ("--width", "33"), ("--height", "0"), ("--fps", "0"), ("--fps", "nan"),
                        ("--fps", "-5"), ("--task", "test:9999"), ("--task", "test:-1"),
                        ("--task", "bogus:1"), ("--task", "test:abc"), ("--seed", "-1"),
                        ("--policy", "{dir}/nowhere")]:
        demo(f"{flag} {value.replace('{dir}/', '')}", flag, value)
    demo("--width 10**6", "--width", str(10**6), timeout=HANG_TIMEOUT)
    demo("--task FILE#7 of a 2-task file", "--task", "{dir}/tasks.json#7",
         setup=lambda t, f: (f / "tasks.json").write_text(json.dumps(POINT_TASKS)))
    demo("--video under /proc", "--video", "/proc/v.mp4")
    demo("--video an existing directory", "--video", "{dir}")
    demo("--video in a read-only directory", "--video", "{ro}/v.mp4", setup=_setup_readonly)
    demo("unknown flag", "--bogus")

    def policies(name, *argv, **kw):
        cases.append(Case(c, f"policies {name}", ["policies", *argv], **kw))

    policies("export of a missing run", "export", "{dir}/nowhere", "probe-never-written",
             "--command", "x")
    policies("export --seeds 0", "export", "{run}", "probe-never-written", "--command", "x",
             "--seeds", "0", setup=lambda t, f: {"run": str(run_dr(t))})
    policies("an unknown action", "frobnicate")
    policies("refresh of an unknown name", "refresh", "nosuch", needs=("policies-refresh",))
    policies("unknown flag", "--bogus")

    cases.append(Case(c, "families unknown flag", ["families", "--bogus"]))
    cases.append(Case(c, "families extra argument", ["families", "extra"]))
    cases.append(Case(c, "no command", []))
    cases.append(Case(c, "unknown command", ["frobnicate"]))

    for flag, value in [("--num-envs", "0"), ("--steps", "-1"), ("--rounds", "0"),
                        ("--threads", "-1"), ("--seed", "-1")]:
        cases.append(Case(c, f"bench sim {flag} {value}", [*BENCH_SIM, flag, value]))
    cases.append(Case(c, "bench sim --family nosuch", [*BENCH_SIM, "--family", "nosuch"]))
    cases.append(Case(c, "bench eval --episodes 0",
                      ["bench", "eval", "--family", "point-goal", "--episodes", "0"]))
    cases.append(Case(c, "bench train --steps -1",
                      ["bench", "train", "--family", "point-goal", "--steps", "-1"]))
    cases.append(Case(c, "bench unknown kind", ["bench", "frobnicate"]))

    quick = ["quickstart", "--no-video"]
    for name, argv in [("--seeds 0", ["--seeds", "0", "--train-steps", "0"]),
                       ("--train-steps -1", ["--seeds", "1", "--train-steps", "-1"]),
                       ("--out under /proc", ["--train-steps", "0", "--out", "/proc/qs"]),
                       ("--device tpu", ["--train-steps", "0", "--device", "tpu"])]:
        out = [] if "--out" in argv else ["--out", "{dir}/qs"]
        cases.append(Case(c, f"quickstart {name}", [*quick, *argv, *out], needs=("quickstart",),
                          timeout=120))
    return cases
