"""Regions as lat/lon boxes, and how a box selects cells of a 1-D lat/lon grid in either convention."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from climnorm.types import Region

__all__ = ["ALL_REGION", "BUILTIN_REGIONS", "GridSelection", "Region", "select_cells"]

_TOL = 1e-6


BUILTIN_REGIONS: dict[str, Region] = {
    r.key: r
    for r in (
        Region("CONUS", "Contiguous United States", 24.0, 50.0, 234.0, 294.0),
        Region("AK", "Alaska", 50.0, 72.0, 170.0, 235.0),
        Region("HI", "Hawaii", 18.92, 28.45, 181.63, 205.20),
        Region("PRVI", "Puerto Rico and U.S. Virgin Islands", 17.62, 18.57, 292.03, 295.49),
        Region("GU", "Guam and Northern Mariana Islands", 13.18, 20.61, 144.58, 146.12),
    )
}


ALL_REGION = Region("all", "whole input domain", -90.0, 90.0, 0.0, 360.0)


@dataclass(frozen=True)
class GridSelection:
    """Indices of a region's cells in a 1-D lat/lon grid, ordered so the output is monotonic increasing."""

    lat_index: np.ndarray
    lon_index: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat_index.size, self.lon_index.size)


def select_cells(region: Region, lat: np.ndarray, lon: np.ndarray, lon_convention: str = "input") -> GridSelection:
    """Select the cells whose centres fall in the box; antimeridian-safe and independent of grid order.

    Longitudes come out increasing eastward from the box's western edge. With ``lon_convention`` "input" they
    keep the input's convention where possible; a box that the convention would split (Alaska in -180..180)
    stays one piece with longitudes continued past the seam (e.g. 170 .. 235 rather than 170..180, -180..-125).
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    lat_idx = np.nonzero((lat >= region.lat_min - _TOL) & (lat <= region.lat_max + _TOL))[0]
    lat_idx = lat_idx[np.argsort(lat[lat_idx], kind="stable")]

    offset = (lon - region.lon_min) % 360.0
    offset = np.where(offset > 360.0 - _TOL, 0.0, offset)
    lon_idx = np.nonzero(offset <= region.lon_width + _TOL)[0]
    lon_idx = lon_idx[np.argsort(offset[lon_idx], kind="stable")]

    out_lon = _continuous_longitudes(lon[lon_idx], lon_convention)
    return GridSelection(lat_idx, lon_idx, lat[lat_idx], out_lon)


def _continuous_longitudes(lon: np.ndarray, convention: str) -> np.ndarray:
    """Express eastward-ordered longitudes in a convention, unwrapped so they increase monotonically."""
    if lon.size == 0:
        return lon
    first = lon[0]
    if convention == "0_360":
        first = first % 360.0
    elif convention == "-180_180":
        first = (first + 180.0) % 360.0 - 180.0
    elif convention != "input":
        raise ValueError(f"lon_convention must be 'input', '0_360' or '-180_180', not {convention!r}")
    return first + np.concatenate([[0.0], np.cumsum((np.diff(lon)) % 360.0)])
