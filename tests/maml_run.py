"""The tiny maml run that test_maml and test_maml_scripts share (through conftest's
``tiny_maml_run`` fixture): its flags, the env steps of one iteration, and how it trains;
and the same run exploring K episodes before its step (``train_explorer``); and the
episodes θ would record (``recorded_episodes``, for test_maml and test_maml_steps)."""

from __future__ import annotations

from pathlib import Path

import torch
from cli_helpers import exit_status as _main

from robo_meta.algos.maml_steps import Episodes
from robo_meta.policies.maml import stacked
from robo_meta.ppo import gaussian_logprob

FLAGS = ["--family", "point-goal", "--algo", "maml", "--meta-batch", "2",
         "--rollouts-per-task", "2", "--inner-episodes", "1", "--hidden-sizes", "8",
         "--outer-epochs", "2", "--minibatches", "2", "--learning-rate", "0.01",
         "--eval-tasks", "2", "--threads", "1", "--device", "cpu", "--no-progress"]
ITERATION = 2 * 4 * 50  # pre + post episode of 4 simulations, point-goal's horizon 50


def train_tiny_run(run_dir: Path) -> tuple[Path, dict]:
    """A tiny maml run of 2 iterations, resumed for 2 more: the run and its first state."""
    assert _main(["train", *FLAGS, "--total-steps", 2 * ITERATION, "--out", run_dir]) == 0
    first = torch.load(run_dir / "state.pt", weights_only=True)
    assert _main(["train", "--resume", run_dir, "--total-steps", 4 * ITERATION,
                  "--no-progress"]) == 0
    return run_dir, first


def train_explorer(run_dir: Path, k: int) -> Path:
    """One iteration of the tiny run with ``--inner-episodes k`` (k simulations per task)."""
    flags = list(FLAGS)
    flags[flags.index("--rollouts-per-task") + 1] = str(k)
    flags[flags.index("--inner-episodes") + 1] = str(k)
    assert _main(["train", *flags, "--total-steps",
                  2 * 2 * k * 50, "--out", run_dir]) == 0
    return run_dir


def recorded_episodes(module, obs, actions, rewards, mask) -> Episodes:
    """The episodes θ would have recorded: these (n, T, ...) observations, actions, rewards
    and mask, with the actions' log-probabilities under the module's own weights."""
    theta = stacked({k: w.detach() for k, w in module.adapted_parameters().items()}, len(obs))
    with torch.no_grad():
        mean, log_std = module.rows_forward(theta, obs)
        logp = gaussian_logprob(mean, log_std, actions)
    return Episodes(obs, actions, logp, rewards, mask)
