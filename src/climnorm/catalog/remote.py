"""The catalog's view of `s3://` input roots: every NetCDF object under each prefix, as (url, size, mtime, etag).

Under the public archive's layout (`.../NEX-GDDP-CMIP6/{model}/{scenario}/{variant}/{variable}/`) the listing walks
the folder levels with delimiter listings and enters only the requested variables' (and model's) folders, so a
run over one variable of 35 models lists a quarter of the archive's 1.2 million keys; any other prefix is listed
in full (paginated). Names are then parsed exactly as for local files (`climnorm.catalog.scan`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from climnorm.storage import NEX_LAYOUT
from climnorm.storage.listing import NETCDF_SUFFIXES, ObjectInfo, iter_objects, layout_filter
from climnorm.storage.options import StorageOptions
from climnorm.storage.urls import ObjectPath, S3Url

if TYPE_CHECKING:
    from climnorm.catalog.filenames import FileEntry

log = logging.getLogger(__name__)

NEX_ROOT = "NEX-GDDP-CMIP6"


def nex_levels(url: str) -> tuple[str, ...]:
    """The NEX layout's folder levels below `url` (none when the prefix is not inside that layout)."""
    parts = [p for p in S3Url.parse(url).key.split("/") if p]
    if NEX_ROOT not in parts:
        return ()
    below = len(parts) - 1 - parts.index(NEX_ROOT)
    return NEX_LAYOUT[below:] if below < len(NEX_LAYOUT) else ()


def listed_object(entry: FileEntry) -> ObjectInfo | None:
    """The object a catalog entry stands for, as its listing described it (None for a local file)."""
    if not isinstance(entry.path, ObjectPath):
        return None
    when = dt.datetime.fromtimestamp(entry.mtime, dt.UTC) if entry.mtime else None
    return ObjectInfo(entry.path.url, S3Url.parse(entry.path.url).key, entry.size, entry.etag, when)


def list_inputs(
    urls: Collection[str],
    options: StorageOptions,
    model: str | None = None,
    variables: Collection[str] | None = None,
) -> list[tuple[ObjectPath, int, float, str | None]]:
    """Every .nc/.nc4 object under each prefix: (url, size, last-modified as epoch seconds, etag)."""
    found: list[tuple[ObjectPath, int, float, str | None]] = []
    seen: set[str] = set()
    for url in urls:
        levels = nex_levels(url)
        wanted: dict[str, Collection[str]] = {}
        if model is not None and "model" in levels:
            wanted["model"] = {model}
        if variables is not None and "variable" in levels:
            wanted["variable"] = variables
        descend = layout_filter(levels, wanted) if wanted else None
        n = 0
        for info in iter_objects(url, options, depth=len(levels), descend=descend, suffixes=NETCDF_SUFFIXES):
            if info.url in seen:
                continue
            seen.add(info.url)
            when = info.last_modified.timestamp() if info.last_modified is not None else 0.0
            found.append((ObjectPath(info.url), info.size, when, info.etag))
            n += 1
        layout = f" (NEX layout: {len(levels)} folder levels walked, {sorted(wanted)} pruned)" if levels else ""
        log.info("%s: %d NetCDF objects%s", url, n, layout)
    return found
