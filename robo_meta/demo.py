"""Simulation demos: watch a policy adapt during one trial, as a video or in MuJoCo's viewer.

A demo runs one trial: K episodes on one task. The policy is reset once at the start of the
trial and adapts as its algorithm defines (``act``/``observe`` every step); the env resets
between episodes and keeps the task. Every frame carries an overlay: the policy, episode
k/K, the return so far, the returns of the episodes before, and the task's parameters.

Command line (``python scripts/demo.py`` takes the same flags)::

    robo-meta demo --policy pretrained:cheetah-vel-rl2 --task test:0
    robo-meta demo --policy pretrained:cheetah-vel-dr --compare pretrained:cheetah-vel-rl2 \\
        --task ood:3 --episodes 3 --video videos/cheetah-vel-dr-vs-rl2.mp4
    robo-meta demo --policy runs/rl2-point-goal --task my_tasks.json#4 --width 640 --height 480
    robo-meta demo --policy random --family hopper-params --viewer     # needs a display

| flag | meaning |
|---|---|
| ``--policy`` | checkpoint directory, ``pretrained:NAME``, ``sb3:FILE.zip``, random or zero |
| ``--family`` | task family (default: the policy's; ``random``/``zero`` need it or a tasks file) |
| ``--task`` | ``val:I``, ``test:I``, ``ood:I`` (task I of that split) or ``FILE.json#I`` |
| ``--episodes`` | episodes K of the trial (default 3; E + 1 if the policy explores E first) |
| ``--video`` | output ``.mp4`` (default ``videos/<policy>-<family>-<task>.mp4``) |
| ``--width``, ``--height`` | frame size of one policy, even numbers (default 480 x 360) |
| ``--fps`` | frames per second (default: the env's, i.e. real time) |
| ``--compare`` | a second policy, rendered on the same task and seed to the right |
| ``--seed`` | seed of the env resets and of the ``random`` policy (default 0) |
| ``--viewer`` | MuJoCo's interactive viewer instead of a video (needs a display) |
| ``--device`` | torch device of the policies: auto, cpu or cuda (default auto) |

Rendering is offscreen, so no display is needed. ``MUJOCO_GL`` picks MuJoCo's OpenGL backend;
when it is unset the demo sets ``MUJOCO_GL=egl`` (GPU, or Mesa's EGL on CPU). Where EGL is
missing use ``MUJOCO_GL=osmesa`` (software rendering, slower). ``--viewer`` needs a display
(``DISPLAY`` or ``WAYLAND_DISPLAY``; on macOS run it under ``mjpython``).

Frames: one per env step (the state after the step). With ``--compare`` the two policies step
in lockstep; when one's episode ends first (a hopper falls) it holds its last frame until the
other's episode ends too, so episode k starts on the same frame on both sides.
"""

from __future__ import annotations

import importlib
import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robo_meta.adaptive import AdaptivePolicy, check_observations
from robo_meta.envs import RoboMetaEnv, Task, get_family, make
from robo_meta.envs.errors import RoboMetaError, one_line
from robo_meta.io import atomic_path

GL_HINT = "set MUJOCO_GL=egl (GPU or Mesa EGL) or MUJOCO_GL=osmesa (software rendering)"
_TASK_REF = re.compile(
    r"^(?:(?P<split>val|test|ood):(?P<index>\d+)|(?P<path>.+\.json)#(?P<row>\d+))$")


# -- tasks ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskRef:
    """A parsed ``--task``: row ``index`` of a held-out split, or of a tasks file."""

    text: str
    index: int
    split: str | None = None
    path: Path | None = None

    @property
    def label(self) -> str:
        """Short form for file names: ``test0``, ``ood3``, ``mytasks4``."""
        return f"{self.split or self.path.stem}{self.index}"


def parse_task_ref(text: str) -> TaskRef:
    match = _TASK_REF.match(text)
    if match is None:
        raise RoboMetaError(f"--task {text!r}: expected val:I, test:I, ood:I or FILE.json#I "
                            "(I: a task index from 0)")
    if match["split"]:
        return TaskRef(text, int(match["index"]), split=match["split"])
    return TaskRef(text, int(match["row"]), path=Path(match["path"]))


def file_task(ref: TaskRef) -> Task:
    """The task a ``FILE.json#I`` reference names (the file as ``robo-meta evaluate`` reads it)."""
    from robo_meta.evaluation import read_tasks_file

    tasks = read_tasks_file(ref.path)
    if ref.index >= len(tasks):
        raise RoboMetaError(f"--task {ref.text}: index {ref.index} is out of range (tasks "
                            f"file {ref.path} holds {len(tasks)} tasks: 0..{len(tasks) - 1})")
    return tasks[ref.index]


def resolve_task(ref: TaskRef, family: str) -> Task:
    """The validated task ``ref`` names, in ``family``."""
    fam = get_family(family)
    if ref.path is not None:
        task = file_task(ref)
        if task.family != fam.name:
            raise RoboMetaError(f"--task {ref.text}: a task of family {task.family!r}, "
                                f"not {fam.name!r}")
        try:
            return fam.validate(task)
        except RoboMetaError as exc:
            raise RoboMetaError(f"--task {ref.text}: {exc}") from None
    if not fam.has_split(ref.split):
        raise RoboMetaError(f"family {fam.name} has no {ref.split!r} split")
    tasks = fam.tasks(ref.split)
    if ref.index >= len(tasks):
        raise RoboMetaError(f"--task {ref.text}: index {ref.index} is out of range (the "
                            f"{ref.split} split of {fam.name} has {len(tasks)} tasks: "
                            f"0..{len(tasks) - 1})")
    return tasks[ref.index]


# -- rendering backend ---------------------------------------------------------------------------
def select_gl_backend() -> str:
    """Default ``MUJOCO_GL`` to ``egl`` and make MuJoCo's offscreen context follow the variable.

    MuJoCo picks its GL backend when it is first imported, and ``robo_meta.envs`` imports it
    before any demo code runs, so a variable set (or defaulted) afterwards only takes effect
    by re-running that choice: reloading MuJoCo's ``gl_context`` module.
    """
    backend = os.environ.setdefault("MUJOCO_GL", "egl").lower().strip()
    try:
        from mujoco.rendering.classic import gl_context
    except ImportError:  # mujoco < 4
        from mujoco import gl_context
    if getattr(gl_context, "_MUJOCO_GL", None) != backend:
        try:
            importlib.reload(gl_context)
        except Exception as exc:  # an unknown value raises RuntimeError; a broken library, others
            raise RoboMetaError(f"no rendering backend: MUJOCO_GL={backend!r} is unusable "
                                f"({one_line(exc)}); {GL_HINT}") from None
    return backend


# -- one policy's side of the demo ---------------------------------------------------------------
@dataclass
class _Run:
    """A policy in its own env: the trial so far and the last rendered frame."""

    policy: AdaptivePolicy
    env: RoboMetaEnv
    returns: list[float] = field(default_factory=list)  # finished episodes
    lengths: list[int] = field(default_factory=list)
    episode_return: float = 0.0
    steps: int = 0
    done: bool = False
    terminated: bool = False
    obs: np.ndarray | None = None
    frame: np.ndarray | None = None  # (height, width, 3) uint8; held once the episode ends

    def start_episode(self, seed: int | None) -> None:
        self.obs, info = self.env.reset(seed=seed)
        if not self.returns:  # trial start: the only reset of the policy's memory
            self.policy.reset(1, task_features=info["task_features"][None])
        self.episode_return, self.steps, self.done, self.terminated = 0.0, 0, False, False

    def step(self) -> None:
        action = self.policy.act(self.obs[None])  # (1, act_dim)
        self.obs, reward, terminated, truncated, _ = self.env.step(action[0])
        self.policy.observe(self.obs[None], action, np.array([reward]), np.array([terminated]),
                            np.array([truncated]))
        self.episode_return += reward
        self.steps += 1
        self.done, self.terminated = terminated or truncated, terminated

    def end_episode(self) -> None:
        self.returns.append(self.episode_return)
        self.lengths.append(self.steps)

    def overlay_lines(self, episode: int, episodes: int) -> list[str]:
        status = "   terminated" if self.terminated else ""  # held while the other runs on
        lines = [f"{self.policy.name}   episode {episode + 1}/{episodes}   step {self.steps}"
                 + status, f"return {self.episode_return:.1f}"]
        if self.returns:
            lines[-1] += "   before: " + ", ".join(f"{r:.1f}" for r in self.returns)
        return [*lines, "task " + self.env.fixed_task.short()]


def _make_runs(policies: Sequence[AdaptivePolicy], family: str, task: Task, seed: int,
               render: dict | None) -> list[_Run]:
    runs = []
    for policy in policies:
        env = make(family, task=task, **({"render_mode": "rgb_array", **render} if render else {}))
        check_observations(policy, env.family.name, env.observation_space.shape[0])
        runs.append(_Run(policy, env))
    if render:  # create the renderer now, before any file is opened
        runs[0].env.reset(seed=seed)
        try:
            with warnings.catch_warnings():  # glfw warns before failing: keep to one line
                warnings.simplefilter("ignore")
                runs[0].env.render()
        except Exception as exc:  # EGL/OSMesa/GLFW failures raise many types
            raise RoboMetaError(f"no rendering backend (MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
                                f"): {one_line(exc)}; {GL_HINT}") from None
    return runs


def _trial(runs: Sequence[_Run], episodes: int, seed: int, render: bool) -> Iterator[int]:
    """Step every run through the trial; yields the episode index after each lockstep step."""
    for k in range(episodes):
        for run in runs:
            run.start_episode(seed if k == 0 else None)  # later resets continue the env's RNG
        while not all(run.done for run in runs):
            for run in runs:
                if not run.done:
                    run.step()
                    if render:
                        run.frame = run.env.render()
            yield k
        for run in runs:
            run.end_episode()


# -- overlay -------------------------------------------------------------------------------------
class Overlay:
    """White text with a black outline in the top-left corner: readable on any background."""

    def __init__(self, width: int, height: int):
        from PIL import ImageFont

        self.size = max(9, round(height / 26))  # 14 px at 360 rows
        self.font = ImageFont.load_default(size=self.size)
        self.width, self.margin = width, max(3, self.size // 3)

    def _wrap(self, line: str) -> list[str]:
        """Split ``line`` at spaces so each piece fits the frame width."""
        rows, current = [], ""
        for word in line.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and self.font.getlength(candidate) > self.width - 2 * self.margin:
                rows.append(current)
                candidate = "  " + word
            current = candidate
        return [*rows, current]

    def draw(self, frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
        from PIL import Image, ImageDraw

        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        y = self.margin
        for row in (row for line in lines for row in self._wrap(line)):
            draw.text((self.margin, y), row, font=self.font, fill=(255, 255, 255),
                      stroke_width=max(1, self.size // 8), stroke_fill=(0, 0, 0))
            y += round(self.size * 1.25)
        return np.asarray(image)


# -- front doors ---------------------------------------------------------------------------------
@dataclass
class DemoResult:
    """What a demo showed: per policy, the return and length of each episode of the trial."""

    names: list[str]
    returns: list[list[float]]
    lengths: list[list[int]]
    frames: int = 0
    size: tuple[int, int] = (0, 0)  # (width, height) of the video
    fps: float = 0.0
    video: Path | None = None


def _result(runs: Sequence[_Run]) -> DemoResult:
    return DemoResult([r.policy.name for r in runs], [r.returns for r in runs],
                      [r.lengths for r in runs])


def record_demo(policies: Sequence[AdaptivePolicy], family: str, task: Task, video: str | Path,
                episodes: int = 3, seed: int = 0, width: int = 480, height: int = 360,
                fps: float | None = None) -> DemoResult:
    """Render one trial of each policy (side by side) into the mp4 ``video``, atomically.

    Needs a working ``MUJOCO_GL`` backend (see ``select_gl_backend``).
    """
    import imageio.v2 as imageio

    from robo_meta.evaluation import single_torch_thread

    _check_size(family, width, height)
    runs = _make_runs(policies, family, task, seed, {"width": width, "height": height})
    fps = fps or runs[0].env.metadata["render_fps"]
    overlay, frames = Overlay(width, height), 0
    with atomic_path(video) as tmp, single_torch_thread():
        writer = imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                    pixelformat="yuv420p", quality=8, macro_block_size=2,
                                    ffmpeg_log_level="error")
        try:
            for k in _trial(runs, episodes, seed, render=True):
                writer.append_data(np.concatenate(
                    [overlay.draw(run.frame, run.overlay_lines(k, episodes)) for run in runs],
                    axis=1))
                frames += 1
        finally:
            writer.close()
    for run in runs:
        run.env.close()
    result = _result(runs)
    result.frames, result.size, result.fps = frames, (width * len(runs), height), fps
    result.video = Path(video)
    return result


def _check_size(family: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise RoboMetaError(f"--width and --height must be positive even numbers (H.264), "
                            f"got {width}x{height}")
    limit = get_family(family).model.vis.global_
    if width > limit.offwidth or height > limit.offheight:
        raise RoboMetaError(f"{width}x{height} exceeds the offscreen framebuffer of the "
                            f"{get_family(family).name} model ({limit.offwidth}x"
                            f"{limit.offheight}; <visual><global offwidth offheight> in its MJCF)")


def require_display() -> None:
    """Raise the one-line error of ``--viewer`` on a machine without a display."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RoboMetaError("--viewer needs a display, and DISPLAY and WAYLAND_DISPLAY are "
                            "unset; drop --viewer to write a video instead")


def view_demo(policy: AdaptivePolicy, family: str, task: Task, episodes: int = 3,
              seed: int = 0) -> DemoResult:
    """Run one trial in MuJoCo's interactive passive viewer, in real time (needs a display)."""
    require_display()
    import mujoco
    import mujoco.viewer

    from robo_meta.evaluation import single_torch_thread

    (run,) = _make_runs([policy], family, task, seed, render=None)
    batch = run.env.sim.batch
    model = batch.get_model(0)
    data = mujoco.MjData(model)
    try:
        viewer = mujoco.viewer.launch_passive(model, data)
    except Exception as exc:
        raise RoboMetaError(f"cannot open MuJoCo's viewer ({one_line(exc)}); it needs a "
                            "working display (on macOS, run under mjpython)") from None
    with viewer, single_torch_thread():
        episode = -1
        for k in _trial([run], episodes, seed, render=False):
            start = time.perf_counter()
            with viewer.lock():
                if k != episode:  # a new episode: the task's model fields (goal marker)
                    batch.get_model(0, model)
                    episode = k
                batch.get_data(0, data)
                mujoco.mj_forward(model, data)
            # outside the lock: set_texts takes it too
            viewer.set_texts((None, None, "\n".join(run.overlay_lines(k, episodes)), None))
            viewer.sync()
            if not viewer.is_running():
                break
            time.sleep(max(0.0, run.env.sim.dt - (time.perf_counter() - start)))
    run.env.close()
    return _result([run])
