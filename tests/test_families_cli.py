"""``robo-meta families``: the table shows every split's size, ``-v`` each family's termination."""

from __future__ import annotations

import argparse

from robo_meta.cli import families


def _rows(capsys, verbose=False) -> str:
    assert families.run(argparse.Namespace(verbose=verbose)) == 0
    return capsys.readouterr().out


def test_table_has_val_test_and_ood_counts(capsys):
    lines = _rows(capsys).splitlines()
    assert lines[0].split()[-3:] == ["val", "test", "ood"]
    rows = {line.split()[0]: line.split()[-3:] for line in lines[2:]}
    assert rows["hopper-params"] == ["20", "50", "50"]
    assert rows["cheetah-dir"] == ["2", "2", "-"]
    assert rows["ant-crippled"] == ["9", "12", "4"]


def test_verbose_says_which_families_terminate(capsys):
    text = _rows(capsys, verbose=True)
    blocks = {block.split(":")[0]: block for block in text.split("\n\n")[1:]}
    assert "never terminates early" in blocks["ant-goal"]
    assert "ends when unhealthy" in blocks["hopper-params"]
