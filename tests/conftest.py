"""Shared test setup: every test runs torch on one intra-op thread; the tiny maml run that
two test modules read.

The tests use tiny networks on a shared 2-core machine, where a second torch thread only spins
against MuJoCo's batch threads (measured: up to 30x slower evaluation under load).
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_maml_run(tmp_path_factory):
    """(run dir, first state) of tests/maml_run.py's tiny maml run, trained once per module."""
    from maml_run import train_tiny_run

    return train_tiny_run(tmp_path_factory.mktemp("maml") / "run")
