"""Running observation normalization, saved with the policy (its state lives in buffers)."""

from __future__ import annotations

import torch
from torch import nn


class RunningNormalizer(nn.Module):
    """Normalizes inputs by a running mean and variance (parallel-variance update).

    The statistics are buffers, so they travel in ``state_dict`` and follow ``.to(device)``.
    ``update`` is called by the trainer on rollout observations; inference only normalizes.
    """

    def __init__(self, dim: int, clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__()
        self.clip, self.epsilon = clip, epsilon
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold a batch ``x`` of shape (..., dim) into the statistics."""
        x = x.reshape(-1, x.shape[-1]).to(torch.float64)
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        m2 = self.var * self.count + batch_var * n + delta.square() * self.count * n / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.dtype), (self.var + self.epsilon).sqrt().to(x.dtype)
        return ((x - mean) / std).clamp(-self.clip, self.clip)
