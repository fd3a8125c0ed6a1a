"""Command-line boundary checks shared by ``robo-meta``, the bench kinds and ``scripts/``.

One argparse type per kind of number, each with the range that makes sense for its flag::

    parser.add_argument("--seeds", type=positive_int(1000))     # 1 .. 1000
    parser.add_argument("--threads", type=nonnegative_int(1024))
    parser.add_argument("--seed", type=seed)                     # 0 <= s < 2**32
    parser.add_argument("--fps", type=positive_float(1000.0))   # finite, > 0

Upper bounds are where a larger value would hang or exhaust memory rather than fail. A value
out of range is argparse's usual error, ``argument --seeds: must be at most 1000, got 5000``.
``OneLineParser`` turns every argparse complaint into a ``UsageError`` (a ``RoboMetaError``)
instead of a usage block and an exit, so the caller prints one line and exits with status 2.
``check_writable`` tells, before any work starts, whether an output path can be written.

This module imports nothing heavy (argparse types are needed when the parser is built). It
sits outside ``robo_meta.cli`` because the bench kinds use it too, and the library never
imports the CLI.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from robo_meta.envs.errors import RoboMetaError

SEED_LIMIT = 2**32  # np.random.seed (SB3's set_random_seed) takes 0 <= seed < 2**32
# upper bounds shared by the flags of several commands: beyond them a run exhausts memory or
# does not end in any useful time, rather than failing
MAX_EPISODES = 1000  # episodes per trial
MAX_SEEDS = 1000  # trials per task
MAX_TASKS = 10_000  # tasks sampled from the training distribution
MAX_NUM_ENVS = 65536  # simulations in one batch
MAX_THREADS = 1024  # threads of a simulation batch or of torch
MAX_ROUNDS = 1000  # repetitions of a benchmark


class UsageError(RoboMetaError):
    """Bad flags. ``prog`` is the (sub)command whose flags they are, e.g. ``robo-meta evaluate``."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog

    def line(self) -> str:
        return f"{self.prog}: error: {self}"


def error_line(prog: str, exc: RoboMetaError) -> str:
    """The one line a script prints for ``exc``: a flag error names the parser that refused
    it, any other error the script ``prog``."""
    return exc.line() if isinstance(exc, UsageError) else f"{prog}: {exc}"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise ``UsageError`` instead of printing usage and exiting.

    Subparsers made with ``add_subparsers`` are of the same class, so a subcommand's error
    names the subcommand. ``--help`` still prints and exits 0.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


class _Bounded:
    """argparse type: parse ``text`` as ``kind``, then require ``low <= value <= high``."""

    def __init__(self, name: str, parse: Callable[[str], int | float], what: str,
                 low: float | None, high: float | None, low_open: bool = False):
        self.__name__ = name  # argparse names the type in some messages
        self.parse, self.what = parse, what
        self.low, self.high, self.low_open = low, high, low_open

    def __call__(self, text: str) -> int | float:
        try:
            value = self.parse(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {self.what}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            bound = "positive" if self.low == 0 and self.low_open else f">= {_show(self.low)}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text.strip()}")
        if self.high is not None and value > self.high:
            raise argparse.ArgumentTypeError(
                f"must be at most {_show(self.high)}, got {text.strip()}")
        return value

    def __repr__(self) -> str:
        return f"{self.__name__}({self.low}, {self.high})"


def _show(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _parse_int(text: str) -> int:
    return int(text)


def positive_int(maximum: int | None = None) -> _Bounded:
    """An integer from 1 to ``maximum`` (no upper bound if None)."""
    return _Bounded("positive_int", _parse_int, "a positive integer", 0, maximum, low_open=True)


def nonnegative_int(maximum: int | None = None) -> _Bounded:
    """An integer from 0 to ``maximum``."""
    return _Bounded("nonnegative_int", _parse_int, "an integer >= 0", 0, maximum)


def int_list(name: str, low: int, high: int, example: str) -> Callable[[str], list[int]]:
    """argparse type: comma-separated distinct integers in [low, high], e.g. ``example``;
    ``name`` says what they are in the error."""

    def parse(text: str) -> list[int]:
        try:
            values = [int(p.strip()) for p in str(text).split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers >= {low} "
                                             f"(e.g. {example}), got {text!r}") from None
        bad = [v for v in values if not low <= v <= high]
        if bad:
            raise argparse.ArgumentTypeError(f"{name} must be {low} to {high}, got {bad[0]}")
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{name} listed twice in {text!r}")
        return values

    parse.__name__ = name.replace(" ", "_")
    return parse


seed = _Bounded("seed", _parse_int, "an integer seed", 0, SEED_LIMIT - 1)
"""A seed: an integer with 0 <= seed < 2**32."""


def finite_float(minimum: float | None = None, maximum: float | None = None) -> _Bounded:
    """A finite number (not nan or inf) from ``minimum`` to ``maximum``."""
    return _Bounded("finite_float", float, "a number", minimum, maximum)


def positive_float(maximum: float | None = None) -> _Bounded:
    """A finite number > 0, at most ``maximum``."""
    return _Bounded("positive_float", float, "a positive number", 0.0, maximum, low_open=True)


def check_writable(path: str | Path, flag: str, directory: bool = False) -> Path:
    """Raise a one-line ``RoboMetaError`` unless ``path`` can be written; return it.

    ``directory``: ``path`` is a directory to create or fill, else a file to create or replace
    (atomically, through a temporary sibling: its folder must take new files). Nothing is left
    behind: writability is tried with a temporary file that is removed at once.
    """
    path = Path(path)
    what = f"{flag} {path}"
    try:
        exists = path.exists()
        if exists and directory and not path.is_dir():
            raise RoboMetaError(f"{what}: exists and is not a directory")
        if exists and not directory:
            if path.is_dir():
                raise RoboMetaError(f"{what}: is a directory (a file name is expected)")
            if not path.is_file():
                raise RoboMetaError(f"{what}: exists and is not a regular file")
        # the folder that must take a new entry: the directory itself, else the file's parent;
        # where that does not exist yet, the nearest existing ancestor, which must take mkdir
        folder = path if (directory and exists) else path.parent
        folder = Path(os.path.abspath(folder))
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            raise RoboMetaError(f"{what}: {folder} is not a directory")
    except OSError as exc:
        raise RoboMetaError(f"{what}: {exc.strerror or exc}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".robo-meta-write-test-", dir=folder)
    except OSError as exc:
        raise RoboMetaError(
            f"{what}: cannot create files in {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path
