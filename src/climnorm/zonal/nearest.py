"""The nearest valid cell of a point, per slot: the fallback for polygons whose covered cells are all NaN.

Distances are great-circle distances on the sphere (haversine, km) from the polygon's representative point
to cell centres. Candidates are tried nearest first, in growing batches, so a coastal county looks at a few
dozen cells, not the whole grid, even when the valid cells change from slot to slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from climnorm.zonal.grid import EARTH_RADIUS_KM, Grid


@dataclass(frozen=True, eq=False)
class NearestCells:
    """Per point and slot: the nearest valid cell (-1 when a slot has none) and its distance in km."""

    cell: np.ndarray
    distance_km: np.ndarray


def great_circle_km(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Haversine distance in km from one point to many (degrees)."""
    phi1, phi2 = np.radians(lat), np.radians(lats)
    dphi = phi2 - phi1
    dlam = np.radians(lons - lon)
    h = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _first_valid(order: np.ndarray, valid: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """For each slot, the first cell of ``order`` valid in it (-1 if none), scanning in growing batches."""
    found = np.full(slots.size, -1, dtype=np.int64)
    todo = np.arange(slots.size)
    start, batch = 0, 64
    while todo.size and start < order.size:
        candidates = order[start : start + batch]
        ok = valid[np.ix_(slots[todo], candidates)]
        has = ok.any(axis=1)
        found[todo[has]] = candidates[np.argmax(ok[has], axis=1)]
        todo = todo[~has]
        start += batch
        batch *= 8
    return found


def nearest_valid_cells(points: np.ndarray, grid: Grid, valid: np.ndarray, wanted: np.ndarray) -> NearestCells:
    """Nearest valid cell of each (lon, lat) point for the slots ``wanted[i]`` marks; ``valid`` is (slots, cells)."""
    lats, lons = grid.centres()
    cell = np.full(wanted.shape, -1, dtype=np.int64)
    distance = np.full(wanted.shape, np.nan)
    for i, (lon, lat) in enumerate(points):
        slots = np.flatnonzero(wanted[i])
        if not slots.size:
            continue
        km = great_circle_km(float(lon), float(lat), lons, lats)
        order = np.argsort(km, kind="stable")
        found = _first_valid(order, valid, slots)
        cell[i, slots] = found
        distance[i, slots] = np.where(found >= 0, km[np.maximum(found, 0)], np.nan)
    return NearestCells(cell, distance)
