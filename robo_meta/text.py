"""Plain-text tables for the terminal (no heavy imports: ``robo-meta families`` uses it)."""

from __future__ import annotations


def table(rows: list[list[str]], header: list[str], left: int | None = None) -> str:
    """Aligned columns: the first ``left`` left-aligned (None: all), the others right-aligned."""
    left = len(header) if left is None else left
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [str(c).ljust(w) if i < left else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths),
                      *(line(r) for r in rows)])
