"""rl2: RL² (Duan et al. 2016; Wang et al. 2016) with recurrent PPO.

A GRU policy whose input is the observation plus the previous action, reward and
episode-ended flag. Trials are K episodes on one task drawn from the train distribution; the
hidden state carries across the K episodes and resets only at a new trial, so the policy can
identify the task in early episodes and exploit it in later ones. Returns and advantages run
across the episodes of a trial; GAE is cut at trial ends and at terminations, so falling is
still a loss (with trial-long returns a fall would only buy a fresh episode). Trained with
truncated BPTT over rollout-length sequences from stored hidden states.
"""

from robo_meta.algos import Algorithm

ALGORITHM = Algorithm(
    name="rl2",
    summary="GRU + recurrent PPO across the K episodes of a trial (adapts in context)",
    policy_class="gru",
    uses_task_features=False,
    adaptive=True,
)
