"""``robo-meta demo`` and the plug-in example: videos read back frame by frame, the returns they
show equal what the evaluator computes, and every bad input ends in one line, exit 2, no file.

Rendering is offscreen through EGL (Mesa's software EGL on a CPU-only machine). A frame costs
~40 ms there whatever its size, 30 of them for MuJoCo's 4096² shadow map and reflections, so
the videos here are short and, but for the first test, drawn without shadows (``fast_gl``).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # before any renderer exists; the demo honours it

import json  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import imageio.v2 as imageio  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import robo_meta.adaptive  # noqa: E402
from robo_meta import demo  # noqa: E402
from robo_meta.adaptive import ConstantPolicy, load_policy  # noqa: E402
from robo_meta.algos.ppo import PPOConfig  # noqa: E402
from robo_meta.cli.main import main  # noqa: E402
from robo_meta.envs import get_family  # noqa: E402
from robo_meta.evaluation import run_trials  # noqa: E402
from robo_meta.runner import Runner  # noqa: E402

FAMILY = "point-goal"
HORIZON = 50  # point-goal.toml; the point mass never terminates
SIZE = ["--width", "64", "--height", "48"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gl() -> None:
    """Skip rendering tests where no EGL context can be made (the rest still run)."""
    try:
        demo.select_gl_backend()
        renderer = mujoco.Renderer(get_family(FAMILY).model, 48, 64)
        renderer.close()
    except Exception as exc:
        pytest.skip(f"no offscreen OpenGL context with MUJOCO_GL={os.environ['MUJOCO_GL']}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")


@pytest.fixture
def fast_gl(gl, monkeypatch) -> None:
    """Renderers without shadows and reflections: 4x faster in software, and nothing tested
    here depends on them."""
    class FastRenderer(mujoco.Renderer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            self.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False

    monkeypatch.setattr(mujoco, "Renderer", FastRenderer)


@pytest.fixture(scope="module")
def rl2_checkpoint(tmp_path_factory) -> Path:
    """An rl2 checkpoint after two tiny rollouts (its GRU makes actions depend on the past)."""
    run_dir = tmp_path_factory.mktemp("rl2")
    threads = torch.get_num_threads()
    config = PPOConfig(family=FAMILY, algo="rl2", total_steps=256, num_envs=8, rollout_steps=16,
                         epochs=1, minibatches=2, eval_tasks=1, threads=1, gru_hidden=16,
                         device="cpu", seed=0)
    Runner(config, run_dir, torch.device("cpu"), progress=False).train()
    torch.set_num_threads(threads)
    return run_dir


def frames_of(path: Path) -> np.ndarray:
    with imageio.get_reader(path) as reader:
        # not list(reader): the reader's length is inf for mp4, which list() preallocates
        return np.stack([frame for frame in reader])


def demo_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["demo", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_video_has_one_frame_per_step_and_the_frames_change(gl, tmp_path, capsys):
    video = tmp_path / "demo.mp4"
    code, out, err = demo_cli(capsys, "--policy", "random", "--family", FAMILY, "--episodes",
                              "2", "--video", str(video), *SIZE)
    assert code == 0, err
    frames = frames_of(video)
    assert frames.shape == (2 * HORIZON, 48, 64, 3)
    assert f"video: {video} (100 frames, 64x48, 20 fps)" in out  # point-goal: dt 0.05 s
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).max(axis=(1, 2, 3)).min() > 0
    assert [p.name for p in tmp_path.iterdir()] == ["demo.mp4"]  # no temporary left over


def _printed_returns(out: str, name: str) -> list[float]:
    line = next(line for line in out.splitlines() if line.startswith(f"{name} "))
    return [float(value) for value in line.split(":", 1)[1].split()]


def test_compare_doubles_the_width_and_shows_the_returns_the_evaluator_computes(
        fast_gl, tmp_path, capsys, rl2_checkpoint):
    video = tmp_path / "compare.mp4"
    code, out, err = demo_cli(capsys, "--policy", str(rl2_checkpoint), "--compare", "random",
                              "--task", "test:3", "--episodes", "1", "--seed", "5",
                              "--video", str(video), *SIZE)
    assert code == 0, err
    assert frames_of(video).shape == (HORIZON, 48, 128, 3)
    task = get_family(FAMILY).tasks("test")[3]
    for source, name in ((str(rl2_checkpoint), rl2_checkpoint.name), ("random", "random")):
        policy = load_policy(source, device="cpu", family=FAMILY, seed=5)
        expected = run_trials(policy, FAMILY, [task], episodes=1, seed=5).returns[0]
        np.testing.assert_allclose(_printed_returns(out, name), expected, atol=0.006)


def test_default_video_path_names_policy_family_and_task(fast_gl, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = demo_cli(capsys, "--policy", "zero", "--family", FAMILY, "--task", "ood:1",
                              "--episodes", "1", *SIZE)
    assert code == 0, err
    assert frames_of(tmp_path / "videos" / "zero-point-goal-ood1.mp4").shape[0] == HORIZON


def test_a_policy_that_falls_first_holds_its_last_frame_until_the_other_ends(fast_gl, tmp_path):
    # two random hoppers (different seeds) fall at different steps, episode after episode
    policies = [ConstantPolicy("random", "hopper-params", seed=s) for s in (0, 1)]
    for policy, name in zip(policies, ("left", "right"), strict=True):
        policy.name = name
    task = get_family("hopper-params").tasks("test")[0]
    result = demo.record_demo(policies, "hopper-params", task, tmp_path / "h.mp4", episodes=2,
                              width=64, height=48)
    lengths = np.array(result.lengths)  # (2 policies, 2 episodes)
    assert (lengths[0] != lengths[1]).all() and (lengths < 200).all()
    frames = frames_of(tmp_path / "h.mp4").astype(np.int16)
    assert len(frames) == result.frames == lengths.max(axis=0).sum()
    start = 0
    for k in range(2):
        short = int(np.argmin(lengths[:, k]))
        end, held = start + lengths.max(axis=0)[k], start + lengths[short, k]
        halves = [frames[start:end, :, :64], frames[start:end, :, 64:]]
        held_part = halves[short][held - start - 1:]
        # H.264 may blur a still frame a little, never by much
        assert np.abs(held_part - held_part[0]).mean(axis=(1, 2, 3)).max() < 2.0
        moving = halves[1 - short][held - start - 1:]
        assert np.abs(moving[-1] - moving[0]).mean() > 2.0
        start = end


def _tasks_file(tmp_path: Path, family: str = FAMILY, count: int = 2) -> Path:
    path = tmp_path / "tasks.json"
    tasks = get_family(family).tasks("test")[:count]
    path.write_text(json.dumps([t.to_dict() for t in tasks]))
    return path


@pytest.mark.parametrize("args, message", [
    (["--policy", "pretrained:no-such-policy"], "unknown pretrained policy 'no-such-policy'"),
    (["--policy", "random", "--family", FAMILY, "--task", "test:40"],
     "the test split of point-goal has 40 tasks: 0..39"),
    (["--policy", "random", "--family", FAMILY, "--task", "ood:1000"], "has 40 tasks"),
    (["--policy", "random", "--family", FAMILY, "--task", "train:0"], "expected val:I, test:I"),
    (["--policy", "random", "--family", FAMILY, "--task", "test:-1"], "expected val:I, test:I"),
    (["--policy", "random", "--family", FAMILY, "--task", "test"], "expected val:I, test:I"),
    (["--policy", "random", "--family", FAMILY, "--task", "missing.json#0"],
     "cannot read tasks file"),
    (["--policy", "random", "--task", "{tasks}#2"], "holds 2 tasks: 0..1"),
    (["--policy", "random", "--family", "hopper-params", "--task", "{tasks}#0"],
     "a task of family 'point-goal', not 'hopper-params'"),
    (["--policy", "random", "--task", "{bad_json}#0"], "is not valid JSON"),
    (["--policy", "random"], "needs a family"),
    (["--policy", "random", "--family", "no-such-family"], "unknown family"),
    (["--policy", "random", "--family", FAMILY, "--episodes", "0"],
     "argument --episodes: must be positive"),
    (["--policy", "random", "--family", FAMILY, "--width", "63"], "positive even numbers"),
    (["--policy", "random", "--family", FAMILY, "--width", "2560"], "offscreen framebuffer"),
    (["--policy", "random", "--family", FAMILY, "--compare", "{rl2}", "--family", "ant-goal"],
     "trained on family 'point-goal', not 'ant-goal'"),
    (["--policy", "random", "--family", FAMILY, "--viewer", "--compare", "zero"],
     "drop --compare"),
])
def test_bad_input_is_one_line_exit_2_and_no_file(tmp_path, capsys, rl2_checkpoint, args,
                                                   message):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    bad_json = inputs / "bad.json"
    bad_json.write_text("[{")
    names = {"tasks": str(_tasks_file(inputs)), "bad_json": str(bad_json),
             "rl2": str(rl2_checkpoint)}
    args = [arg.format(**names) for arg in args]
    out_dir = tmp_path / "out"
    code, _, err = demo_cli(capsys, *args, "--video", str(out_dir / "v.mp4"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out_dir.exists()


def test_a_bad_video_suffix_is_refused(tmp_path, capsys):
    code, _, err = demo_cli(capsys, "--policy", "zero", "--family", FAMILY, "--video",
                            str(tmp_path / "v.avi"))
    assert code == 2 and "writes .mp4 files" in err and not any(tmp_path.iterdir())


@pytest.mark.parametrize("breakage", ["unknown backend", "renderer raises"])
def test_no_rendering_backend_names_egl_and_osmesa(tmp_path, capsys, monkeypatch, breakage):
    if breakage == "unknown backend":
        monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    else:
        def broken_renderer(*args, **kwargs):
            raise mujoco.FatalError("gladLoadGL error")
        monkeypatch.setattr(mujoco, "Renderer", broken_renderer)
    code, _, err = demo_cli(capsys, "--policy", "zero", "--family", FAMILY, "--video",
                            str(tmp_path / "out" / "v.mp4"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no rendering backend" in err and "MUJOCO_GL=egl" in err and "MUJOCO_GL=osmesa" in err
    assert not (tmp_path / "out").exists()


def test_viewer_without_a_display_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = demo_cli(capsys, "--policy", "zero", "--family", FAMILY, "--viewer")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--viewer needs a display" in err


def test_viewer_that_cannot_start_says_so(capsys, monkeypatch):
    import mujoco.viewer

    def no_window(*args, **kwargs):
        raise RuntimeError("could not initialize GLFW")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(mujoco.viewer, "launch_passive", no_window)
    code, _, err = demo_cli(capsys, "--policy", "zero", "--family", FAMILY, "--viewer")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot open MuJoCo's viewer (could not initialize GLFW)" in err


def plug_in(capsys, monkeypatch, *args: str) -> tuple[str, str]:
    monkeypatch.setattr(sys, "argv", ["plug_in_example.py", *args])
    runpy.run_path(str(ROOT / "scripts" / "plug_in_example.py"), run_name="__main__")
    captured = capsys.readouterr()
    return captured.out, captured.err


@pytest.mark.parametrize("source", ["random", "rl2"])
def test_plug_in_example_prints_the_returns_the_evaluator_computes(capsys, monkeypatch,
                                                                   rl2_checkpoint, source):
    source = str(rl2_checkpoint) if source == "rl2" else source
    out, _ = plug_in(capsys, monkeypatch, "--policy", source, "--family", FAMILY, "--task", "2",
                     "--episodes", "2", "--seed", "7")
    printed = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines()]
    policy = load_policy(source, device="cpu", family=FAMILY, seed=7)
    task = get_family(FAMILY).tasks("test")[2]
    expected = run_trials(policy, FAMILY, [task], episodes=2, seed=7).returns[0]
    np.testing.assert_allclose(printed, expected, atol=0.006)


def test_plug_in_example_without_the_pretrained_policy_falls_back_to_random(
        capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(robo_meta.adaptive, "PRETRAINED_DIR", tmp_path)  # nothing installed
    out, err = plug_in(capsys, monkeypatch, "--episodes", "1")
    assert "pretrained:cheetah-vel-rl2 is not installed yet" in err
    assert out.startswith("episode 1: return ") and len(out.splitlines()) == 1


def test_task_ref_names_a_val_task_as_well_as_a_held_out_one():
    from robo_meta.demo import parse_task_ref, resolve_task
    from robo_meta.envs import get_family

    family = get_family(FAMILY)
    for split in ("val", "test", "ood"):
        ref = parse_task_ref(f"{split}:2")
        assert (ref.split, ref.index, ref.label) == (split, 2, f"{split}2")
        assert resolve_task(ref, FAMILY) == family.tasks(split)[2]
