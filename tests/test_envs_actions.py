"""Actions at the env boundary: exact shapes, real dtypes, gymnasium's clipping, NaN contained.

A wrong shape is refused in one ``RoboMetaError`` line, never reshaped or broadcast (an
(action_dim, n) array handed to ``make_vec(family, n)`` used to be reshaped, giving each
simulation components of other simulations' actions); complex, string and object dtypes are
refused instead of cast. Lists, tuples, float32, int and bool arrays are accepted as float64.
A refused action changes nothing: the next valid step is the one that would have come.
"""

from __future__ import annotations

import numpy as np
import pytest

from robo_meta import envs
from robo_meta.envs import RoboMetaError

N = 3
A = 6  # cheetah-vel's action size


def _single(seed: int = 0):
    env = envs.make("cheetah-vel", task=envs.get_family("cheetah-vel").tasks("test")[0])
    env.reset(seed=seed)
    return env


def _vec(seed: int = 0):
    family = envs.get_family("cheetah-vel")
    vec = envs.make_vec("cheetah-vel", N, tasks=family.tasks("test")[:N], nthread=1)
    vec.reset(seed=seed)
    return vec


def _refused(step, action, match: str) -> None:
    with pytest.raises(RoboMetaError, match=match) as caught:
        step(action)
    assert "\n" not in str(caught.value)


SINGLE_BAD_SHAPES = {
    "scalar": np.float64(0.5),
    "python float": 0.5,
    "too short": np.zeros(A - 1),
    "too long": np.zeros(A + 1),
    "row": np.zeros((1, A)),
    "column": np.zeros((A, 1)),
    "3-D": np.zeros((1, A, 1)),
    "empty": np.zeros(0),
    "short list": [0.0] * (A - 1),
}

VECTOR_BAD_SHAPES = {
    "transposed": np.zeros((A, N)),
    "flat": np.zeros(N * A),
    "one row": np.zeros(A),
    "scalar": np.float64(0.5),
    "too short": np.zeros((N, A - 1)),
    "too long": np.zeros((N, A + 1)),
    "too few simulations": np.zeros((N - 1, A)),
    "3-D": np.zeros((N, A, 1)),
    "3-D leading": np.zeros((1, N, A)),
    "short nested list": [[0.0] * A] * (N - 1),
}

BAD_DTYPES = {
    "complex": lambda shape: np.zeros(shape, dtype=complex) + 1j,
    "complex64": lambda shape: np.zeros(shape, dtype=np.complex64),
    "object": lambda shape: np.zeros(shape).astype(object),
    "str": lambda shape: np.full(shape, "0.5"),
    "bytes": lambda shape: np.full(shape, b"0.5"),
    "datetime": lambda shape: np.zeros(shape, dtype="datetime64[s]"),
    "timedelta": lambda shape: np.zeros(shape, dtype="timedelta64[s]"),
    "None list": lambda shape: np.full(shape, None).tolist(),
}


@pytest.mark.parametrize("case", SINGLE_BAD_SHAPES)
def test_single_env_refuses_wrong_shapes(case):
    env = _single()
    _refused(env.step, SINGLE_BAD_SHAPES[case], r"action must .*\(6,\)")


@pytest.mark.parametrize("case", VECTOR_BAD_SHAPES)
def test_vector_env_refuses_wrong_shapes(case):
    vec = _vec()
    _refused(vec.step, VECTOR_BAD_SHAPES[case], r"actions must .*\(3, 6\)")


@pytest.mark.parametrize("case", BAD_DTYPES)
def test_both_envs_refuse_non_real_dtypes(case):
    _refused(_single().step, BAD_DTYPES[case]((A,)), "action must be real numbers")
    _refused(_vec().step, BAD_DTYPES[case]((N, A)), "actions must be real numbers")


def test_ragged_lists_are_one_line():
    _refused(_single().step, [[0.0, 1.0], [2.0]], r"action must be an array of shape \(6,\)")
    _refused(_vec().step, [[0.0] * A, [0.0] * (A - 1), [0.0] * A],
             r"actions must be an array of shape \(3, 6\)")


def test_a_refused_action_changes_nothing():
    actions = np.random.default_rng(1).uniform(-1, 1, (4, N, A))
    reference, probed = _vec(), _vec()
    single_reference, single_probed = _single(), _single()
    for step in range(4):
        for bad in (np.zeros((A, N)), np.zeros((N, A), dtype=complex)):
            with pytest.raises(RoboMetaError):
                probed.step(bad)
        for bad in (np.zeros(A - 1), np.zeros(A, dtype=complex)):
            with pytest.raises(RoboMetaError):
                single_probed.step(bad)
        for got, want in zip(probed.step(actions[step])[:4], reference.step(actions[step])[:4],
                             strict=True):
            np.testing.assert_array_equal(got, want)
        for got, want in zip(single_probed.step(actions[step, 0])[:4],
                             single_reference.step(actions[step, 0])[:4], strict=True):
            np.testing.assert_array_equal(got, want)


def _accepted_forms(values: np.ndarray) -> dict[str, object]:
    return {
        "list": values.tolist(),
        "tuple": tuple(map(tuple, values)) if values.ndim == 2 else tuple(values.tolist()),
        "float32": values.astype(np.float32),
        "float16": values.astype(np.float16),
        "int64": values.astype(np.int64),
        "int8": values.astype(np.int8),
        "uint8": values.astype(np.uint8),
        "bool": values.astype(bool),
        "strided": np.repeat(values, 2, axis=-1)[..., ::2],
    }


@pytest.mark.parametrize("form", list(_accepted_forms(np.zeros(A))))
def test_lists_and_real_dtypes_step_as_their_float64_values(form):
    values = np.random.default_rng(2).choice([-1.0, 0.0, 1.0], (N, A))
    for make, row in ((_single, values[0]), (_vec, values)):
        given = _accepted_forms(row)[form]
        as_float64 = np.asarray(given, dtype=np.float64)
        for got, want in zip(make().step(given)[:4], make().step(as_float64)[:4], strict=True):
            np.testing.assert_array_equal(got, want)


def test_out_of_bound_values_are_clipped_as_in_gymnasium():
    rng = np.random.default_rng(3)
    for make, shape in ((_single, (A,)), (_vec, (N, A))):
        wild, clipped = make(), make()
        for _ in range(5):
            big = rng.uniform(-1e6, 1e6, shape)
            big.flat[0] = np.inf
            big.flat[1] = -np.inf
            out = wild.step(big)
            want = clipped.step(np.clip(big, -1.0, 1.0))
            for got, expected in zip(out[:4], want[:4], strict=True):
                np.testing.assert_array_equal(got, expected)
            assert not np.any(out[4]["sim_failed"])
            assert np.isfinite(out[4]["reward_ctrl"]).all()


def test_nan_fails_only_its_own_simulation():
    actions = np.random.default_rng(4).uniform(-1, 1, (N, A))
    poisoned = actions.copy()
    poisoned[1, 2] = np.nan
    vec, reference = _vec(), _vec()
    obs, reward, terminated, truncated, info = vec.step(poisoned)
    want = reference.step(actions)
    assert info["sim_failed"].tolist() == [False, True, False]
    assert truncated[1] and reward[1] == 0.0 and np.isfinite(obs).all()
    for got, expected in zip((obs, reward), want[:2], strict=True):
        np.testing.assert_array_equal(got[[0, 2]], expected[[0, 2]])
    assert info["trial_start"][1]  # reset into a new trial like any ended episode
    assert not vec.step(actions)[4]["sim_failed"].any()

    env = _single()
    obs, reward, terminated, truncated, info = env.step(poisoned[1])
    assert info["sim_failed"] and truncated and reward == 0.0 and np.isfinite(obs).all()
    env.reset(seed=0)
    assert not env.step(actions[0])[4]["sim_failed"]
