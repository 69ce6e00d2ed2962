"""Where a field's dimensions are, and how a region is cut out of it, for every grid shape archives use.

Three layouts: `regular` (1-D lat and lon coordinate variables, either convention and order), `curvilinear`
(2-D lat/lon auxiliary coordinates, e.g. CORDEX rotated-pole grids: a region keeps the native grid, cut to the
bounding rectangle of the cells whose centres fall in the box, the others masked), and `points` (station or
location series with 1-D lat/lon along a location dimension). Other dimensions (a level, a height) are kept
whole and carried to the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import netCDF4
import numpy as np

from climnorm.errors import InputFileError
from climnorm.regions import ALL_REGION, select_cells
from climnorm.types import Coord, Region, RegionCut

T_Kind = Literal["regular", "curvilinear", "points"]
_TOL = 1e-6
_COPIED_ATTRS = ("standard_name", "long_name", "units", "axis", "positive", "calendar", "grid_mapping_name")


@dataclass(frozen=True)
class Layout:
    """The data variable's dimensions: time first, then extra (kept whole), then horizontal (cut by regions)."""

    kind: T_Kind
    file_dims: tuple[str, ...]
    time_dim: str
    extra: tuple[str, ...]
    horizontal: tuple[str, ...]
    lat: np.ndarray
    lon: np.ndarray
    extra_coords: tuple[Coord, ...] = ()
    horizontal_coords: tuple[Coord, ...] = ()

    @property
    def canonical(self) -> tuple[str, ...]:
        return (self.time_dim, *self.extra, *self.horizontal)

    @property
    def transpose(self) -> tuple[int, ...]:
        """Axis order that turns an array in file order into canonical order."""
        return tuple(self.file_dims.index(d) for d in self.canonical)


def _attrs(var: netCDF4.Variable[Any] | None) -> tuple[tuple[str, Any], ...]:
    if var is None:
        return ()
    return tuple((k, var.getncattr(k)) for k in _COPIED_ATTRS if k in var.ncattrs())


def _coord(ds: netCDF4.Dataset, name: str) -> Coord | None:
    var = ds.variables.get(name)
    if var is None:
        return None
    var.set_auto_maskandscale(True)
    kind = np.dtype(var.dtype).kind
    if kind == "f":
        values = np.ma.filled(np.ma.asarray(var[...]), np.nan)
    elif kind in "OSU":  # variable-length or character strings (station names)
        values = np.asarray(var[...]).astype(str)
    else:
        values = np.asarray(var[...])
    return Coord(name, tuple(var.dimensions), np.asarray(values), _attrs(var))


def _kind(var: netCDF4.Variable[Any] | None, name: str) -> str | None:
    """What a coordinate is: time, lat, lon (true geographic), y/x (projected, e.g. rotated-pole), or None."""
    if var is None:
        return "time" if name == "time" else None
    standard = str(getattr(var, "standard_name", "")).lower()
    units = str(getattr(var, "units", "")).lower().replace(" ", "")
    axis = str(getattr(var, "axis", "")).upper()
    lname = name.lower()
    if standard == "time" or axis == "T" or "since" in units or lname == "time":
        return "time"
    if standard in ("grid_latitude", "projection_y_coordinate"):
        return "y"
    if standard in ("grid_longitude", "projection_x_coordinate"):
        return "x"
    if standard == "latitude" or units in ("degrees_north", "degree_north", "degrees_n", "degree_n"):
        return "lat"
    if standard == "longitude" or units in ("degrees_east", "degree_east", "degrees_e", "degree_e"):
        return "lon"
    if lname in ("lat", "latitude", "nav_lat"):
        return "lat"
    if lname in ("lon", "longitude", "nav_lon"):
        return "lon"
    if axis == "Y":
        return "y"
    if axis == "X":
        return "x"
    return None


def _aux(ds: netCDF4.Dataset, var: netCDF4.Variable[Any], want: str) -> netCDF4.Variable[Any] | None:
    """The auxiliary lat or lon variable of ``var``: named in its `coordinates`, else any lat/lon-like variable
    whose dimensions are all dimensions of ``var``."""
    names = str(getattr(var, "coordinates", "")).split()
    candidates = [ds.variables[n] for n in names if n in ds.variables]
    candidates += [v for n, v in ds.variables.items() if n not in names]
    for cand in candidates:
        fits = cand.ndim >= 1 and set(cand.dimensions) <= set(var.dimensions) and cand.name != var.name
        if fits and _kind(cand, cand.name) == want and cand.name not in var.dimensions:
            return cand
    return None


def layout_of(ds: netCDF4.Dataset, var: netCDF4.Variable[Any], path: str) -> Layout:
    """Recognise the data variable's layout from its coordinates; refuse what cannot be cut by lat/lon boxes."""
    kinds = {d: _kind(ds.variables.get(d), d) for d in var.dimensions}
    times = [d for d, k in kinds.items() if k == "time"]
    if len(times) != 1:
        raise InputFileError(path, f"variable {var.name!r} has dimensions {var.dimensions}: no time dimension found")
    time_dim = times[0]
    lat_dims = [d for d, k in kinds.items() if k == "lat"]
    lon_dims = [d for d, k in kinds.items() if k == "lon"]
    if lat_dims and lon_dims:
        horizontal: tuple[str, ...] = (lat_dims[0], lon_dims[0])
        lat = np.asarray(ds.variables[lat_dims[0]][:], dtype=np.float64)
        lon = np.asarray(ds.variables[lon_dims[0]][:], dtype=np.float64)
        kind: T_Kind = "regular"
        hcoords: tuple[Coord, ...] = ()
    else:
        lat_var, lon_var = _aux(ds, var, "lat"), _aux(ds, var, "lon")
        if lat_var is None or lon_var is None or lat_var.dimensions != lon_var.dimensions:
            raise InputFileError(
                path,
                f"variable {var.name!r} has dimensions {var.dimensions} and no latitude/longitude coordinates "
                "(1-D lat/lon dimensions, or 2-D or per-location lat/lon variables) to select regions by",
            )
        horizontal = tuple(lat_var.dimensions)
        kind = "curvilinear" if lat_var.ndim == 2 else "points"
        lat = np.ma.filled(np.ma.asarray(lat_var[...]).astype(np.float64), np.nan)
        lon = np.ma.filled(np.ma.asarray(lon_var[...]).astype(np.float64), np.nan)
        hcoords = tuple(c for d in horizontal if (c := _coord(ds, d)) is not None)
        hcoords += tuple(c for n in (lat_var.name, lon_var.name) if (c := _coord(ds, n)) is not None)
        mapping = getattr(var, "grid_mapping", None)
        if mapping and mapping in ds.variables:
            gm = ds.variables[mapping]
            hcoords += (
                Coord(mapping, (), np.array(0, dtype=np.int32), tuple((k, gm.getncattr(k)) for k in gm.ncattrs())),
            )
    extra = tuple(d for d in var.dimensions if d != time_dim and d not in horizontal)
    extra_coords = tuple(c for d in extra if (c := _coord(ds, d)) is not None)
    for name in str(getattr(var, "coordinates", "")).split():
        v = ds.variables.get(name)
        if v is not None and v.ndim == 0 and (c := _coord(ds, name)) is not None:
            extra_coords += (c,)
    return Layout(kind, tuple(var.dimensions), time_dim, extra, horizontal, lat, lon, extra_coords, hcoords)


def _standard(name: str, dims: tuple[str, ...], values: np.ndarray, what: str) -> Coord:
    axis = "Y" if what == "lat" else "X"
    units = "degrees_north" if what == "lat" else "degrees_east"
    long = "latitude" if what == "lat" else "longitude"
    return Coord(name, dims, values, (("standard_name", long), ("long_name", long), ("units", units), ("axis", axis)))


def to_convention(lon: np.ndarray, convention: str) -> np.ndarray:
    """Longitudes in 0..360 or -180..180 ("input" leaves them as they are)."""
    if convention == "0_360":
        return np.mod(lon, 360.0)
    if convention == "-180_180":
        return (lon + 180.0) % 360.0 - 180.0
    return lon


def _kind_of_coord(coord: Coord) -> str | None:
    attrs = dict(coord.attrs)
    if attrs.get("standard_name") == "longitude" or str(attrs.get("units", "")).lower() in ("degrees_east",):
        return "lon"
    return None


def cut_region(layout: Layout, region: Region, lon_convention: str = "input") -> RegionCut | None:
    """How ``region`` is taken from fields of ``layout``; None when no cell centre falls in its box."""
    extra_dims = layout.extra
    extra_coords = tuple(c for c in layout.extra_coords if set(c.dims) <= set(extra_dims))
    whole = region.key == ALL_REGION.key
    if layout.kind == "regular":
        if whole:
            converted = to_convention(layout.lon, lon_convention)
            lat_idx = np.argsort(layout.lat, kind="stable")
            lon_idx = np.argsort(converted, kind="stable")
            lat, lon = layout.lat[lat_idx], converted[lon_idx]
        else:
            sel = select_cells(region, layout.lat, layout.lon, lon_convention)
            lat_idx, lon_idx, lat, lon = sel.lat_index, sel.lon_index, sel.lat, sel.lon
        if lat_idx.size == 0 or lon_idx.size == 0:
            return None
        regular = (*extra_coords, _standard("lat", ("lat",), lat, "lat"), _standard("lon", ("lon",), lon, "lon"))
        return RegionCut(region.key, (lat_idx, lon_idx), None, (*extra_dims, "lat", "lon"), regular)

    lat, lon = layout.lat, layout.lon
    if whole:
        inside = np.isfinite(lat) & np.isfinite(lon)
    else:
        offset = (lon - region.lon_min) % 360.0
        offset = np.where(offset > 360.0 - _TOL, 0.0, offset)
        inside = (lat >= region.lat_min - _TOL) & (lat <= region.lat_max + _TOL) & (offset <= region.lon_width + _TOL)
    if not inside.any():
        return None
    if layout.kind == "points":
        (idx,) = np.nonzero(inside)
        index: tuple[np.ndarray, ...] = (idx,)
        mask = None
    else:
        rows = np.nonzero(inside.any(axis=1))[0]
        cols = np.nonzero(inside.any(axis=0))[0]
        index = (np.arange(rows[0], rows[-1] + 1), np.arange(cols[0], cols[-1] + 1))
        sub = inside[np.ix_(*index)]
        mask = None if sub.all() else ~sub
    coords: list[Coord] = list(extra_coords)
    for c in layout.horizontal_coords:
        values = c.values
        for axis, dim in enumerate(c.dims):
            values = np.take(values, index[layout.horizontal.index(dim)], axis=axis)
        if _kind_of_coord(c) == "lon":
            values = to_convention(values, lon_convention)
        coords.append(Coord(c.name, c.dims, values, c.attrs))
    return RegionCut(region.key, index, mask, (*extra_dims, *layout.horizontal), tuple(coords))


T_Take = tuple[slice | np.ndarray, ...]
"""Per horizontal axis, a contiguous ascending range as a slice, else the indices to take."""

PART_CELLS = 8192
"""Copying one more part of a chunk (a box's column range) costs about as much as unshuffling this many cells."""


@dataclass(frozen=True)
class Box:
    """A part of a regular grid read as one array: rows [start, stop) and column ranges laid side by side."""

    rows: tuple[int, int]
    cols: tuple[tuple[int, int], ...]

    @property
    def columns(self) -> np.ndarray:
        """The grid column of each column of the box, ascending."""
        return np.concatenate([np.arange(a, b) for a, b in self.cols])

    @property
    def cost(self) -> int:
        """What reading the box costs per time step, in cells unshuffled."""
        return len(self.cols) * PART_CELLS + (self.rows[1] - self.rows[0]) * sum(b - a for a, b in self.cols)

    def joined(self, other: Box) -> Box:
        """One box holding both, with column ranges closer than a part's cost joined."""
        rows = (min(self.rows[0], other.rows[0]), max(self.rows[1], other.rows[1]))
        gap = PART_CELLS // max(1, rows[1] - rows[0])  # columns of cells that cost as much as a part
        cols: list[tuple[int, int]] = []
        for a, b in sorted(self.cols + other.cols):
            if cols and a - cols[-1][1] <= gap:
                cols[-1] = (cols[-1][0], max(cols[-1][1], b))
            else:
                cols.append((a, b))
        return Box(rows, tuple(cols))


def as_take(idx: np.ndarray) -> slice | np.ndarray:
    """``idx`` as a slice when it is a contiguous ascending range (a view instead of a gather)."""
    if idx.size and np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
        return slice(int(idx[0]), int(idx[0]) + idx.size)
    return idx


def read_boxes(cuts: dict[str, RegionCut]) -> tuple[list[Box], dict[str, tuple[int, T_Take]]]:
    """For the cuts of a regular grid: the boxes to read, and per region its box and its rows and columns counted
    inside that box.

    Each region starts as its own box (its rows, and only the columns it needs: a region that crosses the grid's
    first column, e.g. across 0° or 180°, takes two column ranges); boxes are then joined while that makes the
    read cheaper (per :attr:`Box.cost`: on coarse grids a few larger copies beat many small ones).
    """
    own = {
        key: Box((int(c.index[0].min()), int(c.index[0].max()) + 1), _runs(np.unique(c.index[1])))
        for key, c in cuts.items()
    }
    groups = [([key], box) for key, box in own.items()]
    while len(groups) > 1:
        saving, i, j = max(
            (groups[i][1].cost + groups[j][1].cost - groups[i][1].joined(groups[j][1]).cost, i, j)
            for i in range(len(groups))
            for j in range(i + 1, len(groups))
        )
        if saving <= 0:
            break
        groups[i] = (groups[i][0] + groups[j][0], groups[i][1].joined(groups[j][1]))
        del groups[j]
    boxes = [box for _, box in groups]
    where: dict[str, tuple[int, T_Take]] = {}
    for k, (keys, box) in enumerate(groups):
        for key in keys:
            rows, cols = cuts[key].index
            where[key] = (k, (as_take(rows - box.rows[0]), as_take(np.searchsorted(box.columns, cols))))
    return boxes, where


def _runs(values: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Sorted distinct integers as (start, stop) ranges of consecutive values."""
    breaks = np.nonzero(np.diff(values) != 1)[0] + 1
    return tuple((int(run[0]), int(run[-1]) + 1) for run in np.split(values, breaks))
