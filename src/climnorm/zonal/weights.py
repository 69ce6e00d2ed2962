"""Exact area weights of polygons on grid cells: a sparse (polygons × cells) matrix in km².

w[p, c] = (area of polygon p ∩ cell c in lon/lat degrees / area of cell c in lon/lat degrees) × area of
cell c on the sphere. Fractions are exact polygon clipping with shapely 2 (vectorised over the cells of a
polygon's bounding box; cells wholly inside a polygon are recognised without clipping). The table's
normalisation over valid cells happens in `climnorm.zonal.apply`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from shapely.geometry import Polygon

from climnorm.zonal.grid import EARTH_RADIUS_KM, Grid
from climnorm.zonal.lonlat import shifts_onto
from climnorm.zonal.polygons import PolygonSet

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Weights:
    """Area weights of a polygon set on one grid, and each polygon's area (the base of covered fractions)."""

    matrix: sp.csr_matrix
    polygon_area: np.ndarray
    key: str = ""
    from_cache: bool = False

    @property
    def grid_area(self) -> np.ndarray:
        """Area of each polygon inside the grid's cells (km²), NaN cells included."""
        return np.asarray(self.matrix.sum(axis=1)).ravel()

    @property
    def n_cells(self) -> np.ndarray:
        """Number of cells each polygon touches with a positive area."""
        return np.diff(self.matrix.indptr)


def _sorted_bounds(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge of each cell along an axis, whatever order the file gives them in."""
    return bounds.min(axis=1), bounds.max(axis=1)


def cell_fractions(
    geom: Polygon, south: np.ndarray, north: np.ndarray, west: np.ndarray, east: np.ndarray
) -> np.ndarray:
    """Fraction (in lon/lat degrees) of each cell of the rows × columns block that ``geom`` covers, C order."""
    grid_rows, grid_cols = np.meshgrid(np.arange(south.size), np.arange(west.size), indexing="ij")
    rows, cols = grid_rows.ravel(), grid_cols.ravel()
    boxes = shapely.box(west[cols], south[rows], east[cols], north[rows])
    shapely.prepare(geom)
    inside = shapely.contains_properly(geom, boxes)
    touching = ~inside & shapely.intersects(geom, boxes)
    fractions = inside.astype(np.float64)
    if touching.any():
        box_area = (east[cols] - west[cols])[touching] * (north[rows] - south[rows])[touching]
        fractions[touching] = shapely.area(shapely.intersection(boxes[touching], geom)) / box_area
    return fractions


def equal_area_km2(geom: shapely.Geometry) -> float:
    """Area on the sphere of a lon/lat polygon (vertices mapped to λ, sin φ: the cylindrical equal-area plane)."""
    plane = shapely.transform(geom, lambda xy: np.column_stack([np.radians(xy[:, 0]), np.sin(np.radians(xy[:, 1]))]))
    return float(shapely.area(plane)) * EARTH_RADIUS_KM**2


def _shifted(part: Polygon, shift: float) -> Polygon:
    return part if shift == 0.0 else shapely.transform(part, lambda xy: xy + np.array([shift, 0.0]))


def _outside_area(part: Polygon, box: tuple[float, float, float, float], shifts: list[float]) -> float:
    """Area on the sphere of the piece of ``part`` outside the grid's extent ``box`` (all shifted copies)."""
    west, south, east, north = shapely.bounds(part)
    if box[1] <= south and north <= box[3] and any(box[0] <= west + s and east + s <= box[2] for s in shifts):
        return 0.0
    covered = sum(equal_area_km2(shapely.clip_by_rect(_shifted(part, s), *box)) for s in shifts)
    return max(equal_area_km2(part) - covered, 0.0)


def compute_weights(polygons: PolygonSet, grid: Grid, key: str = "") -> Weights:
    """Exact area weights of every polygon on every cell of ``grid`` (parts meet the grid in any lon convention)."""
    start = time.perf_counter()
    south, north = _sorted_bounds(grid.lat_bounds)
    west, east = _sorted_bounds(grid.lon_bounds)
    box = (float(west.min()), float(south.min()), float(east.max()), float(north.max()))
    areas = grid.cell_areas().ravel()
    nlon = grid.lon.size
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    outside = np.zeros(len(polygons))
    for k, (part, b) in enumerate(zip(polygons.parts, shapely.bounds(np.asarray(polygons.parts)), strict=True)):
        owner = int(polygons.owner[k])
        shifts = shifts_onto(b[0], b[2], box[0], box[2])
        lat_rows = np.flatnonzero((north > b[1]) & (south < b[3]))
        for shift in shifts:
            lon_cols = np.flatnonzero((east > b[0] + shift) & (west < b[2] + shift))
            if not lat_rows.size or not lon_cols.size:
                continue
            frac = cell_fractions(
                _shifted(part, shift), south[lat_rows], north[lat_rows], west[lon_cols], east[lon_cols]
            )
            cells = (lat_rows[:, None] * nlon + lon_cols[None, :]).ravel()
            hit = frac > 0.0
            rows.append(np.full(int(hit.sum()), owner))
            cols.append(cells[hit])
            vals.append(frac[hit] * areas[cells[hit]])
        outside[owner] += _outside_area(part, box, shifts)
    matrix = _assemble(rows, cols, vals, (len(polygons), grid.size))
    weights = Weights(matrix, np.asarray(matrix.sum(axis=1)).ravel() + outside, key)
    log.debug(
        "weights of %d polygons on a %dx%d grid: %d cell pairs in %.2f s",
        len(polygons),
        *grid.shape,
        matrix.nnz,
        time.perf_counter() - start,
    )
    return weights


def _assemble(
    rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray], shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR matrix from (row, column, value) pieces; pieces on the same cell (parts, shifted copies) are summed."""
    if not rows:
        return sp.csr_matrix(shape, dtype=np.float64)
    coo = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    matrix = coo.tocsr()
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix
