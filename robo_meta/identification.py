"""How well a policy's own estimate of the task tracks the true task, step by step.

Two policies carry such an estimate. rma's student infers ẑ from its state-action history
and is scored against z = μ(task features), the teacher's encoding. An rl2 policy trained
with ``--task-inference-coef`` has a head that guesses the normalized task features from its
memory; its guess is scored against those features. For any rl2 policy, ``robo_meta.probe``
fits a linear probe to its memory and is scored the same way. None of these estimates is an
input the evaluator needs: they are read beside the actions, on held-out tasks, to tell *when*
in a trial the policy knows the task (and, for rl2, whether episode 2 starts knowing what
episode 1 found).

``TrialIdentification`` collects, per episode of the trial and per step within the episode,
the sums from which R² and the RMS error follow exactly; ``describe`` prints the table that
``robo-meta evaluate`` shows. The report's ``"identification"`` holds ``estimate`` and
``target`` (what was compared) and ``by_episode``: one summary per episode (see
``IdentificationTracker.summary``).
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import torch


class IdentificationTracker:
    """Sums, per step k within the episode and per dimension, over every (trial, episode) that
    reached step k: the count, Σz, Σz² and Σ(ẑ - z)², from which R² (pooled over the
    dimensions, and per dimension) and the RMS error follow exactly."""

    def __init__(self):
        self.count = np.zeros(0)
        self.sum_z: np.ndarray | None = None  # (steps, dims), as sum_z2 and sum_err
        self.sum_z2: np.ndarray | None = None
        self.sum_err: np.ndarray | None = None

    def add(self, steps: np.ndarray, z_hat: torch.Tensor, z: torch.Tensor) -> None:
        if len(steps) == 0:
            return
        z_hat, z = z_hat.double().cpu().numpy(), z.double().cpu().numpy()
        if self.sum_z is None:
            self.sum_z, self.sum_z2, self.sum_err = (np.zeros((0, z.shape[1])) for _ in range(3))
        grow = int(steps.max()) + 1 - len(self.count)
        if grow > 0:
            self.count = np.pad(self.count, (0, grow))
            self.sum_z, self.sum_z2, self.sum_err = (np.pad(a, ((0, grow), (0, 0))) for a in
                                                     (self.sum_z, self.sum_z2, self.sum_err))
        np.add.at(self.count, steps, 1.0)
        np.add.at(self.sum_z, steps, z)
        np.add.at(self.sum_z2, steps, z**2)
        np.add.at(self.sum_err, steps, (z_hat - z) ** 2)

    def summary(self) -> dict[str, Any] | None:
        """{"step": 1-based steps, "r2", "r2_by_dim" (a list per step), "rms_error" (per
        dimension), "z_std", "episodes": count}; an R² is None where fewer than two episodes
        reached the step or the target did not vary."""
        if self.sum_z is None:
            return None
        n = np.maximum(self.count, 1.0)[:, None]
        spread = self.sum_z2 - self.sum_z**2 / n  # (steps, dims)
        dims = self.sum_z.shape[1]

        def r2(count, spread, err):
            return None if count < 2 or spread <= 1e-12 else float(1.0 - err / spread)

        return {"step": list(range(1, len(self.count) + 1)),
                "r2": [r2(c, s, e) for c, s, e in
                       zip(self.count, spread.sum(1), self.sum_err.sum(1), strict=True)],
                "r2_by_dim": [[r2(c, s, e) for s, e in zip(srow, erow, strict=True)]
                              for c, srow, erow in
                              zip(self.count, spread, self.sum_err, strict=True)],
                "rms_error": np.sqrt(self.sum_err.sum(1) / n[:, 0] / dims).tolist(),
                "z_std": np.sqrt(np.maximum(spread.sum(1), 0.0) / n[:, 0] / dims).tolist(),
                "episodes": self.count.astype(int).tolist()}


class EpisodeClock:
    """Where each row of a batch of trials is: its episode of the trial and its step within
    that episode (both from 0). ``tick`` after every step, ``ended`` for the rows whose
    episode just ended, ``start`` for new trials in every row."""

    def __init__(self, num_envs: int = 0):
        self.start(num_envs)

    def start(self, num_envs: int) -> None:
        self.episode = np.zeros(num_envs, dtype=np.int64)
        self.step = np.zeros(num_envs, dtype=np.int64)

    def tick(self) -> None:
        self.step += 1

    def ended(self, rows: np.ndarray) -> None:
        self.episode[rows] += 1
        self.step[rows] = 0


class TrialIdentification:
    """One tracker per episode of a trial, and per-row episode and step counters.

    ``start(n)`` begins ``n`` new trials (the counters restart; what was recorded stays, so
    the evaluator's chunks of trials add up); ``add`` records every row's estimate at its
    current (episode, step); ``ended`` moves the rows whose episode just ended to the next
    one. Only the first ``episodes`` episodes are recorded (None: all): the evaluator steps a
    row on after its trial's K episodes. ``pop`` returns the summary and starts afresh.
    """

    def __init__(self, estimate: str, target: str, episodes: int | None = None,
                 dims: list[str] | None = None):
        self.estimate, self.target, self.episodes, self.dims = estimate, target, episodes, dims
        self.trackers: list[IdentificationTracker] = []
        self.clock = EpisodeClock()
        self.start, self.ended = self.clock.start, self.clock.ended

    def add(self, z_hat: torch.Tensor, z: torch.Tensor) -> None:
        episode, step = self.clock.episode, self.clock.step
        recorded = int(episode.max()) + 1
        if self.episodes is not None:
            recorded = min(recorded, self.episodes)
        while len(self.trackers) < recorded:
            self.trackers.append(IdentificationTracker())
        for k in range(recorded):
            rows = np.flatnonzero(episode == k)
            if len(rows):
                index = torch.as_tensor(rows, device=z_hat.device)
                self.trackers[k].add(step[rows], z_hat[index], z[index])
        self.clock.tick()

    def pop(self, episodes: int | None = None) -> dict[str, Any] | None:
        """{"estimate", "target", "dims" (the dimensions' names, if given), "by_episode":
        [summary of episode 1, ...]} over the first ``episodes`` episodes (all recorded if
        None), or None if nothing was recorded; the record then starts afresh."""
        by_episode = [t.summary() for t in self.trackers[:episodes]]
        self.trackers = []
        by_episode = [s for s in by_episode if s is not None]
        if not by_episode:
            return None
        named = {} if self.dims is None else {"dims": self.dims}
        return {"estimate": self.estimate, "target": self.target, **named,
                "by_episode": by_episode}


def describe(identification: dict[str, Any],
             steps: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)) -> str:
    """R² (and the RMS error) of the estimate against the target at some steps within each
    episode: one column pair per episode, '-' where no trial reached the step. With the
    dimensions' names (``dims``), also R² per dimension at the last of those steps that
    every trial's episode 1 reached (later steps hold only the trials still running)."""
    by_episode = identification["by_episode"]
    longest = max(len(s["step"]) for s in by_episode)
    header = "   step" + "".join(f"  {'ep' + str(k + 1) + ' R²':>9}  {'rms':>7}"
                                 for k in range(len(by_episode)))
    rows = []
    for step in (s for s in steps if s <= longest):
        cells = []
        for s in by_episode:
            i = step - 1
            r2 = s["r2"][i] if i < len(s["r2"]) else None
            err = f"{s['rms_error'][i]:7.4f}" if i < len(s["rms_error"]) else f"{'-':>7}"
            cells.append(f"  {format_r2(r2, '.3f'):>9}  {err}")
        rows.append(f"{step:>7}" + "".join(cells))
    text = (f"identification: how well {identification['estimate']} tracks "
            f"{identification['target']}, by step in the episode\n{header}\n" + "\n".join(rows))
    first = by_episode[0]
    if identification.get("dims") and "r2_by_dim" in first:
        step = max(s for s in (*steps, 1) if s <= last_step_all_reached(first))
        named = ", ".join(f"{name} {format_r2(r2)}" for name, r2 in
                          zip(identification["dims"], first["r2_by_dim"][step - 1], strict=True))
        text += "\n" + textwrap.fill(f"R² by feature at step {step} of episode 1: {named}",
                                     width=100, subsequent_indent="  ")
    return text


def last_step_all_reached(summary: dict[str, Any]) -> int:
    """The last step of an episode's summary that every trial reached (the count of trials
    at a step can only fall as the steps go on: later steps hold the trials still running)."""
    everyone = summary["episodes"][0]
    return max(s for s, n in zip(summary["step"], summary["episodes"], strict=True)
               if n == everyone)


def milestones(identification: dict[str, Any]) -> dict[str, Any]:
    """R² at a few telling steps: 10 and 50 of episode 1, the last step every trial's
    episode 1 reached (``last_step``, ``last``), and the first step of episode 2. None where
    no trial reached the step, fewer than two did, the target did not vary there, or (episode
    2) only one episode was recorded."""
    by_episode = identification["by_episode"]
    first = by_episode[0]

    def at(summary: dict[str, Any], step: int) -> float | None:
        return summary["r2"][step - 1] if step <= len(summary["r2"]) else None

    last_step = last_step_all_reached(first)
    return {"step_10": at(first, 10), "step_50": at(first, 50), "last_step": last_step,
            "last": at(first, last_step),
            "episode_2": at(by_episode[1], 1) if len(by_episode) > 1 else None}


def format_r2(value: float | None, spec: str = ".2f") -> str:
    """An R² for a table, '-' where there is none."""
    return "-" if value is None else format(value, spec)
