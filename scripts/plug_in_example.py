"""Plug a trained robo_meta policy into your own simulation loop.

    python scripts/plug_in_example.py                     # pretrained:cheetah-vel-rl2
    python scripts/plug_in_example.py --policy runs/my-rl2 --family point-goal --episodes 2
    python scripts/plug_in_example.py --policy runs/my-rma --family hopper-params --sb3
    python scripts/plug_in_example.py --policy runs/my-rma --family hopper-params --sb3-split test

One trial: reset the policy once, then K episodes on the same task, calling act() before and
observe() after every env.step(), so an adaptive (rl2) policy learns the task as it goes.

``--sb3`` then drives the same policy through stable-baselines3's ``evaluate_policy`` (its
``predict``: no rewards) on the same task and seed: an rma policy adapts there too, from the
states and actions alone, and gives the same returns. ``--sb3-split SPLIT`` does that for
every task of a split (trial r seeded ``--seed + r``, as ``robo-meta evaluate``) and prints
both mean returns per episode with their 95 % intervals over tasks.
"""

import argparse
import sys

import gymnasium
import numpy as np

import robo_meta  # registers the gymnasium ids robo_meta/<Family>-v0
from robo_meta.adaptive import pretrained_names
from robo_meta.envs import get_family, gym_id
from robo_meta.envs.errors import RoboMetaError

parser = argparse.ArgumentParser(description="Drive a gymnasium env with a robo_meta policy.")
parser.add_argument("--policy", default="pretrained:cheetah-vel-rl2",
                    help="pretrained:NAME, a checkpoint directory, random or zero")
parser.add_argument("--family", default="cheetah-vel", help="the policy's task family")
parser.add_argument("--task", type=int, default=0, help="index in the test split (held out)")
parser.add_argument("--episodes", type=int, default=3, help="episodes in the trial")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--sb3", action="store_true",
                    help="also run SB3's evaluate_policy (predict) on the same task and seed")
parser.add_argument("--sb3-split", help="evaluate_policy against robo-meta evaluate's returns "
                                        "over a whole split (test, ood, val)")
args = parser.parse_args()

if args.policy.startswith("pretrained:") and args.policy[11:] not in pretrained_names():
    print(f"{args.policy} is not installed yet; showing the loop with the random policy",
          file=sys.stderr)
    args.policy = "random"
try:  # a batch of one: the CPU answers faster than a round trip to a GPU
    policy = robo_meta.load_policy(args.policy, device="cpu", family=args.family, seed=args.seed)
except RoboMetaError as exc:
    sys.exit(f"plug_in_example: error: {exc}")

task = get_family(args.family).tasks("test")[args.task]
env = gymnasium.make(gym_id(args.family), task=task)  # e.g. "robo_meta/CheetahVel-v0"
obs, info = env.reset(seed=args.seed)
# task_features are privileged; only the oracle reads them, the others ignore them
policy.reset(1, task_features=info["task_features"][None])  # a new trial, batch of one
for episode in range(args.episodes):
    if episode > 0:
        obs, info = env.reset()  # the same task (pinned by task=); the policy keeps its memory
    episode_return, done = 0.0, False
    while not done:
        action = policy.act(obs[None])[0]  # policies are batched: (1, obs_dim) -> (1, act_dim)
        obs, reward, terminated, truncated, info = env.step(action)
        policy.observe(obs[None], action[None], np.array([reward]), np.array([terminated]),
                       np.array([truncated]))
        episode_return += reward
        done = terminated or truncated
    print(f"episode {episode + 1}: return {episode_return:.2f}")
env.close()


def sb3_returns(task, seed: int) -> list[float]:
    """The episode returns of SB3's evaluate_policy: K episodes of ``task``, first reset
    seeded ``seed``, the policy driven through predict() with SB3's episode_start."""
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: gymnasium.make(gym_id(args.family), task=task)])
    venv.seed(seed)
    returns, _ = evaluate_policy(policy, venv, n_eval_episodes=args.episodes,
                                 deterministic=True, return_episode_rewards=True, warn=False)
    venv.close()
    return returns


if args.sb3:
    for episode, episode_return in enumerate(sb3_returns(task, args.seed)):
        print(f"evaluate_policy episode {episode + 1}: return {episode_return:.2f}")
if args.sb3_split:
    from robo_meta.evaluation import run_trials, summarize

    tasks = get_family(args.family).tasks(args.sb3_split)
    ours = run_trials(policy, args.family, tasks, episodes=args.episodes, seed=args.seed)
    theirs = np.array([sb3_returns(t, args.seed + r) for r, t in enumerate(tasks)])
    for name, returns in (("robo-meta evaluate", ours.returns), ("SB3 evaluate_policy", theirs)):
        stats = summarize(returns)
        shown = "  ".join(f"{m:.2f} ± {c:.2f}"
                          for m, c in zip(stats["mean"], stats["ci95"], strict=True))
        print(f"{name:>20} ({len(tasks)} {args.sb3_split} tasks), by episode: {shown}")
