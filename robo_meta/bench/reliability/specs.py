"""Family specs: a spec is data a user writes by hand, so a mistake in it must be refused
where it is read.

Each case takes one of the target tree's own built-in specs (point-goal, cheetah-vel,
cheetah-motor, ant-crippled, hopper-params), renames it as a user spec, mutates it one way
(keys missing, unknown, misspelt or duplicated; NaN, zero, negative, fractional and huge
values; inverted, NaN and overlapping ranges; unknown robot, task kind, field, mode or
selector; truncated, empty, binary, missing files) and evaluates it. A misread spec otherwise
runs and reports the returns of a family nobody declared: a silent wrong result. The last
cases check that a file bearing a built-in's name is not silently replaced by the built-in,
and that a valid user spec trains and evaluates end to end.
"""

from __future__ import annotations

import re
from pathlib import Path

from robo_meta.bench.reliability.core import (
    ACCEPTED,
    CLEAN,
    HANG_TIMEOUT,
    SILENT,
    TIMEOUT,
    TINY,
    ZERO,
    Case,
    NotApplicable,
    Target,
    _rows,
    mean_return,
    run,
    scored,
    verdict,
)

SPEC_BASES = {"pg": "point-goal", "cv": "cheetah-vel", "cm": "cheetah-motor",
              "ac": "ant-crippled", "hp": "hopper-params"}


def spec_text(target: Target, base: str, mutations, rename: bool = True) -> str:
    """The target's own built-in spec ``base``, renamed ``probe-...`` (a user spec), with each
    ``(pattern, replacement)`` applied; a pattern that matches nothing makes the case n/a."""
    text = (target.root / "envs" / "families" / f"{base}.toml").read_text()
    if rename:
        text, n = re.subn(r'^name = ".*"$', f'name = "probe-{base}"', text, count=1,
                          flags=re.M)
        assert n == 1
    for pattern, replacement in mutations:
        if callable(pattern):
            text = pattern(text)
            continue
        text, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
        if n == 0:
            raise NotApplicable(f"{base}.toml of this tree has no match for {pattern!r}")
    return text


def spec_cases() -> list[Case]:
    c = "family specs"
    cases: list[Case] = []

    def spec(name, base, mutations, if_accepted=ACCEPTED, split="test", expect="refuse",
             rename=True, timeout=TIMEOUT):
        def setup(target, folder):
            (folder / "probe.toml").write_text(
                spec_text(target, SPEC_BASES[base], mutations, rename))
        cases.append(Case(
            c, f"{SPEC_BASES[base]}: {name}",
            ["evaluate", "--policy", "zero", "--family", "{dir}/probe.toml", "--split", split,
             "--episodes", "1", "--threads", "1", "--out", "{dir}/r.json"],
            expect=expect, setup=setup, check=scored(if_accepted), timeout=timeout))

    spec("renamed copy (control)", "pg", [], expect="ok")
    for key in ("horizon", "robot", "task"):
        spec(f"missing {key}", "pg", [(rf"^{key} = .*\n", "")])
    spec("missing test split", "pg", [(r"^test = .*\n", "")])
    spec("missing distribution", "pg", [(r'^distribution = "disk"\n', "")])
    spec("missing params table", "pg", [(r"(?s)^\[params\.goal\].*?(?=^\[splits\])", "")])
    spec("unknown key", "pg", [(r"^(horizon = .*)$", r'\1\ncolour = "red"')])
    spec("typo horizn", "pg", [(r"^horizon = ", "horizn = ")], if_accepted=SILENT)
    spec("duplicated key", "pg", [(r"^(horizon = .*)$", r"\1\n\1")])
    for value, kind in [("nan", SILENT), ("0", ACCEPTED), ("-5", ACCEPTED), ('"50"', ACCEPTED),
                        ("50.5", ACCEPTED)]:
        spec(f"horizon = {value}", "pg", [(r"^horizon = .*$", f"horizon = {value}")],
             if_accepted=kind)
    spec("horizon = 10**9", "pg", [(r"^horizon = .*$", "horizon = 1000000000")],
         timeout=HANG_TIMEOUT)
    for value in ("5.5", "0"):
        spec(f"frame_skip = {value}", "pg", [(r"^frame_skip = .*$", f"frame_skip = {value}")])
    spec("frame_skip = 10**9", "pg", [(r"^frame_skip = .*$", "frame_skip = 1000000000")],
         timeout=HANG_TIMEOUT)
    spec("test count 10**7", "pg", [(r"^test = \{ count = \d+", "test = { count = 10000000")],
         timeout=HANG_TIMEOUT)
    for value in ("0", "-1"):
        spec(f"test count {value}", "pg",
             [(r"^test = \{ count = \d+", f"test = {{ count = {value}")])
    spec("test seed -1", "pg", [(r"^(test = \{ count = \d+, seed = )\d+", r"\g<1>-1")])
    spec("inverted radius range", "pg", [(r"radius = \[1\.0, 1\.0\]", "radius = [1.0, 0.5]")],
         if_accepted=SILENT)
    spec("inverted angle range", "pg",
         [(r"^(train = \{ radius = \[1\.0, 1\.0\], angle_deg = )\[0\.0, 180\.0\]",
           r"\g<1>[180.0, 0.0]")], if_accepted=SILENT)
    spec("NaN in a range", "pg", [(r"radius = \[1\.0, 1\.0\]", "radius = [nan, 1.0]")],
         if_accepted=SILENT)
    spec("unknown distribution", "pg", [(r'^distribution = "disk"', 'distribution = "diskk"')])
    spec("unknown robot", "pg", [(r'^robot = ".*"', 'robot = "point_mas"')])
    spec("unknown task kind", "pg", [(r'^task = ".*"', 'task = "gaol"')])
    spec("include_xy a string", "pg", [(r"^include_xy = true", 'include_xy = "yes"')])
    spec("reset_noise 1e6", "pg", [(r"^(horizon = .*)$", r"\1\nreset_noise = 1000000.0")],
         if_accepted=SILENT)
    spec("truncated mid-line", "pg", [(lambda t: t[: t.index("train = ") + 20], None)])
    spec("empty file", "pg", [(lambda t: "", None)])
    spec("ctrl_cost_weigth (typo)", "cv", [(r"^ctrl_cost_weight", "ctrl_cost_weigth")],
         if_accepted=SILENT)
    for value in ("nan", "inf"):
        spec(f"ctrl_cost_weight = {value}", "cv",
             [(r"^ctrl_cost_weight = .*$", f"ctrl_cost_weight = {value}")], if_accepted=SILENT)
    spec("inverted velocity range", "cv", [(r"^train = \[0\.0, 2\.0\]", "train = [2.0, 0.0]")],
         if_accepted=SILENT)
    spec("ood inside train", "cv", [(r"^ood = \[2\.0, 3\.0\]", "ood = [0.5, 1.5]")],
         split="ood", if_accepted=SILENT)
    spec("velocity parameter renamed", "cv",
         [(r"^\[params\.target_velocity\]", "[params.target_speed]")], if_accepted=SILENT)
    spec("selector naming no body", "cm", [(r'select = "torso"', 'select = "torsoo"')])
    spec("unknown model field", "cm", [(r'field = "body_mass"', 'field = "body_mas"')])
    spec("unknown apply mode", "cm", [(r'mode = "add"', 'mode = "multiply"')])
    spec("negative mass", "cm", [(r"(\[params\.payload_mass\][^\n]*\n[^\n]*\n)train = "
                                  r"\[0\.0, 3\.0\]", r"\1train = [-30.0, -20.0]")],
         if_accepted=SILENT)
    spec("a leg the robot lacks", "ac", [(r"^ood = \[3\.0\]", "ood = [9.0]"),
                                          (r"crippled_leg = \[3\.0\]", "crippled_leg = [9.0]")],
         split="ood", if_accepted=SILENT)
    spec("unknown per", "hp", [(r'per = "body"', 'per = "bodyy"')])

    def garbage(target, folder):
        (folder / "probe.toml").write_bytes(bytes(range(256)) * 4)

    for name, setup in [("binary garbage", garbage),
                        ("a directory", lambda t, f: (f / "probe.toml").mkdir()),
                        ("a missing file", None)]:
        cases.append(Case(c, f"spec file: {name}",
                          ["evaluate", *ZERO[:2], "--family", "{dir}/probe.toml",
                           "--episodes", "1", "--out", "{dir}/r.json"], setup=setup))

    def collision(target, folder):
        text = spec_text(target, "point-goal", [(r"^horizon = .*$", "horizon = 10")],
                         rename=False)
        (folder / "mine.toml").write_text(text)

    def same_name_check(target, folder, proc):
        if proc.rc != 0:
            return None
        value = mean_return(folder)
        if value is not None and value < -20:  # -1 per step: 10 steps give about -10
            return SILENT, (f"exit 0, scored with the built-in point-goal (horizon 50: mean "
                            f"return {value:.2f}), not the file (horizon 10)")
        return CLEAN, f"exit 0, the file's own family (mean return {value:.2f})"

    cases.append(Case(c, "point-goal: a built-in's name on other content (horizon 10)",
                      ["evaluate", *ZERO[:2], "--family", "{dir}/mine.toml", "--episodes", "1",
                       "--out", "{dir}/r.json"], setup=collision, check=same_name_check))
    cases.append(Case(c, "point-goal: a user spec trained, then evaluated", custom=user_spec_run))
    return cases


def user_spec_run(target: Target, folder: Path) -> tuple[str, str]:
    (folder / "my-goal.toml").write_text(spec_text(target, "point-goal", []))
    run_dir = folder / "run"
    argv = ["train", *TINY, "--family", str(folder / "my-goal.toml"), "--out", str(run_dir)]
    proc = run(target, argv, folder)
    kind, detail = verdict(Case("", "", expect="ok"), target, folder, proc)
    if kind != CLEAN:
        return kind, "train: " + detail
    metrics = _rows(run_dir / "metrics.csv")
    if not metrics or not metrics[-1].get("eval/return_ep1"):
        return SILENT, "train: exit 0 without a quick evaluation on the spec's val/test tasks"
    proc = run(target, ["evaluate", "--policy", str(run_dir), "--episodes", "1", "--threads",
                        "1", "--out", str(folder / "r.json")], folder)
    kind, detail = verdict(Case("", "", expect="ok"), target, folder, proc)
    return kind, ("evaluate: " if kind != CLEAN else "trained and evaluated: ") + detail
