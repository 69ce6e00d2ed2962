"""Pausing the cyclic garbage collector while a stage builds ~10^5-10^6 small acyclic objects (a catalog's
entries, a plan's outputs): each allocation burst otherwise triggers full collections over everything built so
far, which costs more than the building itself."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (as it was again afterwards; reference counting goes on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
