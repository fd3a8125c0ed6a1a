"""oracle: the upper reference. dr's MLP policy, but the task features are appended to its
observation (privileged information: the normalized task parameters the env reports in
``info["task_features"]``). It needs no adaptation because it is told the task.
"""

from robo_meta.algos import Algorithm

ALGORITHM = Algorithm(
    name="oracle",
    summary="MLP + PPO with the task features in the observation (upper reference)",
    policy_class="mlp",
    uses_task_features=True,
    adaptive=False,
)
