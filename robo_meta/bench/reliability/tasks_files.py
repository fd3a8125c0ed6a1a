"""Tasks files (``evaluate --tasks-file``): a tasks file names the held-out tasks a report
is about, so one read wrongly scores tasks other than those named.

The cases feed malformed, empty and binary files, JSON of the wrong shape (an object, an
empty list, numbers), another family's tasks, a missing family key, and parameters out of
range, NaN, infinite, huge, mistyped, of the wrong size, missing or unknown; a missing file
and a directory. Each must be refused in one line (``scored``: exit 0 is a silent wrong
result, with the mean return it reported), and a valid file, the control, must be scored.
"""

from __future__ import annotations

import json

from robo_meta.bench.reliability.core import POINT_TASKS, SILENT, ZERO, Case, scored


def tasks_cases() -> list[Case]:
    c = "tasks files"
    cases: list[Case] = []
    goal = POINT_TASKS[0]

    def tasks(name, content, expect="refuse", if_accepted=SILENT):
        def setup(target, folder):
            path = folder / "tasks.json"
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, str):
                path.write_text(content)
            elif content is not None:
                path.write_text(json.dumps(content))
        cases.append(Case(c, name, ["evaluate", *ZERO, "--tasks-file", "{dir}/tasks.json",
                                    "--out", "{dir}/r.json"],
                          expect=expect, setup=setup, check=scored(if_accepted)))

    def task(**params):
        return [{"family": "point-goal", "params": params}]

    tasks("valid file (control)", POINT_TASKS, expect="ok")
    tasks("malformed JSON", '[{"family": "point-goal", "params": ')
    tasks("empty file", "")
    tasks("binary garbage", bytes(range(256)))
    tasks("an object, not a list", {"tasks": POINT_TASKS})
    tasks("an empty list", [])
    tasks("a list of numbers", [1, 2, 3])
    tasks("another family's tasks", [{"family": "cheetah-vel",
                                      "params": {"target_velocity": 1.0}}])
    tasks("family key missing", [{"params": goal["params"]}])
    tasks("goal out of range", task(goal=[100.0, 0.0]))
    tasks("NaN goal", '[{"family": "point-goal", "params": {"goal": [NaN, 0.5]}}]')
    tasks("infinite goal", '[{"family": "point-goal", "params": {"goal": [Infinity, 0.5]}}]')
    tasks("huge integer", '[{"family": "point-goal", "params": {"goal": [1' + "0" * 400
          + ', 0]}}]')
    tasks("a string value", task(goal=["abc", 0.5]))
    tasks("wrong vector size", task(goal=[0.5]))
    tasks("missing parameter", task())
    tasks("unknown parameter", task(goal=[0.8, 0.6], speed=1.0))
    tasks("a missing file", None)
    cases.append(Case(c, "a directory", ["evaluate", *ZERO, "--tasks-file", "{dir}",
                                        "--out", "{dir}/r.json"]))
    return cases
