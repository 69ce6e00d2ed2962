"""Outputs in a bucket (``output_dir: s3://bucket/prefix``, docs/storage.md): :class:`ObjectDirectory`, the
output store whose outputs are objects. Each output is one PUT (a multipart upload for a large one), which S3
makes visible under its key only once complete, so no half-written output is ever seen there; a target of the
``zarr`` layout is its chunks' objects, its ``target_attributes`` chunk last (`climnorm.write.zarr_chain`).

It is a frozen value: the engine's workers (a process pool, a Dask cluster in the archive's region) receive it
with their tasks and put their outputs straight into the bucket; only records come back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from climnorm.errors import OutputError
from climnorm.records import in_store
from climnorm.storage.client import store_for
from climnorm.storage.errors import StorageError
from climnorm.storage.options import StorageOptions
from climnorm.storage.retry import RequestFailed, with_retries
from climnorm.storage.urls import S3Url
from climnorm.write.orders import ZarrTarget

T = TypeVar("T")


@dataclass(frozen=True)
class ObjectDirectory:
    """Outputs as objects under the ``s3://`` prefix ``url``, reached with ``options``."""

    url: str
    options: StorageOptions
    remote = True

    @property
    def storage(self) -> StorageOptions | None:
        return self.options

    @property
    def where(self) -> S3Url:
        return S3Url.parse(self.url)

    @classmethod
    def of_object(cls, url: str, options: StorageOptions) -> tuple[ObjectDirectory, str]:
        """The bucket of the object at ``url``, and its key."""
        where = S3Url.parse(url)
        return cls(f"s3://{where.bucket}", options), where.key

    def key(self, rel: str) -> str:
        """The object key of the output at ``rel``."""
        return f"{self.where.folder}{rel}"

    def location(self, rel: str) -> str:
        """The URL of the output at ``rel`` (what its readers and a target's store are given)."""
        return f"s3://{self.where.bucket}/{self.key(rel)}"

    def _call(self, op: Callable[[Any], T], rel: str, what: str) -> T:
        """``op(client)``, retried as the options say; a failure for good is an OSError naming the object
        (FileNotFoundError: there is no such object)."""
        store = store_for(self.options, self.where.bucket)
        url = self.location(rel)
        try:
            return with_retries(lambda: op(store), url, self.options.retry, self.options.secrets())
        except RequestFailed as err:
            kind = FileNotFoundError if err.failure.kind == "missing" else OSError
            raise kind(f"{url}: cannot {what}: {err.problem()}") from None

    def writable_path(self, rel: str) -> Path | None:
        return None

    def put(self, rel: str, data: bytes | Path) -> None:
        """Put an output (its bytes, or its file: uploaded in parts when large) under its final key."""
        import obstore

        self._call(lambda s: obstore.put(s, self.key(rel), data), rel, "put it")

    def put_target(self, target: ZarrTarget, data: bytes) -> int:
        from climnorm.write.zarr_chain import land_bytes

        return land_bytes(data, target)

    def get(self, rel: str) -> bytes | None:
        """An object's bytes (None: there is none)."""
        import obstore

        try:
            return bytes(self._call(lambda s: obstore.get(s, self.key(rel)).bytes(), rel, "read it"))
        except FileNotFoundError:
            return None

    def download(self, rel: str, to: IO[bytes]) -> None:
        """An object's bytes streamed into a local file (retried whole); FileNotFoundError when there is none."""
        import obstore

        def fetch(store: Any) -> None:
            to.seek(0)
            to.truncate()
            for chunk in obstore.get(store, self.key(rel)):
                to.write(chunk)
            to.flush()

        self._call(fetch, rel, "read it")

    def head(self, rel: str) -> dict[str, Any] | None:
        """An object's metadata (size, ETag, last modified), or None when there is none."""
        import obstore

        try:
            return dict(self._call(lambda s: obstore.head(s, self.key(rel)), rel, "find it"))
        except FileNotFoundError:
            return None

    def remove(self, rel: str) -> None:
        import obstore

        if in_store(rel):
            from climnorm.write.readback import remove_output

            remove_output(self.location(rel), self.options)
            return
        self._call(lambda s: obstore.delete(s, self.key(rel)), rel, "remove it")

    def free_bytes(self) -> int | None:
        return None  # a bucket does not fill up

    def names(self, folder: str) -> frozenset[str]:
        """The names in a folder: its objects' and its sub-folders' (a chain's store is a folder)."""
        from climnorm.storage.listing import list_names

        prefix = f"{self.where.folder}{folder}/" if folder else self.where.folder
        try:
            return list_names(self.where.bucket, prefix, self.options)  # (a prefix with nothing: none)
        except StorageError as err:  # denied, unreachable: never taken for "nothing there"
            raise OutputError(str(err)) from None
