"""RaySampler: the Sampler's rollouts spread over Ray actors, on one machine or many.

It has the in-process ``Sampler``'s interface (``reset(policy, seed)``, ``collect(policy,
steps, generator) -> Trajectories``, ``obs_dim``, ``act_dim``, ``close()``), so an algorithm
takes either from ``robo_meta.sampler.make_sampler`` and its update does not change. This
module imports ``ray``; nothing else in the package does, so ray stays an optional extra
(``pip install "robo-meta[ray]"``).

How an iteration travels:

- ``num_envs`` is the total: worker ``w`` owns ``sizes[w]`` simulations (``num_envs`` split
  as evenly as possible, the first workers one more) in its own ``make_vec`` batch with
  ``worker_threads`` threads, and a CPU copy of the policy, in a ``RolloutWorker`` actor that
  reserves ``worker_threads`` CPUs of its node. The family travels as its parsed spec (a
  user ``.toml`` needs no file on the workers).
- The policy module goes to the object store once (at ``reset``); its weights (a state dict
  of numpy arrays, normalizer included) once per iteration with ``ray.put``, one object that
  every worker reads, so every rollout of an iteration uses the same weights (on-policy).
- Each worker returns its rollout as numpy arrays, the rl2 recurrent state at the start of
  its segment included; the learner concatenates them along the simulation axis, worker
  order, into one ``Trajectories`` on its device. Rewards are raw: reward scaling and GAE stay
  with the learner.

Seeds. Worker ``w`` resets its batch with ``seed + offsets[w]`` (``make_vec`` seeds
simulation i with ``seed + i``), so its simulations draw the same tasks and reset noise as
simulations ``offsets[w]...`` of the in-process sampler. Actions are sampled with a
generator per worker: worker 0 uses the learner's own generator when that is a CPU generator
(its state travels with the task and comes back advanced), the others a generator seeded
from (reset seed, worker index). So a 1-worker run is the in-process run, bit for bit, and
with the same seed and worker count a run reproduces, however the workers are placed.

Faults. Actors are created with ``max_restarts`` and ``max_task_retries``: a worker whose
process or node dies is restarted by Ray and its task runs again on the new actor with the
same arguments (weights, generator state). The new actor has no simulation state, so it
resets its batch with the seed the run would use at that step (``reset seed + 7919 x steps
since the reset``, PPO's rule) and collects the rollout again from fresh trials: the
iteration still returns exactly ``steps x num_envs`` steps, none lost and none twice.
A worker that cannot come back (restarts spent, no node can host it, or no answer within
``WORKER_TIMEOUT_S``) raises a ``RoboMetaError``; the Runner writes its checkpoint as it
stops, and ``--resume`` continues, with any number of workers.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

import numpy as np
import ray
import torch

from robo_meta.envs import Family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.envs.spec import FamilySpec
from robo_meta.sampler import Sampler, StepInputs, Trajectories

MAX_RESTARTS = 20  # restarts of one worker over a run
MAX_TASK_RETRIES = 3  # tries of one worker's rollout after its actor died
WORKER_TIMEOUT_S = 600.0  # no answer from a worker in this long: the run stops
FREE_CPU_WAIT_S = 15.0  # at start, how long to wait for the CPUs the workers need
RESEED_STRIDE = 7919  # PPO's reset seed: seed + 7919 x (steps per simulation so far)

# Trajectories fields over (T, n, ...): concatenated along axis 1; the rest along axis 0.
_TIME_MAJOR = ("obs", "prev_action", "prev_reward_done", "trial_start", "actions", "logprobs",
               "values", "rewards", "terminated", "trial_end", "final_values")
_SIM_MAJOR = ("next_value", "initial_state")
_EPISODES = ("episode_returns", "episode_lengths")
_NUMPY_FIELDS = ("rewards", "terminated", "trial_end", "episode_returns", "episode_lengths")


def split_envs(num_envs: int, workers: int) -> list[int]:
    """Simulations per worker: ``num_envs`` split as evenly as possible, first ones larger."""
    base, extra = divmod(num_envs, workers)
    return [base + (w < extra) for w in range(workers)]


def worker_generator_seed(seed: int, index: int) -> int:
    """The action-sampling seed of worker ``index`` after a reset with ``seed``."""
    words = np.random.SeedSequence([seed, index]).generate_state(2, np.uint32)
    return int(words[0]) << 31 | int(words[1]) >> 1  # 62 bits: any torch seed


def to_arrays(traj: Trajectories) -> dict[str, np.ndarray]:
    """A CPU rollout as plain numpy arrays (what a worker sends back)."""
    fields = {**traj.inputs._asdict(), **traj._asdict()}
    del fields["inputs"]
    return {k: v if isinstance(v, np.ndarray) else v.numpy() for k, v in fields.items()}


def from_arrays(parts: list[dict[str, np.ndarray]], device: torch.device) -> Trajectories:
    """The workers' rollouts as one ``Trajectories`` on ``device``, in worker order."""
    joined = {}
    for name in _TIME_MAJOR + _SIM_MAJOR + _EPISODES:
        arrays = [p[name] for p in parts]
        # a copy even of one part: the object store's arrays are read-only
        joined[name] = np.concatenate(arrays, axis=1 if name in _TIME_MAJOR else 0)
    tensors = {k: v if k in _NUMPY_FIELDS else torch.from_numpy(v).to(device)
               for k, v in joined.items()}
    inputs = StepInputs(*(tensors.pop(k) for k in StepInputs._fields))
    return Trajectories(inputs=inputs, **tensors)


class RolloutWorker:
    """One Ray actor: a ``Sampler`` over its own ``make_vec`` batch and a CPU policy copy."""

    def __init__(self, family: FamilySpec, num_envs: int, episodes_per_trial: int,
                 with_features: bool, threads: int):
        torch.set_num_threads(1)  # a tiny network per step; the batch has the threads
        self.sampler = Sampler(Family(family), num_envs, episodes_per_trial, with_features,
                               torch.device("cpu"), threads=threads)
        self.policy: torch.nn.Module | None = None

    def dims(self) -> tuple[int, int]:
        return self.sampler.obs_dim, self.sampler.act_dim

    def collect(self, module: list, weights: dict[str, np.ndarray], steps: int,
                reset_seed: int, fresh: bool, generator_state: torch.Tensor) -> dict[str, Any]:
        """``steps`` steps of every simulation with ``weights``; the rollout as arrays.

        ``fresh``: reset the batch with ``reset_seed`` first (new trials). A restarted actor
        (no batch state) resets too, with the seed the run would have used at this step.
        ``module`` is ``[ObjectRef of the policy module]``: fetched only by a new actor.
        """
        if self.policy is None:
            self.policy = ray.get(module[0])
        # copies: the object store's arrays are read-only
        self.policy.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
        restarted = not fresh and self.sampler.inputs is None
        if fresh or restarted:
            self.sampler.reset(self.policy, reset_seed)
        generator = torch.Generator()
        generator.set_state(generator_state)
        start, cpu = time.perf_counter(), time.process_time()
        traj = self.sampler.collect(self.policy, steps, generator)
        collect_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        return {"rollout": to_arrays(traj), "generator": generator.get_state(),
                "restarted": restarted, "collect_s": collect_s, "cpu_s": cpu_s}

    def close(self) -> None:
        self.sampler.close()


class RaySampler:
    """``num_envs`` simulations of ``family`` split over ``workers`` Ray actors.

    ``address``: a running cluster's address, ``auto`` (the cluster this machine belongs to)
    or ``local`` (start Ray on this machine only). A process already connected to Ray (a
    test's cluster) keeps its connection.
    """

    def __init__(self, family: Family, num_envs: int, episodes_per_trial: int,
                 with_features: bool, device: torch.device, address: str, workers: int,
                 worker_threads: int = 1):
        self.num_envs, self.device = num_envs, device
        self.sizes = split_envs(num_envs, workers)
        self.offsets = np.cumsum([0, *self.sizes[:-1]]).tolist()
        self._owns_ray = _connect(address)
        try:
            _check_resources(workers, worker_threads)
            actor = ray.remote(RolloutWorker).options(
                num_cpus=worker_threads, max_restarts=MAX_RESTARTS,
                max_task_retries=MAX_TASK_RETRIES)
            self.workers = [actor.remote(family.spec, size, episodes_per_trial, with_features,
                                         worker_threads) for size in self.sizes]
            dims = self._gather([w.dims.remote() for w in self.workers], starting=True)
            self.obs_dim, self.act_dim = dims[0]
        except BaseException:
            self.close()
            raise
        self.restarts = 0  # rollouts collected again on a restarted worker
        self.last: dict[str, float] = {}  # the last collect's timing and bytes
        self._module: list | None = None
        self._fresh = True
        self._seed = 0
        self._generators: list[torch.Generator] = []
        self._steps_since_reset = 0

    def reset(self, policy: torch.nn.Module, seed: int) -> None:
        """New trials everywhere at the next ``collect`` (each worker: ``seed + offset``)."""
        self._module = [ray.put(copy.deepcopy(policy).cpu())]
        self._seed, self._fresh, self._steps_since_reset = seed, True, 0
        self._generators = [torch.Generator().manual_seed(worker_generator_seed(seed, w))
                            for w in range(len(self.workers))]

    def collect(self, policy: torch.nn.Module, steps: int,
                generator: torch.Generator) -> Trajectories:
        """Every worker's ``steps`` steps with ``policy``'s current weights, joined."""
        if self._module is None:
            raise RuntimeError("RaySampler.reset(policy, seed) before collect()")
        start = time.perf_counter()
        generators = list(self._generators)
        if generator.device.type == "cpu":  # worker 0 is the in-process sampler
            generators[0] = generator
        weights = {k: v.detach().cpu().numpy() for k, v in policy.state_dict().items()}
        weights_ref = ray.put(weights)
        reseed = self._seed + RESEED_STRIDE * self._steps_since_reset
        tasks = [worker.collect.remote(self._module, weights_ref, steps, reseed + offset,
                                       self._fresh, gen.get_state())
                 for worker, offset, gen in zip(self.workers, self.offsets, generators,
                                                strict=True)]
        self._submitted(tasks)
        results = self._gather(tasks)
        for gen, result in zip(generators, results, strict=True):
            gen.set_state(result["generator"])
        for w, result in enumerate(results):
            if result["restarted"]:
                self.restarts += 1
                print(f"ray worker {w} was restarted: its rollout was collected again from "
                      "fresh trials", file=sys.stderr)
        self._fresh = False
        self._steps_since_reset += steps
        traj = from_arrays([r["rollout"] for r in results], self.device)
        wall = time.perf_counter() - start
        slowest = max(r["collect_s"] for r in results)
        # workers_cpu_s / worker_collect_s: the cores the workers got (W on W free cores)
        self.last = {"wall_s": wall, "worker_collect_s": slowest, "overhead_s": wall - slowest,
                     "workers_cpu_s": sum(r["cpu_s"] for r in results),
                     "weights_bytes": sum(v.nbytes for v in weights.values()),
                     "rollout_bytes": sum(a.nbytes for r in results
                                          for a in r["rollout"].values())}
        return traj

    def _submitted(self, tasks: list) -> None:
        """Called once an iteration's tasks are out (a seam for fault-injection tests)."""

    def _gather(self, tasks: list, starting: bool = False) -> list:
        """The tasks' results, in worker order; a worker lost for good is one
        ``RoboMetaError`` line (the Runner then writes its checkpoint as it stops)."""
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        results = []
        stop = ("; the run stops after writing its checkpoint: --resume it, with fewer "
                "--workers if machines are gone")
        if starting:
            stop = " while starting (is robo-meta installed on every node?)"
        for w, task in enumerate(tasks):
            try:
                results.append(ray.get(task, timeout=max(deadline - time.monotonic(), 0.0)))
            except ray.exceptions.GetTimeoutError:
                raise RoboMetaError(f"Ray worker {w} did not answer in {WORKER_TIMEOUT_S:.0f} s "
                                    f"(its node lost and no room to restart it?){stop}") from None
            except ray.exceptions.RayActorError as exc:
                raise RoboMetaError(f"Ray worker {w} died and could not be restarted "
                                    f"({type(exc).__name__}){stop}") from None
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, RoboMetaError):  # bad input met on a worker: one line
                    raise RoboMetaError(str(exc.cause)) from None
                raise
        return results

    def close(self) -> None:
        """End the workers (and Ray, if this sampler started it)."""
        if ray.is_initialized():
            for worker in getattr(self, "workers", []):
                ray.kill(worker, no_restart=True)
        self.workers = []
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False


def _connect(address: str) -> bool:
    """Connect this process to Ray at ``address``; True if this call started the connection."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=None if address == "local" else address, logging_level="warning",
                 include_dashboard=False)
    except ConnectionError as exc:
        raise RoboMetaError(f"--ray {address}: no Ray cluster there ({exc}); start one with "
                            "'ray start --head' or use --ray local") from None
    return True


def _check_resources(workers: int, worker_threads: int) -> None:
    """Enough free CPUs for every worker (else its actor would wait for one forever); CPUs
    of actors just ended come back within a second or so: wait ``FREE_CPU_WAIT_S`` for them."""
    deadline = time.monotonic() + FREE_CPU_WAIT_S
    free = ray.available_resources().get("CPU", 0)
    while workers * worker_threads > free and time.monotonic() < deadline:
        time.sleep(0.2)
        free = ray.available_resources().get("CPU", 0)
    if workers * worker_threads > free:
        total = ray.cluster_resources().get("CPU", 0)
        raise RoboMetaError(f"--workers {workers} x --worker-threads {worker_threads} needs "
                            f"{workers * worker_threads} CPUs; the Ray cluster has {free:g} "
                            f"free of {total:g}")
