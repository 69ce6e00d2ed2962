"""Weights applied to one field: area-weighted means over the valid cells of each slot, as sparse products.

value[p, s] = Σ_c w[p,c]·x[s,c]·valid[s,c] / Σ_c w[p,c]·valid[s,c]: one product for the numerator (NaN set
to 0), one for the denominator (the valid mask) and one for the count of valid cells. A polygon whose cells
are all NaN in a slot takes the nearest valid cell (flag "nearest", with its distance).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from climnorm.zonal.grid import Grid
from climnorm.zonal.nearest import nearest_valid_cells
from climnorm.zonal.polygons import PolygonSet
from climnorm.zonal.weights import Weights

log = logging.getLogger(__name__)

FLAGS = ("", "nearest", "nodata")
FLAG_NEAREST = 1
FLAG_NODATA = 2
SLOT_CHUNK = 64


@dataclass(frozen=True, eq=False)
class ZonalValues:
    """Per polygon (``rows``) and slot: the value and how it was made."""

    rows: np.ndarray
    values: np.ndarray
    covered_fraction: np.ndarray
    n_cells: np.ndarray
    flag: np.ndarray
    nearest_km: np.ndarray
    nearest_lat: np.ndarray
    nearest_lon: np.ndarray


def _products(matrix: sp.csr_matrix, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numerator, denominator and valid-cell count of one block of slots (block is slots × used cells)."""
    valid = ~np.isnan(block)
    x = np.array(np.where(valid, block, 0.0).T, dtype=np.float64, order="C")
    mask = np.array(valid.T, dtype=np.float64, order="C")
    pattern = sp.csr_matrix((np.ones_like(matrix.data), matrix.indices, matrix.indptr), shape=matrix.shape)
    return matrix @ x, matrix @ mask, pattern @ mask


def weighted_means(weights: Weights, rows: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, ...]:
    """Numerator, denominator (km² of valid cells) and valid-cell count per polygon row and slot."""
    matrix = weights.matrix[rows]
    used = np.unique(matrix.indices)
    matrix = sp.csr_matrix(matrix[:, used])
    flat = data.reshape(data.shape[0], -1)
    parts = [_products(matrix, flat[s : s + SLOT_CHUNK][:, used]) for s in range(0, flat.shape[0], SLOT_CHUNK)]
    return tuple(np.concatenate([p[i] for p in parts], axis=1) for i in range(3))


def apply_weights(
    weights: Weights, grid: Grid, data: np.ndarray, rows: np.ndarray, polygons: PolygonSet
) -> ZonalValues:
    """Area-weighted means of ``data`` (slots, nlat, nlon) for the polygon ``rows``, with the nearest fallback."""
    num, den, count = weighted_means(weights, rows, data)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    area = weights.polygon_area[rows][:, None]
    covered = np.divide(den, area, out=np.zeros_like(den), where=area > 0)
    n_cells = count.round().astype(np.int32)
    shape = values.shape
    flag = np.zeros(shape, dtype=np.int8)
    near = [np.full(shape, np.nan, dtype=np.float64) for _ in range(3)]
    empty = den <= 0
    if empty.any():
        _fallback(grid, data, polygons, rows, empty, values, n_cells, flag, near)
    return ZonalValues(rows, values, np.minimum(covered, 1.0), n_cells, flag, *near)


def _fallback(
    grid: Grid,
    data: np.ndarray,
    polygons: PolygonSet,
    rows: np.ndarray,
    empty: np.ndarray,
    values: np.ndarray,
    n_cells: np.ndarray,
    flag: np.ndarray,
    near: list[np.ndarray],
) -> None:
    """Fill the (polygon, slot) pairs without a valid covered cell from the nearest valid cell, in place."""
    which = np.flatnonzero(empty.any(axis=1))
    flat = data.reshape(data.shape[0], -1)
    found = nearest_valid_cells(polygons.representative_points(rows[which]), grid, ~np.isnan(flat), empty[which])
    lats, lons = grid.centres()
    for k, i in enumerate(which):
        slots = np.flatnonzero(empty[i])
        cells = found.cell[k, slots]
        ok = cells >= 0
        values[i, slots[ok]] = flat[slots[ok], cells[ok]]
        n_cells[i, slots[ok]] = 1
        flag[i, slots] = np.where(ok, FLAG_NEAREST, FLAG_NODATA)
        near[0][i, slots] = found.distance_km[k, slots]
        near[1][i, slots[ok]] = lats[cells[ok]]
        near[2][i, slots[ok]] = lons[cells[ok]]
        if ok.any():
            log.debug(
                "%s: no valid covered cell in %d slots; nearest valid cell %.1f..%.1f km away",
                polygons.ids[rows[i]],
                slots.size,
                np.nanmin(found.distance_km[k, slots]),
                np.nanmax(found.distance_km[k, slots]),
            )
