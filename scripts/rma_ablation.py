"""Where an rma policy's return comes from: the student against its own base policy given the
true latent and given no information about the task.

    python scripts/rma_ablation.py --policy runs/hopper-params-rma --split test --seeds 3

Three policies share the rma run's frozen base policy π(x, a_prev, z) and differ only in z:

| row | z fed to the base policy |
|---|---|
| ``student`` | ẑ = φ(history): the deployed rma policy |
| ``teacher`` | z = μ(task features): told the task (privileged; phase 1's policy) |
| ``fixed z`` | the mean of μ over 1,000 train tasks, at every step: no adaptation |

Each is run on the same trials (one per task and seed, seeded as ``robo-meta evaluate``); the
table gives mean returns per episode and the paired differences with 95 % Student-t intervals
over tasks. student - fixed z is what identification buys; teacher - student what it leaves.
"""

from __future__ import annotations

import argparse

import torch

from robo_meta.adaptive import TrainedPolicy, load_policy
from robo_meta.algos.rma import RMAPolicy
from robo_meta.envs import get_family
from robo_meta.evaluation import run_trials, summarize


class FixedLatent(torch.nn.Module):
    """Stands in for the adaptation module: the same z whatever the history."""

    def __init__(self, adapter, z: torch.Tensor):
        super().__init__()
        self.history, self.entry_dim = adapter.history, adapter.entry_dim
        self.register_buffer("trained_steps", adapter.trained_steps.clone())
        self.register_buffer("z", z)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return self.z.expand(len(history), -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="an rma run directory")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    student = load_policy(args.policy, device=cpu)
    if not isinstance(student, RMAPolicy):
        raise SystemExit(f"rma_ablation: error: {args.policy} is not an rma policy")
    family = get_family(student.family)
    train = family.sample_tasks(1000, 12345)
    features = torch.as_tensor(family.task_features(family.task_arrays(train)),
                               dtype=torch.float32)
    with torch.no_grad():
        mean_z = student.teacher.encode(features).mean(0)
    policies = {
        "student": student,
        "teacher": TrainedPolicy(student.teacher, "rma", family.name, cpu, with_features=True,
                                 name="teacher"),
        "fixed z": RMAPolicy(student.teacher, FixedLatent(student.adapter, mean_z),
                             family.name, cpu, name="fixed z"),
    }
    tasks = family.tasks(args.split)
    per_task = {}
    for name, policy in policies.items():
        results = run_trials(policy, family.name, tasks, episodes=args.episodes,
                             seeds_per_task=args.seeds, threads=args.threads)
        results.check_scored(name)
        # trial r ran tasks[r % n]: (seeds, n, K) averaged over seeds -> (n, K)
        per_task[name] = results.returns.reshape(args.seeds, len(tasks), -1).mean(0)
    print(f"{family.name} {args.split}: {len(tasks)} tasks x {args.seeds} seeds; "
          "mean ± 95% CI over tasks, by episode")
    rows = [(name, returns) for name, returns in per_task.items()]
    rows += [("student - fixed z", per_task["student"] - per_task["fixed z"]),
             ("teacher - student", per_task["teacher"] - per_task["student"])]
    for name, values in rows:
        stats = summarize(values)
        shown = "  ".join(f"{m:8.2f} ± {c:6.2f}"
                          for m, c in zip(stats["mean"], stats["ci95"], strict=True))
        print(f"{name:>18}  {shown}")


if __name__ == "__main__":
    main()
