"""The value types stages hand to each other: regions and their cuts, read and write tasks, what a read produced.

All frozen and picklable: they travel to worker processes (local pool or dask) and back. Stages import from
here; nothing here imports a stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from climnorm._ranges import format_ranges

if TYPE_CHECKING:
    from climnorm.products.smoothing import Smoothing
    from climnorm.storage.listing import ObjectInfo
    from climnorm.storage.options import StorageOptions

HISTORICAL = "historical"
"""The scenario name of the historical run, whose years every future scenario's early windows share."""

T_LeapDay = Literal["calendar_day", "dayofyear", "drop"]
"""How dates map to day slots (docs/normals.md): by (month, day), by ordinal day, or with 29 Feb dropped."""

T_LonConvention = Literal["input", "0_360", "-180_180"]

T_Product = Literal["daily", "daily_smoothed", "monthly", "seasonal", "annual"]
"""What an output holds (docs/normals.md): the daily normal, its smoothed form, or normals of monthly, seasonal or
annual values."""

PRODUCTS: tuple[T_Product, ...] = ("daily", "daily_smoothed", "monthly", "seasonal", "annual")

#: How each product is named in its files' titles.
PRODUCT_TITLES: dict[T_Product, str] = {
    "daily": "daily climate normal",
    "daily_smoothed": "smoothed daily climate normal",
    "monthly": "monthly climate normal",
    "seasonal": "seasonal climate normal",
    "annual": "annual climate normal",
}

T_Aggregation = Literal["mean", "sum"]
"""How a month's days (and a season's or year's months) combine: the mean (temperatures) or the total
(precipitation)."""


@dataclass(frozen=True)
class Region:
    """A named lat/lon box; edges inclusive on cell centres, longitudes in either convention."""

    key: str
    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    @property
    def lon_width(self) -> float:
        """Eastward extent in degrees from lon_min to lon_max (a box may cross 0° or 180°)."""
        width = (self.lon_max - self.lon_min) % 360.0
        if width == 0.0 and self.lon_max != self.lon_min:
            return 360.0
        return width

    def as_dict(self) -> dict[str, float | str]:
        return {
            "key": self.key,
            "name": self.name,
            "lat_min": self.lat_min,
            "lat_max": self.lat_max,
            "lon_min": self.lon_min,
            "lon_max": self.lon_max,
        }


@dataclass(frozen=True, order=True)
class Member:
    """One run of one model: the unit an ensemble is made of."""

    model: str
    variant: str  # r1i1p1f1, ...

    @property
    def label(self) -> str:
        """How outputs, attributes and tables name the member: "ACCESS-CM2 r1i1p1f1"."""
        return f"{self.model} {self.variant}"


@dataclass(frozen=True)
class Coord:
    """A coordinate variable to write beside a region's data (dims () for a scalar coordinate)."""

    name: str
    dims: tuple[str, ...]  # () for a scalar coordinate (a grid mapping, a height)
    values: np.ndarray
    attrs: tuple[tuple[str, Any], ...] = ()

    def same_as(self, other: Coord) -> bool:
        if (self.name, self.dims, self.values.shape) != (other.name, other.dims, other.values.shape):
            return False
        if np.array_equal(self.values, other.values):
            return True  # the common case (a chain's files share their grid), without allclose's temporaries
        if np.issubdtype(self.values.dtype, np.number) and np.issubdtype(other.values.dtype, np.number):
            return bool(np.allclose(self.values, other.values, equal_nan=True))
        return False


@dataclass(frozen=True)
class RegionCut:
    """How one region is taken from a canonical block, and the coordinates its output carries."""

    key: str
    index: tuple[np.ndarray, ...]
    mask: np.ndarray | None
    dims: tuple[str, ...]
    coords: tuple[Coord, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        sizes: dict[str, int] = {}
        for c in self.coords:
            sizes.update(zip(c.dims, c.values.shape, strict=True))
        return tuple(sizes[d] for d in self.dims)

    def same_as(self, other: RegionCut) -> bool:
        return (
            self.dims == other.dims
            and len(self.coords) == len(other.coords)
            and all(a.same_as(b) for a, b in zip(self.coords, other.coords, strict=True))
        )

    def describe(self) -> str:
        return " x ".join(f"{d}={n}" for d, n in zip(self.dims, self.shape, strict=True))


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
    fast_read: bool = True  # read qualifying variables through climnorm.fastread (bit-identical, faster)
    fast_read_threads: int = 2
    storage: StorageOptions | None = None  # set when ``path`` is an s3:// URL ...
    listed: ObjectInfo | None = None  # ... with the object as the catalog listed it (read If-Match its etag)


@dataclass(frozen=True)
class YearPiece:
    """One year's day-slot field for one region from one file, and how many time steps fed each slot;
    ``ranges``: its blocks' value ranges (`climnorm.reduce.block_ranges`), taken where the field was made."""

    values: np.ndarray
    steps: np.ndarray
    ranges: np.ndarray | None = None


@dataclass(frozen=True)
class FileResult:
    """What a read produced: regional year pieces plus the metadata later stages check and record."""

    path: str
    calendar: str
    units: str | None
    attrs: dict[str, str]
    grids: dict[str, RegionCut] = field(default_factory=dict)
    pieces: dict[tuple[int, str], YearPiece] = field(default_factory=dict)
    empty_regions: tuple[str, ...] = ()
    bytes_read: int = 0
    seconds: float = 0.0
    impossible: int = 0
    impossible_rule: str = ""
    fast_path: bool = False  # read through climnorm.fastread rather than netCDF4


@dataclass(frozen=True)
class Target:
    """One normal of one member's variable under one scenario, for every region: the window ending at ``year``."""

    member: Member
    variable: str
    scenario: str
    period: str
    year: int
    window: tuple[int, ...]
    available: tuple[int, ...]
    missing: tuple[int, ...]
    min_years: int

    @property
    def computable(self) -> bool:
        return len(self.available) >= self.min_years

    @property
    def reason(self) -> str:
        """Why the target cannot be computed (empty when it can)."""
        if self.computable:
            return ""
        return (
            f"only {len(self.available)} of {len(self.window)} window years available "
            f"(minimum {self.min_years}); missing {format_ranges(self.missing)}"
        )


@dataclass(frozen=True)
class NormalMeta:
    """What an output file says about itself (and what `climnorm verify` checks)."""

    target: Target
    region: Region
    years: tuple[int, ...]  # the window years the normal was computed from
    source_scenarios: tuple[str, ...]
    calendar: str
    leap_day: T_LeapDay
    var_attrs: tuple[tuple[str, str], ...]
    inputs_digest: str
    product: T_Product = "daily"
    aggregation: T_Aggregation = "mean"  # monthly, seasonal, annual: mean of the days, or their total
    smoothing: str = ""  # daily_smoothed: how (products.smoothing.Smoothing.describe)
    completeness: str = ""  # monthly, seasonal, annual: the rule a month's days follow (Completeness.name)

    @property
    def variable(self) -> str:
        return self.target.variable

    @property
    def window(self) -> range:
        return range(self.target.window[0], self.target.window[-1] + 1)


@dataclass(frozen=True)
class Encoding:
    """How output variables are stored: zlib (with shuffle) at a level, one day slot per chunk."""

    zlib: bool = True
    complevel: int = 1
    shuffle: bool = True

    def variable(self, shape: tuple[int, ...]) -> dict[str, Any]:
        """``createVariable`` keywords for a variable of ``shape`` (slots first)."""
        if not self.zlib:
            return {"zlib": False}
        return {"zlib": True, "complevel": self.complevel, "shuffle": self.shuffle, "chunksizes": (1, *shape[1:])}


@dataclass(frozen=True)
class WriteTask:
    """One normal to write (``smoothing``: a raw daily normal the writer smooths first, in the worker)."""

    path: str
    normal: np.ndarray
    grid: RegionCut
    meta: NormalMeta
    encoding: Encoding
    smoothing: Smoothing | None = None

    @property
    def nbytes(self) -> int:
        return int(self.normal.nbytes)


@dataclass(frozen=True)
class EnsembleMember:
    """One member output an ensemble output is computed from."""

    label: str
    path: str  # the member's output file
    calendar: str
    leap_day: T_LeapDay


@dataclass(frozen=True)
class EnsembleTask:
    """One ensemble output to compute from its members' output files and write."""

    path: str
    variable: str
    members: tuple[EnsembleMember, ...]
    statistics: tuple[str, ...]
    min_members: int
    window: tuple[int, int]  # first and last year of the window
    attrs: tuple[tuple[str, Any], ...]  # the file's global attributes besides the common ones
    encoding: Encoding
    product: T_Product = "daily"
