"""Run logging: stdout, ``metrics.csv``, TensorBoard, and a progress bar."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

from tqdm import tqdm


class Logger:
    """Writes one row of scalars per call to ``log``; ``columns`` fixes the CSV header.

    Missing values are left blank in the CSV and skipped in TensorBoard. The progress bar
    (stderr, only on a terminal unless ``progress=True``) shows steps, steps/s and the recent
    training return.
    """

    def __init__(self, run_dir: Path, columns: list[str], total_steps: int, initial_step: int = 0,
                 progress: bool | None = None, tensorboard: bool = True):
        self.columns = ["step", *[c for c in columns if c != "step"]]
        path = run_dir / "metrics.csv"
        fresh = not path.exists() or path.stat().st_size == 0
        self._file = path.open("a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore")
        if fresh:
            self._csv.writeheader()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"))
        disable = None if progress is None else not progress
        self._bar = tqdm(total=total_steps, initial=initial_step, unit="step", unit_scale=True,
                         dynamic_ncols=True, disable=disable, file=sys.stderr)

    def log(self, row: dict[str, float]) -> None:
        step = int(row["step"])
        self._csv.writerow({k: _fmt(v) for k, v in row.items()})
        self._file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key != "step" and value is not None and math.isfinite(value):
                    self._tb.add_scalar(key, value, step)
        self._bar.n = step
        shown = {"sps": f"{row.get('steps_per_s', 0):.0f}"}
        if row.get("train/return") is not None:
            shown["return"] = f"{row['train/return']:.1f}"
        self._bar.set_postfix(shown, refresh=True)

    def message(self, text: str) -> None:
        """A line on stdout that does not break the progress bar."""
        self._bar.write(text, file=sys.stdout)

    def close(self) -> None:
        self._bar.close()
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _fmt(value):
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else value
