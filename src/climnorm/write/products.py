"""One entry point for every product's file: the writer of its layout (day slots or periods)."""

from __future__ import annotations

from pathlib import Path

from climnorm.write.days import write_normal
from climnorm.write.periods import write_period_normal
from climnorm.write.tasks import WriteTask


def write_product(task: WriteTask) -> tuple[int, str]:
    """Write any product's normal (``task.meta.product``): daily and daily_smoothed as day slots (``write_normal``),
    the others by period; returns (size, checksum)."""
    if task.meta.product not in ("daily", "daily_smoothed"):
        return write_period_normal(task)
    t = task
    return write_normal(Path(t.path), t.normal, t.grid, t.meta, t.encoding)
