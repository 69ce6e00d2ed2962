"""Longitudes of polygons made continuous across the antimeridian, and the shifts that bring them onto a grid.

A ring whose consecutive vertices jump by more than 180° of longitude is taken to cross the antimeridian
(the convention of GeoJSON writers and of reprojection from a projected CRS): its longitudes are unwrapped
so the ring is one continuous piece (e.g. 170 .. 190 rather than 170..180 and -180..-170). Each polygon part
is then placed with its western edge in [-180, 180); a grid in any longitude range meets it through copies
shifted by whole turns (see `shifts_onto`).
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon

from climnorm.errors import ZonalError

TURN = 360.0


def unwrap_ring(coords: np.ndarray) -> np.ndarray:
    """Longitudes of a ring made continuous (no step over 180°); latitudes unchanged."""
    out = np.array(coords, dtype=np.float64, copy=True)
    steps = np.diff(out[:, 0])
    out[1:, 0] = out[0, 0] + np.cumsum(steps - TURN * np.round(steps / TURN))
    return out


def _aligned(ring: np.ndarray, centre: float) -> np.ndarray:
    """A hole's longitudes shifted by whole turns to lie nearest its shell's centre longitude."""
    turns = np.round((centre - ring[:, 0].mean()) / TURN)
    return ring + np.array([turns * TURN, 0.0])


def unwrap_polygon(polygon: Polygon, source: str) -> Polygon:
    """One polygon part made continuous across the antimeridian (holes moved beside their shell)."""
    shell = np.asarray(polygon.exterior.coords)
    if np.ptp(shell[:, 0]) <= 180.0 and all(np.ptp(np.asarray(r.coords)[:, 0]) <= 180.0 for r in polygon.interiors):
        return polygon
    shell = unwrap_ring(shell)
    if abs(shell[-1, 0] - shell[0, 0]) > 1e-9:
        raise ZonalError(f"{source}: a polygon encircles a pole (its outline goes once round the globe); not supported")
    centre = float(shell[:, 0].mean())
    holes = [_aligned(unwrap_ring(np.asarray(r.coords)), centre) for r in polygon.interiors]
    return Polygon(shell, holes)


def canonical_parts(geometry: shapely.Geometry, source: str) -> list[Polygon]:
    """The polygon parts of a geometry, unwrapped, each with its western edge in [-180, 180)."""
    parts = []
    for part in shapely.get_parts(geometry):
        if not isinstance(part, Polygon) or part.is_empty:
            continue
        part = unwrap_polygon(part, source)
        west = shapely.bounds(part)[0]
        turns = np.floor((west + 180.0) / TURN)
        if turns:
            part = shapely.transform(part, lambda xy, t=turns: xy - np.array([t * TURN, 0.0]))
        parts.append(part)
    return parts


def shifts_onto(west: float, east: float, lon_min: float, lon_max: float) -> list[float]:
    """Whole-turn shifts that make the longitude span [west, east] overlap the grid's span [lon_min, lon_max]."""
    first = np.ceil((lon_min - east) / TURN)
    last = np.floor((lon_max - west) / TURN)
    return [float(k * TURN) for k in np.arange(first, last + 1)]
