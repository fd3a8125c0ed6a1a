"""``robo-meta families``: the table shows every split's size, ``-v`` each family's termination."""

from __future__ import annotations

import argparse
import re

from robo_meta import pretrained
from robo_meta.cli import families


def _rows(capsys, verbose=False) -> str:
    assert families.run(argparse.Namespace(verbose=verbose)) == 0
    return capsys.readouterr().out


def _table(capsys) -> dict[str, dict[str, str]]:
    """{family: {column: cell}}: columns are separated by two spaces or more."""
    lines = _rows(capsys).split("\n\n")[0].splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    return {cells[0]: dict(zip(header, cells, strict=True))
            for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[2:])}


def test_table_has_val_test_and_ood_counts(capsys):
    rows = _table(capsys)
    counts = {name: [row[c] for c in ("val", "test", "ood")] for name, row in rows.items()}
    assert counts["hopper-params"] == ["20", "50", "50"]
    assert counts["cheetah-dir"] == ["2", "2", "-"]
    assert counts["ant-crippled"] == ["9", "12", "4"]


def test_table_shows_the_measured_gap_of_the_shipped_policies(capsys):
    gaps = {name: row["oracle - dr (test)"] for name, row in _table(capsys).items()}
    gap = pretrained.measured_gap("hopper-params")
    assert gaps["hopper-params"] == f"{gap['mean']:+.1f} ± {gap['ci95']:.1f} (valid)"
    assert gap["significant"] and gap["tasks"] == 50
    assert gaps["cheetah-vel-h100"] == "not measured"  # no shipped dr and oracle
    crippled = pretrained.measured_gap("ant-crippled")
    assert not crippled["significant"]
    assert gaps["ant-crippled"] == (f"{crippled['mean']:+.1f} ± {crippled['ci95']:.1f} "
                                    "(not significant)")


def test_verbose_says_which_families_terminate(capsys):
    text = _rows(capsys, verbose=True)
    blocks = {block.split(":")[0]: block for block in text.split("\n\n")[1:]}
    assert "never terminates early" in blocks["ant-goal"]
    assert "ends when unhealthy" in blocks["hopper-params"]
