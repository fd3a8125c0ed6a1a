"""policies/activations.py: numpy's tanh where autograd differentiates, torch's elsewhere."""

import numpy as np
import pytest
import torch
from torch import nn

from robo_meta.policies import GaussianActorCritic, RecurrentActorCritic
from robo_meta.policies.activations import Tanh


def _inputs(dtype=torch.float32):
    x = torch.linspace(-12.0, 12.0, 20001, dtype=dtype)
    noise = torch.randn(4096, generator=torch.Generator().manual_seed(0), dtype=dtype)
    return torch.cat([x, noise * 3])


def test_a_differentiated_input_gets_numpys_tanh_any_other_torchs_bit_for_bit():
    x = _inputs()
    fast = Tanh()(x.clone().requires_grad_(True))
    assert fast.requires_grad and np.array_equal(fast.detach().numpy(), np.tanh(x.numpy()))
    assert torch.equal(Tanh()(x), torch.tanh(x))  # no grad needed: torch's kernel
    with torch.no_grad():
        assert torch.equal(Tanh()(x.clone().requires_grad_(True)), torch.tanh(x))
    # the kernels do differ here, by at most one unit in the last place (float32)
    ulps = (fast.detach().view(torch.int32) - torch.tanh(x).view(torch.int32)).abs()
    assert 0 < ulps.max() <= 1


def test_backward_is_one_minus_the_square_of_the_output():
    x = _inputs().requires_grad_(True)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    y = Tanh()(x)
    y.backward(grad)
    torch.testing.assert_close(x.grad, grad * (1 - y.detach() ** 2), rtol=1e-6, atol=1e-7)


def test_gradients_pass_gradcheck_in_float64_first_and_second_order():
    x = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(Tanh(), (x,))
    assert torch.autograd.gradgradcheck(Tanh(), (x,))


def test_a_non_contiguous_input():
    x = torch.randn(64, 5).t().requires_grad_(True)  # a transposed view
    y = Tanh()(x)
    assert y.shape == (5, 64) and np.array_equal(y.detach().numpy(), np.tanh(x.detach().numpy()))


def _with_torch_tanh(module: nn.Module) -> nn.Module:
    """The same network with every Tanh replaced by nn.Tanh (what the code used before)."""
    for name, child in module.named_children():
        if isinstance(child, Tanh):
            setattr(module, name, nn.Tanh())
        else:
            _with_torch_tanh(child)
    return module


@pytest.mark.parametrize("cls", [GaussianActorCritic, RecurrentActorCritic])
def test_acting_without_gradients_is_bitwise_what_torchs_tanh_computes(cls):
    # rollouts and deployed policies act under no_grad: the shipped reports stay reproducible
    # and a deployed policy acts exactly as the one that collected its training data
    torch.manual_seed(0)
    ours = cls(obs_dim=5, act_dim=2)
    reference = _with_torch_tanh(cls(obs_dim=5, act_dim=2))
    reference.load_state_dict(ours.state_dict())
    obs = torch.randn(3, 5) * 4
    args = (obs, torch.randn(3, 2), torch.randn(3, 2), torch.ones(3, dtype=torch.bool),
            ours.initial_state(3))
    with torch.no_grad():
        for a, b in zip(ours.step(*args), reference.step(*args), strict=True):
            assert torch.equal(a, b)
    # with gradients (the update): numpy's kernel, equal within float rounding
    torch.testing.assert_close(ours.step(*args)[0], reference.step(*args)[0], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("algo", ["dr", "rl2"])
def test_the_learner_runs_numpys_kernel_in_its_update_and_torchs_in_its_rollouts(algo,
                                                                                 monkeypatch):
    from robo_meta.algos.ppo import PPO, PPOConfig
    from robo_meta.envs import get_family
    from robo_meta.policies import activations

    config = PPOConfig(family="point-goal", algo=algo, num_envs=4, rollout_steps=8, threads=1,
                       hidden_sizes=[8, 8], gru_hidden=8, total_steps=64)
    ppo = PPO(config, get_family("point-goal"), torch.device("cpu"))
    real, calls = np.tanh, []

    def counting(x):
        calls.append(x.shape)
        return real(x)

    monkeypatch.setattr(activations.np, "tanh", counting)
    ppo.sampler.reset(ppo.policy, 0)
    rollout = ppo.advantages(ppo.sampler.collect(ppo.policy, 8, ppo.generator))
    assert calls == []  # the rollout acted under no_grad: torch's tanh
    ppo.update(rollout)
    ppo.close()
    # per minibatch: dr's two hidden layers in each of actor and critic; rl2's encoder output
    # and one hidden layer in each head (the GRU's own tanh is inside torch's cell)
    per_forward = 4 if algo == "dr" else 3
    assert len(calls) == per_forward * config.epochs * config.minibatches


def test_numpy_kernel_off_is_torchs_tanh_forward_and_backward_bit_for_bit():
    from robo_meta.policies.activations import numpy_kernel

    x = _inputs()
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    ours, reference = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with numpy_kernel(False):
        y = Tanh()(ours)
    y.backward(grad)
    expected = nn.Tanh()(reference)
    expected.backward(grad)
    assert torch.equal(y, expected) and torch.equal(ours.grad, reference.grad)
    # the switch is restored on leaving, even through an exception
    with pytest.raises(RuntimeError), numpy_kernel(False):
        raise RuntimeError
    fast = Tanh()(x.clone().requires_grad_(True))
    assert np.array_equal(fast.detach().numpy(), np.tanh(x.numpy()))


@pytest.mark.parametrize("numpy_tanh", [True, False])
def test_a_runs_numpy_tanh_field_chooses_the_kernel_of_its_updates(numpy_tanh, tmp_path,
                                                                   monkeypatch):
    from robo_meta.algos.ppo import PPOConfig
    from robo_meta.policies import activations
    from robo_meta.runner import Runner

    real, calls = np.tanh, []
    monkeypatch.setattr(activations.np, "tanh", lambda x: calls.append(x.shape) or real(x))
    config = PPOConfig(family="point-goal", algo="dr", num_envs=4, rollout_steps=8, threads=1,
                       hidden_sizes=[8, 8], total_steps=64, eval_tasks=1,
                       numpy_tanh=numpy_tanh)
    Runner(config, tmp_path / "run", torch.device("cpu"), progress=False).train()
    # two updates of 5 epochs x 4 minibatches, four tanh layers each
    assert len(calls) == (2 * 4 * config.epochs * config.minibatches if numpy_tanh else 0)
    assert activations._numpy_enabled  # the run leaves the process's default as it was
