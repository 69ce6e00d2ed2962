"""Independent reference for the zonal tests: the slow, obvious way, sharing no code with climnorm.zonal.

Weights: for every cell, shapely box ∩ polygon area in lon/lat degrees / box area, times the cell's area on
the sphere R² (sin φn − sin φs) Δλ. Values: plain Python loops in float64 over the valid cells. Polygons are
given to the reference already in the grid's longitude convention (the test says what the true shape is).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

RADIUS_KM = 6371.0072


def cell_area_km2(south: float, north: float, west: float, east: float) -> float:
    return RADIUS_KM**2 * abs(math.sin(math.radians(north)) - math.sin(math.radians(south))) * math.radians(east - west)


def reference_weights(polygon: BaseGeometry, lat_bounds: np.ndarray, lon_bounds: np.ndarray) -> np.ndarray:
    """(nlat, nlon) weights in km² of one polygon, by a loop over every cell."""
    out = np.zeros((len(lat_bounds), len(lon_bounds)))
    for j, (s, n) in enumerate(lat_bounds):
        s, n = min(s, n), max(s, n)
        for i, (w, e) in enumerate(lon_bounds):
            w, e = min(w, e), max(w, e)
            cell = box(w, s, e, n)
            covered = cell.intersection(polygon).area / cell.area
            out[j, i] = covered * cell_area_km2(s, n, w, e)
    return out


def reference_mean(weights: np.ndarray, field: np.ndarray) -> float:
    """Area-weighted mean of one slot (nlat, nlon) over the valid cells; NaN when none is valid."""
    num = den = 0.0
    for j in range(weights.shape[0]):
        for i in range(weights.shape[1]):
            x = float(field[j, i])
            if weights[j, i] > 0 and not math.isnan(x):
                num += weights[j, i] * x
                den += weights[j, i]
    return num / den if den > 0 else math.nan


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * RADIUS_KM * math.asin(math.sqrt(h))


def reference_nearest(lon: float, lat: float, lats: np.ndarray, lons: np.ndarray, field: np.ndarray) -> tuple:
    """(value, distance km, lat, lon) of the valid cell whose centre is nearest (lon, lat), by a loop."""
    best = (math.nan, math.inf, math.nan, math.nan)
    for j, clat in enumerate(lats):
        for i, clon in enumerate(lons):
            if not math.isnan(float(field[j, i])):
                d = haversine_km(lon, lat, float(clon), float(clat))
                if d < best[1]:
                    best = (float(field[j, i]), d, float(clat), float(clon))
    return best


def bounds_from_centres(centres: np.ndarray) -> np.ndarray:
    """Cell bounds halfway between centres, the outer ones half a spacing out (1-D regular axes)."""
    c = [float(x) for x in centres]
    edges = [c[0] - (c[1] - c[0]) / 2] + [(a + b) / 2 for a, b in itertools.pairwise(c)]
    edges.append(c[-1] + (c[-1] - c[-2]) / 2)
    return np.array([[edges[k], edges[k + 1]] for k in range(len(c))])
