"""metrics.csv keeps every column any row has had, and a resume cuts what came after."""

from __future__ import annotations

import csv

from robo_meta.logger import Logger


def _rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_a_new_key_adds_a_column_and_earlier_rows_stay_readable(tmp_path):
    logger = Logger(tmp_path, total_steps=3, progress=False, tensorboard=False)
    logger.log({"step": 1, "loss/policy": 0.5})
    logger.log({"step": 2, "loss/policy": 0.25, "loss/new": 7.0})
    logger.log({"step": 3, "loss/new": 8.0, "eval/return_ep1": None})
    logger.close()
    header, rows = _rows(tmp_path / "metrics.csv")
    assert header == ["step", "loss/policy", "loss/new", "eval/return_ep1"]
    assert [list(r.values()) for r in rows] == [["1", "0.5", "", ""], ["2", "0.25", "7", ""],
                                                 ["3", "", "8", ""]]


def test_reopening_at_a_step_drops_the_rows_after_it(tmp_path):
    logger = Logger(tmp_path, total_steps=4, progress=False, tensorboard=False)
    for step in (1, 2, 3, 4):
        logger.log({"step": step, "x": float(step)})
    logger.close()
    resumed = Logger(tmp_path, total_steps=4, initial_step=2, progress=False, tensorboard=False)
    resumed.log({"step": 3, "x": 30.0, "y": 1.0})
    resumed.close()
    header, rows = _rows(tmp_path / "metrics.csv")
    assert header == ["step", "x", "y"]
    assert [(r["step"], r["x"], r["y"]) for r in rows] == [("1", "1", ""), ("2", "2", ""),
                                                           ("3", "30", "1")]
