"""Where a run's outputs land (:class:`OutputStore`): each under its final name all at once, so that nothing
half-written is ever visible there; the manifest records an output only after it has landed. A local directory
(:class:`LocalDirectory`) or a bucket's prefix (`climnorm.write.bucket.ObjectDirectory`): :func:`output_store`
(docs/architecture.md).
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from climnorm._atomic import atomic_write_bytes
from climnorm.plan.resume import LocalFolders
from climnorm.records import in_store
from climnorm.storage.options import StorageOptions
from climnorm.write.orders import ZarrTarget


@runtime_checkable
class OutputStore(Protocol):
    """The outputs of one output directory, by their paths relative to it."""

    remote: bool  # a bucket, which every engine's workers reach (they put their outputs there themselves)

    @property
    def storage(self) -> StorageOptions | None:
        """How to reach the outputs (a bucket's options; None on local disk): what readers of them are given."""
        ...

    def location(self, rel: str) -> str:
        """Where the output at ``rel`` is, as its readers are given it: a local path or an ``s3://`` URL."""
        ...

    def writable_path(self, rel: str) -> Path | None:
        """Where a writer on a machine that sees this store may write ``rel`` in place (under a temporary name,
        then renamed: `climnorm._atomic`); None when outputs can only be landed as bytes (:meth:`put`)."""
        ...

    def put(self, rel: str, data: bytes | Path) -> None:
        """Land an output's bytes (or its file's) under ``rel``, all at once."""
        ...

    def get(self, rel: str) -> bytes | None:
        """The bytes of the file at ``rel`` (None: there is none)."""
        ...

    def put_target(self, target: ZarrTarget, data: bytes) -> int:
        """Land a target's file (its bytes) in its chain's store (the ``zarr`` layout); returns its chunks' bytes."""
        ...

    def names(self, folder: str) -> frozenset[str]:
        """The names in the folder ``folder`` (relative; "" the top): files and sub-folders (stores); what the plan
        finds present (`climnorm.plan.resume.Present`)."""
        ...

    def remove(self, rel: str) -> None:
        """Remove the output at ``rel`` (nothing if there is none)."""
        ...

    def free_bytes(self) -> int | None:
        """Room left for outputs, when the store can say (a nearly full disk stops a run)."""
        ...


@dataclass(frozen=True)
class LocalDirectory(LocalFolders):
    """Outputs as files under ``root`` on a filesystem this machine (and the engine's workers, when they share
    it) can write (what is there, as the plan lists it: `LocalFolders`)."""

    remote = False

    @property
    def storage(self) -> StorageOptions | None:
        return None

    def location(self, rel: str) -> str:
        return str(self.root / rel)

    def writable_path(self, rel: str) -> Path | None:
        return self.root / rel

    def put(self, rel: str, data: bytes | Path) -> None:
        atomic_write_bytes(self.root / rel, data if isinstance(data, bytes) else data.read_bytes())

    def get(self, rel: str) -> bytes | None:
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None

    def put_target(self, target: ZarrTarget, data: bytes) -> int:
        from climnorm.write.zarr_chain import land_bytes

        return land_bytes(data, target)

    def remove(self, rel: str) -> None:
        if in_store(rel):
            from climnorm.write.readback import remove_output

            remove_output(self.root / rel)
        else:
            (self.root / rel).unlink(missing_ok=True)

    def free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return None


def output_store(root: Path | str, storage: StorageOptions | None) -> OutputStore:
    """The store of an output directory: a local one, or an ``s3://`` prefix reached with ``storage``."""
    if isinstance(root, Path):
        return LocalDirectory(root)
    from climnorm.write.bucket import ObjectDirectory

    return ObjectDirectory(root.rstrip("/"), storage or StorageOptions.from_config())


def consolidate(store: Path | str, storage: StorageOptions | None) -> None:
    """Consolidate a Zarr store's metadata (the ``zarr`` layout: after its targets' yearly values' groups are
    added; ``storage`` reaches a store in a bucket). Needs only the ``zarr`` package: the run's own process calls
    it."""
    import zarr

    from climnorm.write.readback import zarr_store

    with warnings.catch_warnings():
        # consolidated metadata is a zarr-python extension of the v3 specification; readers without it still read
        # the store (it is only an index of the arrays' metadata)
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(zarr_store(store, storage))
