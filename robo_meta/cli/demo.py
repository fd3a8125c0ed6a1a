"""``robo-meta demo``: render one trial of a policy adapting on one task (see ``robo_meta.demo``).

Writes an mp4 with an overlay per frame (episode k/K, return so far, earlier returns, task
parameters, policy), or opens MuJoCo's viewer with ``--viewer``. ``MUJOCO_GL`` defaults to
``egl`` here, before any renderer exists, since demos are meant to run headless.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robo_meta.argtypes import MAX_EPISODES, check_writable, positive_float, positive_int, seed
from robo_meta.cli.evaluate import add_trust_pickle, warn_trust_pickle
from robo_meta.envs import get_family
from robo_meta.envs.errors import RoboMetaError

MAX_SIDE = 8192  # pixels: larger frames exceed every offscreen framebuffer and H.264 level
MAX_FPS = 1000.0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="render a policy adapting over one trial (video or viewer)",
        description="Run one trial (K episodes on one task, the policy adapting) and write it "
                    "as an mp4 with an overlay per frame, or show it in MuJoCo's viewer. "
                    "Rendering is offscreen: MUJOCO_GL defaults to egl (osmesa: software).",
    )
    parser.add_argument("--policy", required=True,
                        help="checkpoint directory, pretrained:NAME, sb3:FILE.zip, random or zero")
    parser.add_argument("--family", help="task family (default: the policy's family)")
    parser.add_argument("--task", default="test:0",
                        help="val:I, test:I, ood:I or FILE.json#I (default test:0)")
    parser.add_argument("--episodes", type=positive_int(MAX_EPISODES),
                        help="episodes per trial K (default 3, or E + 1 for a policy that "
                             "explores E episodes before it adapts)")
    parser.add_argument("--video", type=Path,
                        help="output .mp4 (default videos/POLICY-FAMILY-TASK.mp4)")
    parser.add_argument("--width", type=positive_int(MAX_SIDE), default=480,
                        help="frame width per policy, even (default 480)")
    parser.add_argument("--height", type=positive_int(MAX_SIDE), default=360,
                        help="frame height, even (default 360)")
    parser.add_argument("--fps", type=positive_float(MAX_FPS),
                        help="frames per second (default: the env's, i.e. real time)")
    parser.add_argument("--compare", metavar="POLICY",
                        help="a second policy, shown on the right on the same task and seed")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seed of the env resets and of the random policy (default 0)")
    parser.add_argument("--viewer", action="store_true",
                        help="open MuJoCo's interactive viewer instead of writing a video")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    add_trust_pickle(parser)
    parser.set_defaults(run=run)


def _check_args(args: argparse.Namespace) -> None:
    """What the flags' types cannot check alone (numbers are range-checked by their types)."""
    if args.video is not None and args.video.suffix.lower() != ".mp4":
        raise RoboMetaError(f"--video {args.video}: the demo writes .mp4 files")
    if args.viewer and (args.compare or args.video):
        raise RoboMetaError("--viewer shows one policy live: drop --compare and --video")
    if args.video is not None:
        check_writable(args.video, "--video")


def run(args: argparse.Namespace) -> int:
    from robo_meta import demo

    _check_args(args)
    ref = demo.parse_task_ref(args.task)
    if args.viewer:
        demo.require_display()  # before loading anything heavy
    from robo_meta.adaptive import load_policy, load_policy_on_family
    from robo_meta.device import resolve_device
    from robo_meta.sb3_policy import trusting_pickle

    device = resolve_device(args.device)
    task_family = demo.file_task(ref).family if ref.path is not None else None
    if args.trust_pickle:
        warn_trust_pickle("demo", args.policy, args.compare)
    with trusting_pickle(args.trust_pickle):
        policy, family = load_policy_on_family(args.policy, args.family,
                                               task_family=task_family, device=device,
                                               seed=args.seed)
        policies = [policy]
        if args.compare:
            policies.append(load_policy(args.compare, device=device, family=family,
                                        seed=args.seed))
    if args.episodes is None:
        from robo_meta.evaluation import trial_episodes

        args.episodes = trial_episodes(*policies)
    task = demo.resolve_task(ref, family)
    family_name = get_family(family).name
    print(f"task {args.task} of {family_name}: {task.short()}")

    if args.viewer:
        result = demo.view_demo(policy, family, task, args.episodes, args.seed)
    else:
        names = "-vs-".join(p.name for p in policies)
        video = args.video or check_writable(
            Path("videos") / f"{names}-{family_name}-{ref.label}.mp4", "--video")
        demo.select_gl_backend()
        result = demo.record_demo(policies, family, task, video, episodes=args.episodes,
                                  seed=args.seed, width=args.width, height=args.height,
                                  fps=args.fps)
    width = max(len(name) for name in result.names)
    for name, returns in zip(result.names, result.returns, strict=True):
        print(f"{name:<{width}}  returns per episode: "
              + "  ".join(f"{r:9.2f}" for r in returns))
    if result.video is not None:
        print(f"video: {result.video} ({result.frames} frames, {result.size[0]}x"
              f"{result.size[1]}, {result.fps:g} fps)")
    return 0
