"""The vocabulary every stage shares: regions and their cuts, members, targets, what a read produced.

All frozen and picklable: they travel to worker processes (local pool or dask) and back. Stages import from
here; nothing here imports a stage. A stage's own task types live in its package (`climnorm.read.orders`,
`climnorm.write.orders`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from climnorm._ranges import format_ranges

HISTORICAL = "historical"
"""The scenario name of the historical run, whose years every future scenario's early windows share."""

T_LeapDay = Literal["calendar_day", "dayofyear", "drop"]
"""How dates map to day slots (docs/normals.md): by (month, day), by ordinal day, or with 29 Feb dropped."""

T_LonConvention = Literal["input", "0_360", "-180_180"]

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
class YearPiece:
    """One year's day-slot field for one region from one file, and how many time steps fed each slot;
    ``ranges``: its blocks' value ranges (`climnorm.numerics.sums.block_ranges`), taken where the field was made."""

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
    fast_path: bool = False  # read through climnorm.read.fastread rather than netCDF4


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
