"""The Ray sampler on a local two-node cluster (1 CPU each): bitwise equality with the
in-process Sampler, trainings with 2 workers, a worker killed mid-run, a worker lost for good.

Skipped where ray is not installed (it is an optional extra: ``pip install -e ".[test,ray]"``).
The cluster starts once for the module (a few seconds).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from cli_helpers import exit_status as _main  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from robo_meta import load_policy  # noqa: E402
from robo_meta.envs import get_family  # noqa: E402
from robo_meta.envs.errors import RoboMetaError  # noqa: E402
from robo_meta.evaluation import run_trials  # noqa: E402
from robo_meta.ray_sampler import (  # noqa: E402
    RaySampler,
    split_envs,
    worker_generator_seed,
)
from robo_meta.runner import EVAL_SEED  # noqa: E402
from robo_meta.sampler import Sampler  # noqa: E402
from tiny_policies import CPU, tiny_policy  # noqa: E402

FAMILY = "point-goal"  # episodes of 50 steps, never terminated early


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of 1 CPU each on this machine; this process is the learner."""
    local = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    local.add_node(num_cpus=1)
    ray.init(address=local.address, logging_level="warning")
    yield local
    ray.shutdown()
    local.shutdown()


def _tiny(algo: str, total_steps: int, workers: int, address: str) -> list[str]:
    # 6 simulations x 10 steps = 60 steps per iteration, split 3 + 3 over 2 workers
    return ["--family", FAMILY, "--algo", algo, "--num-envs", "6", "--rollout-steps", "10",
            "--epochs", "1", "--minibatches", "2", "--hidden-sizes", "8", "8",
            "--gru-hidden", "8", "--episodes-per-trial", "2", "--eval-tasks", "2",
            "--threads", "1", "--device", "cpu", "--no-progress", "--total-steps",
            str(total_steps), "--ray", address, "--workers", str(workers)]


def _rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _assert_same(a, b) -> None:
    """Two Trajectories equal bit for bit (dtypes included; fields None in both skipped)."""
    for name in a._fields:
        x, y = getattr(a, name), getattr(b, name)
        if x is None and y is None:
            continue
        pairs = zip(x, y, strict=True) if name == "inputs" else [(x, y)]
        for p, q in pairs:
            if isinstance(p, np.ndarray):
                assert p.dtype == q.dtype and np.array_equal(p, q), name
            else:
                assert p.dtype == q.dtype and torch.equal(p, q), name


@pytest.mark.parametrize("algo, trial", [("rl2", 2), ("dr", 1)])
def test_one_worker_rollouts_equal_the_in_process_samplers_bit_for_bit(cluster, algo, trial):
    # three rollouts in a row (a trial boundary at step 50 of 120, rl2's state carried over)
    module, _, _ = tiny_policy(algo, FAMILY)
    family = get_family(FAMILY)
    local = Sampler(family, 5, trial, with_features=False, device=CPU, threads=1)
    remote = RaySampler(family, 5, trial, False, CPU, "unused", workers=1)
    try:
        local_gen, remote_gen = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        local.reset(module, seed=11)
        remote.reset(module, seed=11)
        for _ in range(3):
            _assert_same(local.collect(module, 40, local_gen),
                         remote.collect(module, 40, remote_gen))
            # the learner's generator advanced exactly as in one process
            assert torch.equal(local_gen.get_state(), remote_gen.get_state())
        assert remote.last["weights_bytes"] == sum(
            v.numel() * v.element_size() for v in module.state_dict().values())
    finally:
        local.close()
        remote.close()


def test_a_one_worker_run_trains_the_in_process_runs_weights_bit_for_bit(cluster, tmp_path):
    flags = _tiny("rl2", 120, 1, cluster.address)
    in_process = flags[:flags.index("--ray")]
    assert _main(["train", *flags, "--out", tmp_path / "ray"]) == 0
    assert _main(["train", *in_process, "--out", tmp_path / "one"]) == 0
    ray_state, one_state = (torch.load(tmp_path / run / "state.pt", weights_only=True)
                            for run in ("ray", "one"))
    policy = ray_state["modules"]["policy"]
    assert policy.keys() == one_state["modules"]["policy"].keys()
    for name, value in policy.items():
        assert torch.equal(value, one_state["modules"]["policy"][name]), name
    assert torch.equal(ray_state["algorithm"]["generator"], one_state["algorithm"]["generator"])
    losses = [[row["loss/policy"] for row in _rows(tmp_path / run)] for run in ("ray", "one")]
    assert losses[0] == losses[1] and len(losses[0]) == 2


def test_two_workers_rollouts_are_two_in_process_samplers_side_by_side(cluster):
    # 7 simulations = 4 + 3: worker 1 resets with seed 5 + 4 (simulation i is seeded 5 + i,
    # as in one process) and samples with its own generator; rl2's state goes on across
    # rollouts, and the joined rollout is the two samplers' rollouts side by side, bitwise
    assert split_envs(7, 2) == [4, 3] and split_envs(6, 3) == [2, 2, 2]
    module, _, _ = tiny_policy("rl2", FAMILY)
    family = get_family(FAMILY)
    parts = [Sampler(family, size, 2, with_features=False, device=CPU, threads=1)
             for size in (4, 3)]
    remote = RaySampler(family, 7, 2, False, CPU, "unused", workers=2)
    try:
        generators = [torch.Generator().manual_seed(0),
                      torch.Generator().manual_seed(worker_generator_seed(5, 1))]
        learner_generator = torch.Generator().manual_seed(0)
        parts[0].reset(module, seed=5)
        parts[1].reset(module, seed=5 + 4)
        remote.reset(module, seed=5)
        for _ in range(2):
            expected = [p.collect(module, 30, g) for p, g in zip(parts, generators, strict=True)]
            joined = remote.collect(module, 30, learner_generator)
            for w, columns in enumerate((slice(0, 4), slice(4, 7))):
                _assert_same(expected[w]._replace(episode_returns=None, episode_lengths=None),
                             _columns(joined, columns))
            for name in ("episode_returns", "episode_lengths"):  # worker 0's, then worker 1's
                assert np.array_equal(getattr(joined, name),
                                      np.concatenate([getattr(e, name) for e in expected]))
        assert joined.initial_state.abs().sum() > 0  # the second rollout starts mid-trial
        assert remote.restarts == 0
    finally:
        for part in parts:
            part.close()
        remote.close()


def _columns(traj, columns: slice):
    """The simulations ``columns`` of a rollout (without its episode statistics)."""
    sim_major, episodes = ("next_value", "initial_state"), ("episode_returns", "episode_lengths")
    cut = {k: v[columns] if k in sim_major else v[:, columns]
           for k, v in traj._asdict().items() if k not in ("inputs", *episodes)}
    cut.update(dict.fromkeys(episodes))
    return traj._replace(inputs=type(traj.inputs)(*(x[:, columns] for x in traj.inputs)), **cut)


def _assert_checkpoint_evaluates_as_logged(run_dir) -> None:
    """The run's checkpoint loads, and scores as the run's final quick evaluation did."""
    last = _rows(run_dir)[-1]
    policy = load_policy(run_dir, device="cpu")
    tasks = get_family(FAMILY).tasks("val")[:2]
    results = run_trials(policy, FAMILY, tasks, episodes=2, seed=EVAL_SEED, threads=1)
    assert results.returns.mean(axis=0).tolist() == pytest.approx(  # csv: 6 digits
        [float(last["eval/return_ep1"]), float(last["eval/return_ep2"])], rel=1e-5)


def test_two_worker_dr_training_writes_a_checkpoint_that_loads_and_evaluates(cluster,
                                                                              tmp_path):
    run_dir = tmp_path / "dr"
    assert _main(["train", *_tiny("dr", 180, 2, cluster.address), "--out", run_dir]) == 0
    assert [int(r["step"]) for r in _rows(run_dir)] == [60, 120, 180]
    config = json.loads((run_dir / "config.json").read_text())["train"]
    assert (config["ray"], config["workers"]) == (cluster.address, 2)
    _assert_checkpoint_evaluates_as_logged(run_dir)


def test_rl2_with_a_worker_killed_mid_run_loses_and_repeats_no_steps(cluster, tmp_path,
                                                                      monkeypatch):
    submitted = []

    def kill_worker_1_in_iteration_2(sampler, tasks):
        submitted.append(len(tasks))
        if len(submitted) == 2:  # the tasks are out: kill while they run, restart allowed
            ray.kill(sampler.workers[1], no_restart=False)

    restarts = []
    close = RaySampler.close

    def record_restarts(sampler):
        restarts.append(sampler.restarts)
        close(sampler)

    monkeypatch.setattr(RaySampler, "_submitted", kill_worker_1_in_iteration_2)
    monkeypatch.setattr(RaySampler, "close", record_restarts)
    run_dir = tmp_path / "rl2"
    assert _main(["train", *_tiny("rl2", 240, 2, cluster.address), "--out", run_dir]) == 0
    assert submitted == [2, 2, 2, 2]  # one collect per iteration: the retry was Ray's
    assert restarts == [1]  # worker 1's rollout was collected again on its new actor
    assert [int(r["step"]) for r in _rows(run_dir)] == [60, 120, 180, 240]
    assert json.loads((run_dir / "meta.json").read_text())["steps"] == 240
    _assert_checkpoint_evaluates_as_logged(run_dir)


def test_a_worker_lost_for_good_stops_the_run_after_a_checkpoint_and_resume_takes_any_count(
        cluster, tmp_path, monkeypatch, capsys):
    calls = []

    def kill_worker_0_for_good_in_iteration_3(sampler, tasks):
        calls.append(1)
        if len(calls) == 3:
            ray.kill(sampler.workers[0], no_restart=True)

    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(RaySampler, "_submitted", kill_worker_0_for_good_in_iteration_3)
        assert _main(["train", *_tiny("dr", 300, 2, cluster.address), "--checkpoint-every",
                      "60", "--out", run_dir]) == 2
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("robo-meta")]  # not Ray's logs
    assert len(ours) == 1 and "Traceback" not in err, err
    assert ours[0].startswith("robo-meta train: error: Ray worker 0 died and could not be "
                              "restarted (ActorDiedError); the run stops after writing its "
                              "checkpoint"), ours
    assert json.loads((run_dir / "meta.json").read_text())["steps"] == 120
    assert [int(r["step"]) for r in _rows(run_dir)] == [60, 120]

    # the run goes on with one worker: no gap, no repeated row
    assert _main(["train", "--resume", run_dir, "--workers", "1", "--no-progress"]) == 0
    assert [int(r["step"]) for r in _rows(run_dir)] == [60, 120, 180, 240, 300]
    assert json.loads((run_dir / "config.json").read_text())["train"]["workers"] == 1


def test_more_workers_than_free_cpus_is_one_clear_error(cluster, monkeypatch):
    # 2 CPUs in the cluster: a third actor would wait for a CPU forever
    monkeypatch.setattr("robo_meta.ray_sampler.FREE_CPU_WAIT_S", 1.0)
    family = get_family(FAMILY)
    for workers, threads in ((3, 1), (2, 2)):
        with pytest.raises(RoboMetaError, match=f"needs {workers * threads} CPUs; the Ray "
                                                "cluster has"):
            RaySampler(family, 6, 1, False, CPU, "unused", workers, threads)
