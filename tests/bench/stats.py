"""Shared statistics and table printing for the benchmarks."""

from __future__ import annotations

import numpy as np


def summarize(samples_s: list[float] | np.ndarray, scale: float = 1e3) -> dict[str, float]:
    """Median, p99, max and mean of ``samples_s`` [s], scaled (default: to milliseconds)."""
    x = np.asarray(samples_s, dtype=float) * scale
    return {
        "median": float(np.median(x)),
        "p99": float(np.percentile(x, 99)),
        "max": float(np.max(x)),
        "mean": float(np.mean(x)),
        "n": int(x.size),
    }


def print_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    """Print a table with rich (a core dependency); units in brackets are kept, logs get 160 columns."""
    from rich.markup import escape

    from teleop.cli import table, table_console

    t = table(title, header)
    for r in rows:
        t.add_row(*[escape(str(c)) for c in r])
    table_console(width=160).print(t)
