"""The network of ``maml``: a Gaussian policy whose weights adapt by gradient steps, with a
learning rate per weight (Meta-SGD, Li et al. 2017), and a critic used as the baseline.

The *adapted* parameters ("fast weights") are, with ``adapt="weights"`` (MAML, Meta-SGD), the
actor MLP's weights and biases and the action log-std; with ``adapt="context"`` (CAVIA,
Zintgraf et al. 2019) only a context vector of ``context_dim`` numbers appended to the
actor's input, the network meta-learned around it: a step on one episode then estimates
``context_dim`` numbers instead of every weight, a far less noisy gradient. The critic and the
observation normalizer are never adapted. Fast weights are
carried as a dict ``{name: tensor}`` with the names of ``adapted_parameters()``, either
shared (one copy, shape of the parameter) or stacked per row (a leading dimension of ``n``
rows, one set of fast weights per simulation). ``rows_forward`` runs every row with its own
weights in one batched call (``torch.func.functional_call`` under ``torch.func.vmap``).

``inner_lrs`` holds the step size of every adapted weight (same shapes). With
``learn_inner_lr=False`` they are constants (a fixed scalar step, the plain MAML inner loop)
and carry ``requires_grad=False``; with ``True`` the outer loop learns them.

Two opt-in guards against the exploration collapse measured on point-goal (docs/maml.md):
``squash_mean`` bounds the mean action to (-1, 1) with a tanh (the motors' range: beyond it
the exploration noise has no effect on the simulation, so the inner step's policy gradient
there is pure noise), and ``min_log_std`` floors the log standard deviation (the outer
objective, the return of sampled post-update episodes, otherwise drives it down until the
exploration episode carries no information). Both default off, as every older checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from robo_meta.policies.mlp import mlp
from robo_meta.policies.normalizer import RunningNormalizer

FastWeights = dict[str, torch.Tensor]


def _lr_key(name: str) -> str:
    return name.replace(".", "_")  # ParameterDict keys cannot hold dots


class MetaSGDActorCritic(nn.Module):
    """Actor (adapted), log-std (adapted), critic with two heads (pre- and post-update value),
    per-weight inner learning rates, and the scale the critic's targets are divided by."""

    recurrent = False

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int] = (64, 64),
                 init_log_std: float = -0.5, inner_lr: float = 0.1,
                 learn_inner_lr: bool = True, squash_mean: bool = False,
                 min_log_std: float | None = None, adapt: str = "weights",
                 context_dim: int = 0):
        super().__init__()
        if adapt not in ("weights", "context") or (adapt == "context") != (context_dim > 0):
            raise ValueError(f"adapt={adapt!r} with context_dim={context_dim}: 'context' needs "
                             "a context (context_dim > 0), 'weights' none")
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.adapt, self.context_dim = adapt, int(context_dim)
        self.learn_inner_lr = learn_inner_lr
        self.squash_mean, self.min_log_std = bool(squash_mean), min_log_std
        self.normalizer = RunningNormalizer(obs_dim)
        # torch's own tanh: the actor runs under vmap, where the numpy kernel of
        # policies/activations.py cannot
        self.actor = mlp([obs_dim + self.context_dim, *hidden_sizes, act_dim],
                         activation=nn.Tanh, out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        # CAVIA's context, where every trial starts: 0 at first, meta-learned as θ is (CAVIA
        # keeps it at 0; a learned start only shifts the first layer's bias). None without one,
        # so that older checkpoints load unchanged.
        self.context = (nn.Parameter(torch.zeros(self.context_dim)) if self.context_dim
                        else None)
        # column 0: value under θ (pre-update episodes); column 1: under θ' (post-update)
        self.critic = mlp([obs_dim, *hidden_sizes, 2], out_gain=1.0)
        # returns are divided by this before the critic sees them (set by the learner)
        self.register_buffer("return_scale", torch.ones((), dtype=torch.float64))
        self.inner_lrs = nn.ParameterDict({
            _lr_key(name): nn.Parameter(torch.full_like(p, float(inner_lr)),
                                        requires_grad=learn_inner_lr)
            for name, p in self.adapted_parameters().items()})

    def adapted_parameters(self) -> FastWeights:
        """θ: the parameters the inner loop moves, by name (the live nn.Parameters)."""
        if self.adapt == "context":
            return {"context": self.context}
        params = {f"actor.{name}": p for name, p in self.actor.named_parameters()}
        params["log_std"] = self.log_std
        return params

    def step_sizes(self) -> FastWeights:
        """α by the names of ``adapted_parameters`` (each the shape of its parameter)."""
        return {name: self.inner_lrs[_lr_key(name)] for name in self.adapted_parameters()}

    def rows_forward(self, fast: FastWeights, obs: torch.Tensor):
        """(mean, log_std) of row i under its own fast weights ``fast[name][i]``.

        ``obs``: (n, ..., obs_dim) raw observations (normalized here); ``fast``: stacked (n,
        ...) per name. Returns mean (n, ..., act_dim) and log_std broadcast to its shape.
        """
        x = self.normalizer(obs)

        def one(weights: FastWeights, xi: torch.Tensor):
            # the adapted tensors from the row's fast weights, the rest from the module
            actor = {k[len("actor."):]: v for k, v in weights.items() if k.startswith("actor.")}
            xi = self._with_context(xi, weights.get("context", self.context))
            return (functional_call(self.actor, actor, (xi,)),
                    weights.get("log_std", self.log_std))

        mean, log_std = self._bound(*vmap(one)(fast, x))  # log_std (n, act_dim)
        shape = (log_std.shape[0],) + (1,) * (mean.dim() - 2) + (log_std.shape[1],)
        return mean, log_std.reshape(shape).expand_as(mean)

    def shared_forward(self, obs: torch.Tensor):
        """(mean, log_std) of every row under θ itself."""
        x = self._with_context(self.normalizer(obs), self.context)
        mean, log_std = self._bound(self.actor(x), self.log_std)
        return mean, log_std.expand_as(mean)

    def _with_context(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """``x`` (..., obs_dim) with ``context`` appended to every row (none: ``x`` itself)."""
        if not self.context_dim:
            return x
        return torch.cat([x, context.expand(*x.shape[:-1], self.context_dim)], dim=-1)

    def _bound(self, mean: torch.Tensor, log_std: torch.Tensor):
        """The opt-in guards: tanh on the mean, the floor on the log std."""
        if self.squash_mean:
            mean = torch.tanh(mean)
        if self.min_log_std is not None:
            log_std = log_std.clamp(min=float(self.min_log_std))
        return mean, log_std

    def values(self, obs: torch.Tensor) -> torch.Tensor:
        """(..., 2) critic output in units of ``return_scale`` (pre-, post-update value)."""
        return self.critic(self.normalizer(obs))


def stacked(weights: FastWeights, n: int) -> FastWeights:
    """``n`` per-row copies of shared ``weights`` (views: gradients reach the originals)."""
    return {name: w.unsqueeze(0).expand(n, *w.shape) for name, w in weights.items()}
