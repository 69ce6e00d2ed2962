"""The cells of a regular (1-D lat/lon) grid: their edges, areas on the sphere and centres, as read from a file.

Cell edges come from the ``bounds`` variables (``lat_bnds``/``lon_bnds``) when the file has them, otherwise
from the midpoints between centres (the outer edges half a spacing out); an axis with a single cell and no
bounds (a narrow region on a coarse grid) takes the other axis's spacing. Curvilinear grids (2-D lat/lon) are
refused: regrid them to a regular lat/lon grid first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import netCDF4
import numpy as np

from climnorm.errors import ZonalError

EARTH_RADIUS_KM = 6371.0072  # radius of the sphere of equal area (authalic) of WGS 84
_LAT_NAMES = ("lat", "latitude", "y", "rlat")
_LON_NAMES = ("lon", "longitude", "x", "rlon")


@dataclass(frozen=True, eq=False)
class Grid:
    """A rectilinear lon/lat grid; arrays in the file's order, cell c = row * nlon + column (C order)."""

    lat: np.ndarray
    """Latitudes of the cell centres, (nlat,)."""
    lon: np.ndarray
    """Longitudes of the cell centres, (nlon,): any convention, continued past 180 where the file does."""
    lat_bounds: np.ndarray
    """Southern and northern edge of each row, (nlat, 2) in either order."""
    lon_bounds: np.ndarray
    """Western and eastern edge of each column, (nlon, 2) in either order."""

    @property
    def size(self) -> int:
        return self.lat.size * self.lon.size

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat.size, self.lon.size)

    @property
    def lon_span(self) -> tuple[float, float]:
        """Western and eastern edge of the grid (longitudes continuous, west < east)."""
        return float(self.lon_bounds.min()), float(self.lon_bounds.max())

    def cell_areas(self) -> np.ndarray:
        """Area of each cell on the sphere in km², (nlat, nlon): R² (sin φn − sin φs) Δλ."""
        lat = np.radians(self.lat_bounds)
        band = np.abs(np.sin(lat[:, 1]) - np.sin(lat[:, 0]))
        width = np.radians(np.abs(self.lon_bounds[:, 1] - self.lon_bounds[:, 0]))
        return EARTH_RADIUS_KM**2 * np.outer(band, width)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude of every cell centre, flattened in cell order."""
        lat, lon = np.meshgrid(self.lat, self.lon, indexing="ij")
        return lat.ravel(), lon.ravel()

    def fingerprint(self) -> str:
        """Hash of the cell edges: two grids with the same fingerprint have the same cells in the same order."""
        digest = hashlib.blake2b(digest_size=16)
        for values in (self.lat_bounds, self.lon_bounds):
            digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
            digest.update(b"|")
        return digest.hexdigest()


def edges_from_centres(centres: np.ndarray, single: float | None = None) -> np.ndarray:
    """(n, 2) cell bounds from 1-D centres: midpoints inside, half a spacing beyond the first and last.

    A single centre needs the cell's width ``single`` (the other axis's spacing); without it, an error.
    """
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        if single is None:
            raise ValueError("a single centre needs the cell's width")
        return np.array([[c[0] - single / 2.0, c[0] + single / 2.0]])
    mid = (c[1:] + c[:-1]) / 2.0
    edges = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.column_stack([edges[:-1], edges[1:]])


def _spacing(centres: np.ndarray, bounds: np.ndarray | None) -> float | None:
    """Typical cell width along an axis (from its bounds, else its centres); None for one cell without bounds."""
    if bounds is not None:
        return float(np.median(np.abs(np.diff(np.asarray(bounds, dtype=np.float64), axis=1))))
    return float(np.median(np.abs(np.diff(centres)))) if centres.size > 1 else None


def make_grid(
    lat: np.ndarray,
    lon: np.ndarray,
    lat_bounds: np.ndarray | None = None,
    lon_bounds: np.ndarray | None = None,
    *,
    source: str = "grid",
) -> Grid:
    """A grid from 1-D centres (and optional (n, 2) bounds); checks monotonic axes and lon/lat ranges."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if lat.ndim != 1 or lon.ndim != 1:
        raise ZonalError(
            f"{source}: 2-D latitude/longitude (a curvilinear grid) is not supported; regrid to a regular lat/lon grid"
        )
    for name, values in (("lat", lat), ("lon", lon)):
        steps = np.diff(values)
        if values.size > 1 and not (np.all(steps > 0) or np.all(steps < 0)):
            raise ZonalError(f"{source}: {name} is not strictly monotonic; cannot build cells")
    if lat.size == 1 and lon.size == 1 and lat_bounds is None and lon_bounds is None:
        raise ZonalError(f"{source}: a grid of a single cell needs lat/lon bounds to know the cell's size")
    lat_b = _edges(lat, lat_bounds, _spacing(lon, lon_bounds))
    lon_b = _edges(lon, lon_bounds, _spacing(lat, lat_bounds))
    if lat_b.shape != (lat.size, 2) or lon_b.shape != (lon.size, 2):
        raise ZonalError(f"{source}: bounds of shape {lat_b.shape}/{lon_b.shape} do not match {lat.size}x{lon.size}")
    lat_b = np.clip(lat_b, -90.0, 90.0)
    if abs(lat.max()) > 90.0:
        raise ZonalError(f"{source}: latitudes beyond ±90°")
    if lon_b.max() - lon_b.min() > 360.0 + 1e-6:
        raise ZonalError(f"{source}: longitudes span more than 360°")
    return Grid(lat, lon, lat_b, lon_b)


def _edges(centres: np.ndarray, bounds: np.ndarray | None, other_spacing: float | None) -> np.ndarray:
    if bounds is not None:
        return np.asarray(bounds, dtype=np.float64)
    return edges_from_centres(centres, other_spacing)


def _coordinate(ds: netCDF4.Dataset, dim: str, names: tuple[str, ...], source: str) -> netCDF4.Variable[Any]:
    """The coordinate variable of one horizontal dimension (by dimension name, else a known name along it)."""
    if dim in ds.variables:
        return ds.variables[dim]
    for name in names:
        if name in ds.variables and ds.variables[name].dimensions == (dim,):
            return ds.variables[name]
    raise ZonalError(f"{source}: no coordinate variable for dimension {dim!r}")


def _bounds(ds: netCDF4.Dataset, coord: netCDF4.Variable[Any]) -> np.ndarray | None:
    """The (n, 2) bounds named by the coordinate's ``bounds`` attribute, or ``{name}_bnds`` if present."""
    name = getattr(coord, "bounds", None) or f"{coord.name}_bnds"
    if name in ds.variables and ds.variables[name].ndim == 2:
        return np.asarray(ds.variables[name][:], dtype=np.float64)
    return None


def read_grid(ds: netCDF4.Dataset, lat_dim: str, lon_dim: str, *, source: str) -> Grid:
    """The grid of a dataset's horizontal dimensions (bounds when present), refusing 2-D coordinates."""
    if "lat" in ds.variables and ds.variables["lat"].ndim == 2:
        raise ZonalError(
            f"{source}: 2-D latitude/longitude (a curvilinear grid) is not supported; regrid to a regular lat/lon grid"
        )
    lat = _coordinate(ds, lat_dim, _LAT_NAMES, source)
    lon = _coordinate(ds, lon_dim, _LON_NAMES, source)
    return make_grid(lat[:], lon[:], _bounds(ds, lat), _bounds(ds, lon), source=source)
