"""Shared test setup: every test runs torch on one intra-op thread.

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
