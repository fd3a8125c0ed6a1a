"""The one exception type a user's bad input raises anywhere in robo_meta.

The CLI turns it into a single line on stderr and a non-zero exit; library users catch it
like any ``ValueError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RoboMetaError(ValueError):
    """Bad input from the user: unknown names, out-of-range values, malformed files."""


def one_line(error: BaseException | str, limit: int = 200) -> str:
    """The first line of an error message, cut to ``limit`` characters (for one-line errors)."""
    text = str(error).strip() or type(error).__name__
    line = text.splitlines()[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' suffix listing the close matches of ``name``, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""
