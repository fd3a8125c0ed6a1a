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
    # cheetah-dir's two tasks are its whole distribution: the interval is over seeds
    direction = pretrained.measured_gap("cheetah-dir")
    assert direction["significant"] and direction["tasks"] == 2 and direction["ci95"] < 100
    assert gaps["cheetah-dir"] == f"{direction['mean']:+.1f} ± {direction['ci95']:.1f} (valid)"


def test_a_gap_inside_the_noise_is_not_significant(tmp_path):
    """An oracle whose trials are dr's plus noise of either sign: no validity."""
    import json
    import shutil

    for algo in ("dr", "oracle"):
        shutil.copytree(pretrained.PRETRAINED_DIR / f"hopper-params-{algo}",
                        tmp_path / f"hopper-params-{algo}")
    path = tmp_path / "hopper-params-oracle" / "report-test.json"
    dr = json.loads((tmp_path / "hopper-params-dr" / "report-test.json").read_text())
    oracle = json.loads(path.read_text())
    for i, (mine, theirs) in enumerate(zip(oracle["tasks"], dr["tasks"], strict=True)):
        sign = 1.0 if i % 2 else -1.0  # alternate: differences +-5, mean 0
        mine["returns"] = [[r + sign * 5.0 for r in row] for row in theirs["returns"]]
    path.write_text(json.dumps(oracle))
    gap = pretrained.measured_gap("hopper-params", root=tmp_path)
    assert gap["mean"] == 0.0 or abs(gap["mean"]) < gap["ci95"]
    assert not gap["significant"] and gap["verdict"] == "not significant"


def test_verbose_says_which_families_terminate(capsys):
    text = _rows(capsys, verbose=True)
    blocks = {block.split(":")[0]: block for block in text.split("\n\n")[1:]}
    assert "never terminates early" in blocks["ant-goal"]
    assert "ends when unhealthy" in blocks["hopper-params"]
