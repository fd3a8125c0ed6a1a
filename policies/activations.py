"""``Tanh``: torch's tanh, except where autograd differentiates it on the CPU: numpy's kernel.

Why: torch 2.13's CPU tanh runs one element at a time (1.2 ms for 8192 x 64 floats on one
thread, whatever ``ATEN_CPU_CAPABILITY`` says), numpy's vectorized one 0.08 ms. In the PPO
update of ``dr`` and ``oracle`` (two tanh layers in each of two MLPs, 8192-sample
minibatches) torch's tanh was 40 % of the update's time (docs/benchmarks.md, "Training").

The two kernels differ by at most one ulp (float32), which learning does not notice; but
rollouts, deployed policies and evaluation reports are bitwise reproducible, and the shipped
reports were computed with torch's tanh. So numpy's kernel runs only where a gradient will
flow through the tanh (its input requires grad: the learner's update), and every forward
without one (rollouts under ``no_grad``, ``TrainedPolicy``, evaluation, frozen networks such as
rma's teacher) computes exactly what ``nn.Tanh`` computes: a deployed policy acts bit for bit
as the policy that collected its training data. The update's log-probabilities of the
collected actions then differ from the rollout's by that float rounding (PPO's first ratio is
1 within ~1e-7, not exactly). Off the CPU (CUDA's tanh is fast) and for dtypes numpy lacks,
it is torch's tanh throughout.

A run's ``numpy_tanh`` field (``--no-numpy-tanh``) turns the fast path off for its updates
(``numpy_kernel(False)`` around each iteration): the code before commit a032d71 (2026-11-29)
differentiated torch's tanh, so the commands of runs trained on it repeat bit for bit with that
flag.

Not for code under ``torch.func`` transforms (``vmap``, ``grad``): numpy cannot run inside
them, so ``maml``'s adapted actor keeps ``nn.Tanh``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

_NUMPY_DTYPES = (torch.float32, torch.float64)
_numpy_enabled = True


@contextlib.contextmanager
def numpy_kernel(enabled: bool) -> Iterator[None]:
    """Within: differentiated CPU tanh runs numpy's kernel if ``enabled``, torch's if not."""
    global _numpy_enabled
    saved, _numpy_enabled = _numpy_enabled, enabled
    try:
        yield
    finally:
        _numpy_enabled = saved


class _NumpyTanh(torch.autograd.Function):
    """tanh through ``np.tanh``; the backward is torch's own, grad (1 - y^2)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.from_numpy(np.tanh(x.detach().numpy()))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)  # one fused kernel, as nn.Tanh's


class Tanh(nn.Module):
    """``nn.Tanh`` with the fast CPU path for differentiated inputs (module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        differentiated = x.requires_grad and torch.is_grad_enabled()
        fast_path = _numpy_enabled and x.device.type == "cpu" and x.dtype in _NUMPY_DTYPES
        if differentiated and fast_path:
            return _NumpyTanh.apply(x)
        return torch.tanh(x)
