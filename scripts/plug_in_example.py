"""Plug a trained robo_meta policy into your own simulation loop.

    python scripts/plug_in_example.py                     # pretrained:cheetah-vel-rl2
    python scripts/plug_in_example.py --policy runs/my-rl2 --family point-goal --episodes 2

One trial: reset the policy once, then K episodes on the same task, calling act() before and
observe() after every env.step(), so an adaptive (rl2) policy learns the task as it goes.
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
