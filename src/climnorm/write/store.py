"""Where a run's outputs land (:class:`OutputStore`): each under its final name all at once, so that nothing
half-written is ever visible there; the manifest records an output only after it has landed. A local directory
(:class:`LocalDirectory`) is the one store today; object storage would be a second (docs/architecture.md).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from climnorm._atomic import atomic_write_bytes


@runtime_checkable
class OutputStore(Protocol):
    """The outputs of one output directory, by their paths relative to it."""

    def writable_path(self, rel: str) -> Path | None:
        """Where a writer on a machine that sees this store may write ``rel`` in place (under a temporary name,
        then renamed: `climnorm._atomic`); None when outputs can only be landed as bytes (:meth:`put`)."""
        ...

    def put(self, rel: str, data: bytes) -> None:
        """Land an output's bytes under ``rel``: a temporary name, flushed to disk, then renamed."""
        ...

    def size(self, rel: str) -> int | None:
        """The size of the output at ``rel``, or None when there is none."""
        ...

    def remove(self, rel: str) -> None:
        """Remove the output at ``rel`` (nothing if there is none)."""
        ...

    def free_bytes(self) -> int | None:
        """Room left for outputs, when the store can say (a nearly full disk stops a run)."""
        ...


@dataclass(frozen=True)
class LocalDirectory:
    """Outputs as files under ``root`` on a filesystem this machine (and the engine's workers, when they share
    it) can write."""

    root: Path

    def writable_path(self, rel: str) -> Path | None:
        return self.root / rel

    def put(self, rel: str, data: bytes) -> None:
        atomic_write_bytes(self.root / rel, data)

    def size(self, rel: str) -> int | None:
        try:
            return (self.root / rel).stat().st_size
        except OSError:
            return None

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)

    def free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return None
