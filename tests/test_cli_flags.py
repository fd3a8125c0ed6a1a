"""Flags are checked at the boundary: every numeric flag of every subcommand but ``train``
(whose flags the config dataclasses validate) has a kind and a range (``robo_meta.argtypes``),
and every output path is checked writable before any work starts. A bad flag is one line on
stderr, exit status 2, and nothing written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_helpers import load_script

from robo_meta.argtypes import (
    OneLineParser,
    UsageError,
    check_writable,
    finite_float,
    nonnegative_int,
    positive_float,
    positive_int,
    seed,
)
from robo_meta.cli.main import main

FAMILY = "point-goal"
ZERO = ["--policy", "zero", "--family", FAMILY]


def _baseline_main(argv: list[str]) -> int:
    return load_script("baseline_sb3").main(argv)


def _run(argv: list[str]) -> int:
    """``robo-meta ARGV``, or ``scripts/baseline_sb3.py ARGV[1:]`` for ARGV[0] 'baseline'."""
    if argv[0] == "baseline":
        return _baseline_main(argv[1:])
    return main(argv)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*"))


BIG = str(10**12)
BAD_FLAGS = [
    # (argv, the one line's expected start after "PROG: error: ")
    (["evaluate", *ZERO, "--seeds", "0"], "argument --seeds: must be positive, got 0"),
    (["evaluate", *ZERO, "--seeds", "1000000000"], "argument --seeds: must be at most 1000"),
    (["evaluate", *ZERO, "--seeds", "two"], "argument --seeds: expected a positive integer"),
    (["evaluate", *ZERO, "--episodes", "-1"], "argument --episodes: must be positive"),
    (["evaluate", *ZERO, "--episodes", "1e3"], "argument --episodes: expected a positive "
                                               "integer, got '1e3'"),
    (["evaluate", *ZERO, "--episodes", "1001"], "argument --episodes: must be at most 1000"),
    (["evaluate", *ZERO, "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
    (["evaluate", *ZERO, "--seed", str(2**32)], "argument --seed: must be at most 4294967295"),
    (["evaluate", *ZERO, "--seed", str(2**64)], "argument --seed: must be at most"),
    (["evaluate", *ZERO, "--seed", "9" * 5000], "argument --seed: expected an integer seed"),
    (["evaluate", *ZERO, "--num-envs", "0"], "argument --num-envs: must be positive"),
    (["evaluate", *ZERO, "--num-envs", BIG], "argument --num-envs: must be at most 65536"),
    (["evaluate", *ZERO, "--threads", "-1"], "argument --threads: must be >= 0"),
    (["evaluate", *ZERO, "--threads", "100000"], "argument --threads: must be at most 1024"),
    (["evaluate", *ZERO, "--train-tasks", "0"], "argument --train-tasks: must be positive"),
    (["evaluate", *ZERO, "--train-tasks", BIG], "argument --train-tasks: must be at most 10000"),
    (["evaluate", *ZERO, "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["evaluate", "--family", FAMILY], "the following arguments are required: --policy"),
    (["evaluate", *ZERO, "--seeds"], "argument --seeds: expected one argument"),
    (["demo", *ZERO, "--episodes", "0"], "argument --episodes: must be positive"),
    (["demo", *ZERO, "--episodes", BIG], "argument --episodes: must be at most 1000"),
    (["demo", *ZERO, "--width", "0"], "argument --width: must be positive"),
    (["demo", *ZERO, "--width", "100000"], "argument --width: must be at most 8192"),
    (["demo", *ZERO, "--height", "-360"], "argument --height: must be positive"),
    (["demo", *ZERO, "--height", "3.5"], "argument --height: expected a positive integer"),
    (["demo", *ZERO, "--fps", "0"], "argument --fps: must be positive"),
    (["demo", *ZERO, "--fps", "-30"], "argument --fps: must be positive"),
    (["demo", *ZERO, "--fps", "nan"], "argument --fps: must be a finite number, got 'nan'"),
    (["demo", *ZERO, "--fps", "inf"], "argument --fps: must be a finite number"),
    (["demo", *ZERO, "--fps", "1e400"], "argument --fps: must be a finite number"),
    (["demo", *ZERO, "--fps", "1e9"], "argument --fps: must be at most 1000"),
    (["demo", *ZERO, "--fps", "fast"], "argument --fps: expected a positive number"),
    (["demo", *ZERO, "--seed", "-3"], "argument --seed: must be >= 0"),
    (["demo", *ZERO, "--seed", str(2**32)], "argument --seed: must be at most 4294967295"),
    (["compare"], "the following arguments are required: reports"),
    (["compare", "a.json", "--bogus"], "unrecognized arguments: --bogus"),
    (["policies", "--seeds", "0"], "argument --seeds: must be positive"),
    (["policies", "--seeds", BIG], "argument --seeds: must be at most 1000"),
    (["policies", "frobnicate"], "argument action: invalid choice: 'frobnicate'"),
    (["families", "--bogus"], "unrecognized arguments: --bogus"),
    (["families", "extra"], "unrecognized arguments: extra"),
    (["bench"], "the following arguments are required: KIND"),
    (["bench", "fly"], "argument KIND: invalid choice: 'fly'"),
    (["bench", "sim", "--family", FAMILY, "--num-envs", "0"],
     "argument --num-envs: must be positive"),
    (["bench", "sim", "--family", FAMILY, "--num-envs", BIG],
     "argument --num-envs: must be at most 65536"),
    (["bench", "sim", "--family", FAMILY, "--steps", BIG], "argument --steps: must be at most"),
    (["bench", "sim", "--family", FAMILY, "--threads", "-2"], "argument --threads: must be >= 0"),
    (["bench", "sim", "--family", FAMILY, "--rounds", "0"], "argument --rounds: must be positive"),
    (["bench", "sim", "--family", FAMILY, "--seed", "-1"], "argument --seed: must be >= 0"),
    (["bench", "sim", "--family", FAMILY, "--single-steps", BIG],
     "argument --single-steps: must be at most"),
    (["bench", "sim", "--family", FAMILY, "--single-rounds", "-1"],
     "argument --single-rounds: must be positive"),
    (["bench", "train", "--family", FAMILY, "--steps", "0"], "argument --steps: must be positive"),
    (["bench", "train", "--family", FAMILY, "--sb3-steps", BIG],
     "argument --sb3-steps: must be at most"),
    (["bench", "train", "--family", FAMILY, "--num-envs", BIG],
     "argument --num-envs: must be at most 65536"),
    (["bench", "train", "--family", FAMILY, "--torch-threads", "-1"],
     "argument --torch-threads: must be >= 0"),
    (["bench", "train", "--family", FAMILY, "--seed", str(2**32)],
     "argument --seed: must be at most"),
    (["bench", "ray", "--workers", "1,0"], "argument --workers: worker counts must be 1 to 1024"),
    (["bench", "ray", "--workers", "2,2"], "argument --workers: worker counts listed twice"),
    (["bench", "ray", "--workers", "a"], "argument --workers: expected comma-separated integers"),
    (["bench", "ray", "--worker-threads", "0"], "argument --worker-threads: must be positive"),
    (["bench", "ray", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["bench", "eval", "--episodes", "0"], "argument --episodes: must be positive"),
    (["bench", "eval", "--rounds", BIG], "argument --rounds: must be at most 1000"),
    (["bench", "eval", "--seed", "x"], "argument --seed: expected an integer seed"),
    (["baseline", "--family", FAMILY, "--total-steps", "0", "--out", "run"],
     "argument --total-steps: must be positive"),
    (["baseline", "--family", FAMILY, "--total-steps", str(10**12), "--out", "run"],
     "argument --total-steps: must be at most"),
    (["baseline", "--family", FAMILY, "--total-steps", "64", "--n-envs", "0", "--out", "run"],
     "argument --n-envs: must be positive"),
    (["baseline", "--family", FAMILY, "--total-steps", "64", "--n-envs", BIG, "--out", "run"],
     "argument --n-envs: must be at most 1024"),
    (["baseline", "--family", FAMILY, "--total-steps", "64", "--seed", "-1", "--out", "run"],
     "argument --seed: must be >= 0"),
    (["baseline", "--family", FAMILY, "--total-steps", "64", "--algo", "a2c", "--out", "run"],
     "argument --algo: invalid choice: 'A2C'"),
    (["baseline", "--family", FAMILY, "--total-steps", "64"],
     "the following arguments are required: --out"),
]


def _prog(argv: list[str]) -> str:
    if argv[0] == "baseline":
        return "baseline_sb3.py"
    if argv[0] == "bench" and len(argv) > 1 and argv[1] in ("sim", "train", "eval", "ray"):
        return f"robo-meta bench {argv[1]}"
    return f"robo-meta {argv[0]}"


@pytest.mark.parametrize("argv, message", BAD_FLAGS, ids=[" ".join(a)[:60] for a, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_exit_2_and_nothing_written(argv, message, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs (reports/, videos/, run) would land here
    code = _run(argv)
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"{_prog(argv)}: error: {message}"), lines[0]
    assert _files(tmp_path) == []


def test_help_still_prints_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: robo-meta evaluate" in out and "--seeds" in out


# --- output paths -------------------------------------------------------------------------


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory nobody can create files in: mode 0555, or immutable where we are root."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    # root ignores the mode bits: make the directory immutable instead, where we can
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr +i: no read-only directory to test")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def _out_argv(command: str, out: Path) -> list[str]:
    return {
        "evaluate": ["evaluate", *ZERO, "--out", str(out)],
        "demo": ["demo", *ZERO, "--video", str(out)],
        "compare": ["compare", "a.json", "b.json", "--out", str(out)],
        "baseline": ["baseline", "--family", FAMILY, "--total-steps", "64", "--out", str(out)],
    }[command]


SUFFIX = {"evaluate": ".json", "demo": ".mp4", "compare": ".png", "baseline": ""}
COMMANDS = list(SUFFIX)


def _bad_out(kind: str, command: str, tmp_path: Path, readonly: Path | None) -> tuple[Path, str]:
    name = f"out{SUFFIX[command]}"
    if kind == "a directory where a file goes":
        path = tmp_path / name
        path.mkdir()
        return path, "is a directory (a file name is expected)"
    if kind == "a file where a directory goes":
        path = tmp_path / name
        path.write_text("")
        return path, "exists and is not a directory"
    if kind == "a parent that is a file":
        (tmp_path / "file").write_text("")
        return tmp_path / "file" / "sub" / name, "file is not a directory"
    if kind == "under /proc":
        return Path("/proc") / name, "cannot create files in /proc"
    if kind == "a device":
        return Path("/dev/null"), "exists and is not a regular file"
    assert kind == "a read-only directory"
    return readonly / "sub" / name, "cannot create files in"


KINDS = {
    "evaluate": ["a directory where a file goes", "a parent that is a file", "under /proc",
                 "a device", "a read-only directory"],
    "demo": ["a directory where a file goes", "a parent that is a file", "under /proc",
             "a read-only directory"],
    "compare": ["a directory where a file goes", "a parent that is a file", "under /proc",
                "a read-only directory"],
    "baseline": ["a file where a directory goes", "a parent that is a file", "under /proc",
                 "a read-only directory"],
}
CASES = [(command, kind) for command, kinds in KINDS.items() for kind in kinds]


@pytest.mark.parametrize("command, kind", CASES, ids=[f"{c}: {k}" for c, k in CASES])
def test_an_unwritable_out_is_one_line_exit_2_before_any_work(command, kind, tmp_path, capsys,
                                                              monkeypatch, request):
    readonly = request.getfixturevalue("readonly_dir") if "read-only" in kind else None
    out, message = _bad_out(kind, command, tmp_path, readonly)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _files(tmp_path)
    code = _run(_out_argv(command, out))
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"{_prog([command])}: error: "), lines[0]
    assert message in lines[0], lines[0]
    assert captured.out == ""  # no work started (evaluate and baseline print as they go)
    assert _files(tmp_path) == before


def test_the_figure_beside_the_report_is_checked_too(tmp_path, capsys):
    (tmp_path / "r.png").mkdir()
    code = main(["evaluate", *ZERO, "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "r.png: is a directory" in err[0], err
    assert not (tmp_path / "r.json").exists()


def test_a_default_out_is_checked_before_the_trials(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").write_text("a file where the reports folder goes")
    code = main(["evaluate", *ZERO, "--split", "val"])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "reports is not a directory" in err[0] and captured.out == ""


# --- the types ------------------------------------------------------------------------------


def test_the_types_accept_their_whole_range():
    assert positive_int(10)("1") == 1 and positive_int(10)("10") == 10
    assert positive_int()(str(10**30)) == 10**30
    assert nonnegative_int(3)("0") == 0 and nonnegative_int(3)(" 3 ") == 3
    assert seed("0") == 0 and seed(str(2**32 - 1)) == 2**32 - 1
    assert finite_float(-1.0, 1.0)("-1") == -1.0 and finite_float()("1e300") == 1e300
    assert positive_float(30.0)("30") == 30.0 and positive_float()("1e-9") == 1e-9


@pytest.mark.parametrize("kind, text, message", [
    (positive_int(10), "11", "must be at most 10, got 11"),
    (nonnegative_int(), "-0.5", "expected an integer >= 0, got '-0.5'"),
    (seed, "4294967296", "must be at most 4294967295"),
    (finite_float(-1.0, 1.0), "-1.5", "must be >= -1, got -1.5"),
    (finite_float(), "-inf", "must be a finite number"),
    (positive_float(), "0.0", "must be positive, got 0.0"),
    (positive_float(2.5), "2.6", "must be at most 2.5"),
])
def test_the_types_refuse_outside_it(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        kind(text)


def test_the_parser_raises_one_usage_error_naming_the_subcommand():
    parser = OneLineParser(prog="tool")
    sub = parser.add_subparsers(dest="command").add_parser("run")
    sub.add_argument("--n", type=positive_int(5))
    with pytest.raises(UsageError) as info:
        parser.parse_args(["run", "--n", "6"])
    assert info.value.line() == "tool run: error: argument --n: must be at most 5, got 6"


def test_check_writable_leaves_nothing_behind(tmp_path):
    assert check_writable(tmp_path / "a" / "b" / "r.json", "--out") == tmp_path / "a/b/r.json"
    assert check_writable(tmp_path / "run", "--out", directory=True) == tmp_path / "run"
    (tmp_path / "existing.json").write_text("old")
    check_writable(tmp_path / "existing.json", "--out")
    assert [p.name for p in tmp_path.iterdir()] == ["existing.json"]
    assert (tmp_path / "existing.json").read_text() == "old"
