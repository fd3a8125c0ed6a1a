"""Atomic file writes: a reader sees the old content or the new, never half a file.

Everything robo_meta writes for a user (checkpoints, reports, figures, videos) goes through
``atomic_path``: the writer fills a temporary sibling, which replaces the target only once
complete. A writer killed midway leaves the previous file intact (plus, at worst, a stray
``.tmp-*`` sibling).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_json(path: str | Path, what: str) -> Any:
    """Parse JSON file ``path``; an unreadable or invalid file is a one-line RoboMetaError."""
    from robo_meta.envs.errors import RoboMetaError

    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise RoboMetaError(f"cannot read {what} {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RoboMetaError(f"{what} {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise RoboMetaError(f"{what} {path} is nested too deeply to be read") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
