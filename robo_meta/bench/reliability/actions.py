"""Actions: what ``make(...).step`` and ``make_vec(..., 3).step`` of the target's library
do with actions of the wrong shape or dtype, and with valid ones that must work.

A wrong shape that steps anyway can move action components between simulations: a silent
wrong result no exit status shows. So each case runs ``ACTION_SCRIPT`` (written into the case
folder and run in the target's interpreter, on cheetah-vel) with the case's name; the script
prints one ``PROBE-RESULT`` JSON line and ``library_verdict`` classifies it. To refuse: a
scalar, one component short or long, ``(1, A)``, 3-D, transposed ``(A, n)``, flat ``(n*A,)``,
one action for all simulations, complex, object and str dtypes, ragged lists, each with a
``RoboMetaError`` of one line. To accept: lists, tuples of ints, float32, int arrays,
out-of-bound values (clipped) and NaN (failing its own simulation only, reported in
``info["sim_failed"]``).
"""

from __future__ import annotations

import json
from pathlib import Path

from robo_meta.bench.reliability.core import (
    ACCEPTED,
    CLEAN,
    HANG,
    REFUSED,
    SILENT,
    TRACE,
    UNCLEAR,
    Case,
    Proc,
    _last,
)

ACTION_SCRIPT = r'''
import json, sys
import numpy as np
from robo_meta import envs
from robo_meta.envs import RoboMetaError

FAMILY, N, A = "cheetah-vel", 3, 6

def single():
    env = envs.make(FAMILY, task=envs.get_family(FAMILY).tasks("test")[0])
    env.reset(seed=0)
    return env

def vec():
    v = envs.make_vec(FAMILY, N, tasks=envs.get_family(FAMILY).tasks("test")[:N], nthread=1)
    v.reset(seed=0)
    return v

def same(make, given, reference):
    a, b = make().step(given), make().step(reference)
    equal = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a[:4], b[:4]))
    return {"ok": bool(equal), "detail": "as its float64 values" if equal else
            "differs from stepping its float64 values"}

def nan_single():
    env = single()
    obs, reward, terminated, truncated, info = env.step(np.full(A, np.nan))
    ok = bool(info["sim_failed"] and truncated and reward == 0.0 and np.isfinite(obs).all())
    env.reset(seed=1)
    ok = ok and not env.step(np.zeros(A))[4]["sim_failed"]
    return {"ok": ok, "detail": f"sim_failed={info['sim_failed']}, reward={reward}"}

def nan_vec():
    actions = np.random.default_rng(0).uniform(-1, 1, (N, A))
    poisoned = actions.copy(); poisoned[1, 2] = np.nan
    got, want = vec().step(poisoned), vec().step(actions)
    failed = np.asarray(got[4]["sim_failed"]).tolist()
    others = all(np.array_equal(g[[0, 2]], w[[0, 2]]) for g, w in zip(got[:2], want[:2]))
    ok = failed == [False, True, False] and others and np.isfinite(got[0]).all()
    return {"ok": bool(ok), "detail": f"sim_failed={failed}, others unchanged: {others}"}

def transposed():
    actions = np.random.default_rng(0).uniform(-1, 1, (N, A))
    got = vec().step(actions.T.copy())
    want = vec().step(actions)
    return {"detail": "stepped without error; rewards "
            + ("equal" if np.array_equal(got[1], want[1]) else "differ")
            + " from the intended actions (components moved between simulations)"}

REFUSE = {
    "single: scalar": lambda: single().step(0.5),
    "single: one component short": lambda: single().step(np.zeros(A - 1)),
    "single: one component long": lambda: single().step(np.zeros(A + 1)),
    "single: a (1, A) row": lambda: single().step(np.zeros((1, A))),
    "single: 3-D": lambda: single().step(np.zeros((1, A, 1))),
    "single: complex": lambda: single().step(np.full(A, 0.5 + 0.5j)),
    "single: object dtype": lambda: single().step(np.zeros(A).astype(object)),
    "single: str dtype": lambda: single().step(np.full(A, "0.5")),
    "single: ragged list": lambda: single().step([[0.1, 0.2], [0.3]]),
    "vector: transposed (A, n)": transposed,
    "vector: flat (n*A,)": lambda: vec().step(np.zeros(N * A)),
    "vector: one action for all (A,)": lambda: vec().step(np.zeros(A)),
    "vector: one component short": lambda: vec().step(np.zeros((N, A - 1))),
    "vector: 3-D (n, A, 1)": lambda: vec().step(np.zeros((N, A, 1))),
    "vector: complex": lambda: vec().step(np.full((N, A), 0.5 + 0.5j)),
    "vector: str dtype": lambda: vec().step(np.full((N, A), "0.5")),
}
OK = {
    "single: list": lambda: same(single, [0.1] * A, np.full(A, 0.1)),
    "single: tuple of ints": lambda: same(single, (1, 0, -1, 0, 1, 0),
                                          np.array([1.0, 0, -1, 0, 1, 0])),
    "single: float32": lambda: same(single, np.full(A, 0.3, np.float32),
                                    np.full(A, 0.3, np.float32).astype(np.float64)),
    "single: out of bounds clipped": lambda: same(
        single, np.array([1e6, -1e6, np.inf, -np.inf, 2.0, -2.0]),
        np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])),
    "single: NaN contained": nan_single,
    "vector: nested lists": lambda: same(vec, [[0.1] * A] * N, np.full((N, A), 0.1)),
    "vector: int array": lambda: same(vec, np.ones((N, A), np.int64), np.ones((N, A))),
    "vector: out of bounds clipped": lambda: same(vec, np.full((N, A), 5.0), np.ones((N, A))),
    "vector: NaN in one simulation": nan_vec,
}

case = sys.argv[1]
try:
    result = (REFUSE.get(case) or OK[case])()
    result = result if isinstance(result, dict) else {"detail": "stepped without error"}
    result["raised"] = None
except Exception as exc:
    result = {"raised": type(exc).__name__, "robo": isinstance(exc, RoboMetaError),
              "message": str(exc)}
result["expect"] = "refuse" if case in REFUSE else "ok"
print("PROBE-RESULT " + json.dumps(result))
'''

ACTION_CASES = {
    "single: scalar": SILENT, "single: one component short": ACCEPTED,
    "single: one component long": ACCEPTED, "single: a (1, A) row": ACCEPTED,
    "single: 3-D": ACCEPTED, "single: complex": SILENT, "single: object dtype": ACCEPTED,
    "single: str dtype": ACCEPTED, "single: ragged list": ACCEPTED,
    "vector: transposed (A, n)": SILENT, "vector: flat (n*A,)": ACCEPTED,
    "vector: one action for all (A,)": SILENT, "vector: one component short": ACCEPTED,
    "vector: 3-D (n, A, 1)": ACCEPTED, "vector: complex": SILENT,
    "vector: str dtype": ACCEPTED,
    "single: list": None, "single: tuple of ints": None, "single: float32": None,
    "single: out of bounds clipped": None, "single: NaN contained": None,
    "vector: nested lists": None, "vector: int array": None,
    "vector: out of bounds clipped": None, "vector: NaN in one simulation": None,
}


def action_cases() -> list[Case]:
    return [Case("actions", name, script=name, expect="ok" if kind is None else "refuse",
                 if_accepted=kind or ACCEPTED, timeout=60)
            for name, kind in ACTION_CASES.items()]


def library_verdict(case: Case, folder: Path, proc: Proc) -> tuple[str, str]:
    if proc.timed_out:
        return HANG, f"no end after {proc.seconds:.0f} s"
    marks = [line for line in proc.out.splitlines() if line.startswith("PROBE-RESULT ")]
    if not marks:
        return TRACE, "the script died: " + _last(proc.err)
    result = json.loads(marks[-1][len("PROBE-RESULT "):])
    raised = result["raised"]
    if raised is not None and not result["robo"]:
        return TRACE, f"{raised}: {_last(result['message'])}"
    if case.expect == "refuse":
        if raised is None:
            return case.if_accepted, result.get("detail", "")
        if "\n" in result["message"].strip():
            return UNCLEAR, "RoboMetaError of several lines"
        return CLEAN, result["message"]
    if raised is not None:
        return REFUSED, result["message"]
    return (CLEAN, result["detail"]) if result["ok"] else (SILENT, result["detail"])
