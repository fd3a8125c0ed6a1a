"""robo_meta.io: atomic writes and one-line errors for unreadable JSON."""

from __future__ import annotations

import pytest

from robo_meta import io
from robo_meta.envs import RoboMetaError


@pytest.mark.parametrize("content, message", [
    ("[" * 100_000, "is nested too deeply to be read"),
    ('{"a": ', "is not valid JSON"),
    (b"\xff\xfe[]", "is not valid JSON"),
])
def test_unreadable_json_is_one_error_line(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RoboMetaError, match=message) as info:
        io.read_json(path, "tasks file")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_missing_file_is_one_error_line(tmp_path):
    with pytest.raises(RoboMetaError, match=r"cannot read config .*missing.json"):
        io.read_json(tmp_path / "missing.json", "config")


def test_write_json_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    io.write_json(path, {"b": 1, "a": [1, 2]})
    io.write_json(path, {"c": 3})
    assert path.read_text() == '{\n  "c": 3\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
