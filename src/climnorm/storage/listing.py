"""Listing objects under an `s3://bucket/prefix` (paginated), optionally walking and pruning known folder levels.

A prefix is a folder: `s3://b/data` lists `data/...`, never `data2/...`. With `depth=n` the first n folder levels
below the prefix are discovered with delimiter listings, and `descend(parts)` decides which folders to enter (parts
are the folder names from the prefix down, e.g. `("ACCESS-CM2", "ssp245")`); only the folders kept at level n are
then listed in full. Each level's listings, and the final ones, run concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from climnorm.storage.client import pool_for, store_for
from climnorm.storage.errors import StorageError
from climnorm.storage.options import StorageOptions
from climnorm.storage.retry import RequestFailed, with_retries
from climnorm.storage.urls import S3Url

if TYPE_CHECKING:
    from obstore import ObjectMeta

log = logging.getLogger(__name__)

Descend = Callable[[tuple[str, ...]], bool]
NETCDF_SUFFIXES = (".nc", ".nc4")


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object; `etag` without quotes, `last_modified` in UTC to the whole second (as HEAD gives it)."""

    url: str
    key: str
    size: int
    etag: str | None
    last_modified: datetime | None

    @property
    def name(self) -> str:
        """The last part of the key (the file name)."""
        return self.key.rsplit("/", 1)[-1]


def normalize_etag(etag: str | None) -> str | None:
    """An etag without its surrounding quotes (S3 sends them quoted; listings and HEAD agree once unquoted)."""
    return etag.strip('"') if etag else None


def normalize_time(when: datetime | None) -> datetime | None:
    """A timestamp to the whole second (listings give milliseconds, HEAD whole seconds)."""
    return when.replace(microsecond=0) if when is not None else None


def object_info(bucket: str, meta: Mapping[str, Any]) -> ObjectInfo:
    """An `ObjectInfo` from obstore's object metadata."""
    key = str(meta["path"])
    return ObjectInfo(
        url=f"s3://{bucket}/{key}",
        key=key,
        size=int(meta["size"]),
        etag=normalize_etag(meta.get("e_tag")),
        last_modified=normalize_time(meta.get("last_modified")),
    )


def layout_filter(levels: Sequence[str], wanted: Mapping[str, Collection[str]]) -> Descend:
    """A `descend` hook for a known folder layout: at level `levels[i]`, enter only the folders in `wanted[level]`.

    Example: `layout_filter(("model", "scenario", "variant", "var"), {"scenario": {"ssp245"}, "var": {"tas"}})`.
    Levels absent from `wanted` are entered whatever their name.
    """
    unknown = set(wanted) - set(levels)
    if unknown:
        raise ValueError(f"levels {sorted(unknown)} are not in the layout {list(levels)}")

    def descend(parts: tuple[str, ...]) -> bool:
        level = levels[len(parts) - 1] if len(parts) <= len(levels) else None
        return level is None or level not in wanted or parts[-1] in wanted[level]

    return descend


class _Lister:
    """One listing job: the bucket's client, the options, and the URL named in errors."""

    def __init__(self, url: str, options: StorageOptions) -> None:
        self.url = url
        self.where = S3Url.parse(url)
        self.options = options
        self.store = store_for(options, self.where.bucket)

    def _call(self, op: Callable[[], Any], prefix: str) -> Any:
        try:
            return with_retries(op, f"list {self.where.child(prefix)}", self.options.retry, self.options.secrets())
        except RequestFailed as exc:
            missing = (
                f"bucket {self.where.bucket!r} not found"
                if exc.failure.code == "NoSuchBucket"
                else "bucket or prefix not found"
            )
            raise StorageError(self.url, f"cannot list: {exc.problem(missing)}") from None

    def folders(self, prefix: str) -> tuple[list[str], list[ObjectInfo]]:
        """One delimiter listing: the sub-folders (full prefixes ending in '/') and the objects directly in it."""
        import obstore

        result = self._call(lambda: obstore.list_with_delimiter(self.store, prefix=prefix or None), prefix)
        subs = [p if p.endswith("/") else f"{p}/" for p in result["common_prefixes"]]
        return subs, [object_info(self.where.bucket, m) for m in result["objects"]]

    def everything(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix`, all pages (a transient failure restarts this prefix's listing)."""
        import obstore

        def run() -> list[ObjectMeta]:
            return [m for batch in obstore.list(self.store, prefix=prefix or None, chunk_size=1000) for m in batch]

        return [object_info(self.where.bucket, m) for m in self._call(run, prefix)]


def iter_objects(
    url: str,
    options: StorageOptions,
    *,
    depth: int = 0,
    descend: Descend | None = None,
    suffixes: Collection[str] | None = None,
) -> Iterator[ObjectInfo]:
    """Every object under the folder `url` (sorted by key), walking `depth` levels with `descend` first."""
    lister = _Lister(url, options)
    pool = pool_for(options)
    root = lister.where.folder
    frontier: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    loose: list[ObjectInfo] = []
    for _ in range(depth):
        step: list[tuple[str, tuple[str, ...]]] = []
        for (_prefix, parts), (subs, objects) in zip(
            frontier, pool.map(lister.folders, [p for p, _ in frontier]), strict=True
        ):
            loose.extend(objects)
            for sub in subs:
                child = (*parts, sub[len(_prefix) :].rstrip("/"))
                if descend is None or descend(child):
                    step.append((sub, child))
        log.debug("%s: %d folders kept at level %d", url, len(step), len(frontier[0][1]) + 1 if frontier else 0)
        frontier = step
    found = loose + [info for batch in pool.map(lister.everything, [p for p, _ in frontier]) for info in batch]
    wanted = tuple(s.lower() for s in suffixes) if suffixes else None
    for info in sorted(found, key=lambda i: i.key):
        if wanted is None or info.key.lower().endswith(wanted):
            yield info


def list_objects(
    url: str,
    options: StorageOptions,
    *,
    depth: int = 0,
    descend: Descend | None = None,
    suffixes: Collection[str] | None = None,
) -> list[ObjectInfo]:
    """`iter_objects` as a list."""
    return list(iter_objects(url, options, depth=depth, descend=descend, suffixes=suffixes))


def list_names(bucket: str, prefix: str, options: StorageOptions) -> frozenset[str]:
    """The names directly under the folder ``prefix`` of ``bucket`` (ending in '/' or empty): its objects' and
    its sub-folders', from one delimiter listing."""
    lister = _Lister(str(S3Url(bucket, prefix)), options)
    subs, objects = lister.folders(prefix)
    return frozenset([s[len(prefix) :].rstrip("/") for s in subs] + [o.key[len(prefix) :] for o in objects])


def list_folders(url: str, options: StorageOptions) -> list[str]:
    """The names of the folders directly under `url` (one delimiter listing), sorted."""
    lister = _Lister(url, options)
    root = lister.where.folder
    subs, _ = lister.folders(root)
    return sorted(s[len(root) :].rstrip("/") for s in subs)
