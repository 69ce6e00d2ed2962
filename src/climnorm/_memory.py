"""The per-task memory limit (`max_memory_per_worker_gb`): refuse what would need more, cap what grows."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

from climnorm.errors import TaskMemoryError


def limit_text(limit: int) -> str:
    return f"more than max_memory_per_worker_gb = {limit / 2**30:.3g} GB allows"


def check_estimate(what: str, need: int, limit: int | None) -> None:
    """Refuse a task before it starts when its estimated need exceeds the limit."""
    if limit is not None and need > limit:
        raise TaskMemoryError(f"{what} needs about {need / 2**30:.2f} GB, {limit_text(limit)}")


@contextlib.contextmanager
def address_space_cap(what: str, limit: int | None) -> Iterator[None]:
    """Let this process grow by at most ``limit`` bytes while the block runs; beyond, the task fails cleanly."""
    if limit is None:
        yield
        return
    previous = resource.getrlimit(resource.RLIMIT_AS)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (_address_space() + limit, previous[1]))
        capped = True
    except (OSError, ValueError):
        capped = False
    try:
        yield
    except MemoryError:
        raise TaskMemoryError(f"{what} ran out of memory, {limit_text(limit)}") from None
    finally:
        if capped:
            resource.setrlimit(resource.RLIMIT_AS, previous)


def _address_space() -> int:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")
