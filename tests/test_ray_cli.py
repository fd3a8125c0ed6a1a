"""``--ray``, ``--workers`` and ``--worker-threads`` where ray may be missing: the flags are
checked in one line, a missing ray names the extra, and in-process training never imports ray.
These tests need no ray (the Ray sampler's own tests are in test_ray_sampler.py).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from cli_helpers import exit_status as _main

TINY = ["--family", "point-goal", "--algo", "dr", "--num-envs", "4", "--rollout-steps", "8",
        "--epochs", "1", "--minibatches", "1", "--eval-tasks", "1", "--threads", "1",
        "--device", "cpu", "--no-progress", "--total-steps", "32"]


def test_ray_missing_is_one_line_naming_the_extra_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` raises ImportError
    out = tmp_path / "run"
    assert _main(["train", *TINY, "--ray", "auto", "--workers", "2", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['robo-meta train: error: --ray needs Ray, an optional extra: '
                   'pip install "robo-meta[ray]"']
    assert not out.exists()  # nothing half-written


def test_worker_flags_are_checked_in_one_line(tmp_path, capsys):
    cases = [(["--workers", "2"], "--workers needs --ray ADDRESS"),
             (["--ray", "auto", "--workers", "0"], "workers must be in [1, 4], got 0"),
             (["--ray", "auto", "--workers", "5"], "workers must be in [1, 4], got 5"),
             (["--ray", "auto", "--worker-threads", "0"], "worker_threads must be in [1, 1024]")]
    for flags, message in cases:
        assert _main(["train", *TINY, *flags, "--out", tmp_path / "run"]) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (flags, err)
    assert not (tmp_path / "run").exists()


def test_in_process_training_never_imports_ray(tmp_path):
    # in a fresh interpreter where ``import ray`` would fail: a whole tiny run still works
    code = textwrap.dedent(f"""
        import sys
        sys.modules["ray"] = None
        from robo_meta.cli.main import main
        code = main({["train", *TINY, "--out", str(tmp_path / "run")]!r})
        assert code == 0, code
        assert sys.modules["ray"] is None and "robo_meta.ray_sampler" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "state.pt").is_file()


def test_bench_ray_times_one_in_process_trainer_per_size_and_each_worker_count():
    from robo_meta.bench.scaleout import plan

    # name: (simulations, threads, Ray workers; 0 in process). The defaults fit 2 cores.
    assert plan(256, (1, 2), 1) == {"in-process x 256": (256, 1, 0),
                                    "in-process x 512": (512, 2, 0),
                                    "ray 1 worker": (256, 1, 1), "ray 2 workers": (512, 1, 2)}
    # the GPU machine's run: 4 threads per worker; the big in-process trainer uses all 16
    assert plan(1024, [4, 1, 2], 4) == {"in-process x 1024": (1024, 4, 0),
                                        "in-process x 4096": (4096, 16, 0),
                                        "ray 1 worker": (1024, 4, 1),
                                        "ray 2 workers": (2048, 4, 2),
                                        "ray 4 workers": (4096, 4, 4)}
    assert list(plan(8, [3], 1))[2:] == ["ray 1 worker", "ray 3 workers"]  # ratios over 1
