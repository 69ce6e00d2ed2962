"""What a read task carries to a worker: one file (or object) to read, with everything needed to extract it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from climnorm.types import Region, T_LeapDay, T_LonConvention

if TYPE_CHECKING:
    from climnorm.storage.listing import ObjectInfo
    from climnorm.storage.options import StorageOptions


@dataclass(frozen=True)
class ReadTask:
    """One file to read, with everything needed to extract it."""

    path: str
    variable: str
    regions: tuple[Region, ...]
    leap_day: T_LeapDay
    years: tuple[int, ...]
    lon_convention: T_LonConvention = "input"
    mask_impossible: bool = False
    fast_read: bool = True  # read qualifying variables through climnorm.read.fastread (bit-identical, faster)
    fast_read_threads: int = 2
    storage: StorageOptions | None = None  # set when ``path`` is an s3:// URL ...
    listed: ObjectInfo | None = None  # ... with the object as the catalog listed it (read If-Match its etag)
