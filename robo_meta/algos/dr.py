"""dr: domain randomization, the non-adaptive baseline.

An MLP Gaussian policy trained with PPO on the family's train distribution, a new task every
episode. It sees only the observation, so it learns the behaviour that is best on average over
tasks and acts the same at every episode of a trial: its adaptation curve is flat.
"""

from robo_meta.algos import Algorithm

ALGORITHM = Algorithm(
    name="dr",
    summary="MLP + PPO over randomized tasks; no adaptation (lower reference)",
    policy_class="mlp",
    uses_task_features=False,
    adaptive=False,
)
