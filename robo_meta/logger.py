"""Run logging: stdout, ``metrics.csv``, TensorBoard, and a progress bar."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

from tqdm import tqdm

from robo_meta import io


class Logger:
    """Writes one row of scalars per call to ``log``.

    ``metrics.csv`` keeps every column any row has had: a key not seen before adds a column
    (the file is rewritten once, atomically, with the wider header; earlier rows leave it
    blank), so whatever an algorithm logs reaches the file. Rows of a resumed run that lie
    past ``initial_step`` (written after the checkpoint the run resumes from) are dropped from
    the CSV and purged from TensorBoard, so steps stay strictly increasing. Missing values are
    blank in the CSV and skipped in TensorBoard. The progress bar (stderr, only on a terminal
    unless ``progress=True``) shows steps, steps/s and the recent training return.
    """

    def __init__(self, run_dir: Path, total_steps: int, initial_step: int = 0,
                 progress: bool | None = None, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.csv"
        self.columns, rows = ["step"], []
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or ["step"])
                rows = list(reader)
            kept, last = [], -1
            for row in rows:  # a row cut short by a kill has missing (None) fields: dropped
                step = _step(row)
                if step is not None and last < step <= initial_step and None not in row.values():
                    kept.append(row)
                    last = step
            if len(kept) != len(rows):
                self._write_all(kept)
        else:
            self._write_all([])
        self._file = self.path.open("a", newline="")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # events at or after purge_step, from a run killed after its checkpoint, go
            self._tb = SummaryWriter(str(Path(run_dir) / "tb"),
                                     purge_step=initial_step + 1 if initial_step else None)
        disable = None if progress is None else not progress
        self._bar = tqdm(total=total_steps, initial=initial_step, unit="step", unit_scale=True,
                         dynamic_ncols=True, disable=disable, file=sys.stderr)

    def _write_all(self, rows: list[dict]) -> None:
        with io.atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(rows)

    def log(self, row: dict[str, float | None]) -> None:
        step = int(row["step"])
        new = [key for key in row if key not in self.columns]
        if new:
            self._file.close()
            with self.path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            self.columns += new
            self._write_all(rows)
            self._file = self.path.open("a", newline="")
        csv.DictWriter(self._file, fieldnames=self.columns).writerow(
            {k: _fmt(v) for k, v in row.items()})
        self._file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key != "step" and value is not None and math.isfinite(value):
                    self._tb.add_scalar(key, value, step)
        self._bar.n = step
        shown = {"sps": f"{row.get('steps_per_s') or 0:.0f}"}
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


def _step(row: dict) -> int | None:
    try:
        return int(row["step"])
    except (KeyError, TypeError, ValueError):
        return None


def _fmt(value):
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else value
