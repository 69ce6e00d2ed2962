"""Where the ``us_normals`` style's climate comes from: a coarse coastline of North America (land or sea for each
point) and the normals of :mod:`.stations` interpolated to any latitude and longitude, land and sea apart.

All closed form (numpy on the point's coordinates, no data files): a point-in-polygon test and Gaussian-weighted
means of the stations' normals, so that a cell of the demo's grid has the climate of the places around it and a
coast separates the continent's from the ocean's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from climnorm.synth.stations import LAND, SEA, Station

#: North America's coast (lon, lat), coarse (about a degree): Alaska's Arctic and Bering coasts, the Canadian
#: Arctic and Labrador closed along 76N, the Atlantic and Gulf coasts, Central America to Panama, the Pacific coast
#: back north (the Gulf of California counted as land), British Columbia, southeast Alaska and the Alaska Peninsula.
NORTH_AMERICA: tuple[tuple[float, float], ...] = (
    (-168.0, 65.6), (-166.5, 68.3), (-162.0, 70.3), (-156.8, 71.4), (-152.0, 70.8), (-145.0, 70.1),
    (-141.0, 69.7), (-135.0, 69.4), (-128.0, 70.2), (-125.0, 72.0), (-125.0, 76.0), (-55.0, 76.0),
    (-55.0, 67.0), (-64.5, 60.3), (-61.0, 56.0), (-57.0, 52.0), (-60.0, 50.2), (-64.5, 48.8),
    (-64.8, 47.8), (-64.0, 46.2), (-60.0, 46.8), (-60.0, 45.8), (-63.5, 44.5), (-65.7, 43.5),
    (-67.0, 44.6), (-68.8, 44.2), (-70.2, 43.6), (-70.7, 42.6), (-70.9, 42.2), (-70.0, 41.7),
    (-71.0, 41.4), (-72.0, 40.9), (-73.9, 40.5), (-74.1, 39.7), (-74.9, 38.9), (-75.6, 37.5),
    (-76.0, 36.9), (-75.5, 35.3), (-76.6, 34.7), (-77.9, 33.9), (-79.2, 33.2), (-80.0, 32.7),
    (-81.1, 32.0), (-81.4, 30.4), (-80.6, 28.4), (-80.0, 26.8), (-80.1, 25.8), (-80.4, 25.2),
    (-81.1, 25.1), (-81.8, 26.1), (-82.6, 27.5), (-82.7, 28.7), (-83.6, 29.8), (-84.4, 30.0),
    (-85.4, 29.7), (-86.5, 30.4), (-88.0, 30.3), (-89.3, 30.2), (-89.4, 29.0), (-91.5, 29.5),
    (-93.8, 29.7), (-94.8, 29.3), (-96.4, 28.4), (-97.2, 27.6), (-97.2, 25.9), (-97.7, 24.0),
    (-97.8, 22.3), (-97.2, 20.6), (-96.1, 19.2), (-94.5, 18.2), (-92.5, 18.6), (-90.4, 19.8),
    (-90.4, 21.0), (-88.0, 21.5), (-86.8, 21.3), (-87.4, 19.5), (-88.3, 17.5), (-88.7, 15.9),
    (-85.0, 15.9), (-83.3, 15.0), (-83.7, 11.0), (-82.0, 9.0), (-79.5, 9.5), (-77.3, 8.5),
    (-77.0, 7.0), (-80.0, 7.3), (-82.0, 8.2), (-85.7, 10.0), (-87.5, 13.0), (-90.0, 13.9),
    (-92.2, 14.6), (-94.0, 16.0), (-96.5, 15.7), (-98.5, 16.3), (-100.5, 17.2), (-102.2, 17.9),
    (-105.0, 19.3), (-105.7, 20.5), (-106.4, 23.2), (-108.0, 24.5), (-109.9, 22.9), (-112.0, 24.8),
    (-114.1, 28.0), (-115.5, 29.8), (-116.6, 31.8), (-117.1, 32.5), (-117.9, 33.6), (-118.4, 33.9),
    (-119.0, 34.1), (-120.6, 34.5), (-120.9, 35.4), (-121.9, 36.6), (-122.5, 37.7), (-123.0, 38.2),
    (-123.7, 39.0), (-124.4, 40.4), (-124.2, 41.8), (-124.5, 42.8), (-124.0, 44.6), (-123.9, 46.2),
    (-124.7, 48.4), (-125.8, 49.0), (-128.0, 50.8), (-127.5, 52.0), (-129.5, 53.5), (-130.5, 54.6),
    (-133.0, 55.0), (-134.5, 56.5), (-136.5, 58.0), (-139.7, 59.5), (-143.9, 60.0), (-146.5, 60.6),
    (-148.5, 59.9), (-150.4, 59.2), (-151.9, 59.6), (-153.5, 58.8), (-154.5, 57.8), (-156.5, 56.9),
    (-159.0, 55.8), (-161.0, 55.3), (-164.5, 54.6), (-162.7, 55.9), (-160.0, 56.6), (-157.5, 58.2),
    (-158.9, 58.7), (-161.8, 58.6), (-162.2, 59.9), (-164.6, 60.8), (-165.3, 62.3), (-164.8, 63.2),
    (-161.0, 63.8), (-161.0, 64.5), (-165.4, 64.5),
)  # fmt: skip

#: How far out to sea (degrees) a point still has the coast's climate: a cell of a coarse grid whose centre is
#: just offshore holds much land (Houston's, on Galveston Bay).
COAST_DEGREES = 0.5

# Gaussian kernels (radius in degrees, longitude scaled by cos(latitude); weight) beyond each station's own (its
# ``radius``, weight 1): a wider neighbourhood filling gaps between stations, and everything, so that a point far
# from every station (another continent) still gets the nearest ones' climate.
_WIDE = ((8.0, 0.003), (30.0, 1e-5))


@dataclass(frozen=True)
class Normals:
    """The climatology at some points (arrays of one shape): annual mean and harmonic coefficients of the
    temperature (K), diurnal range (K), mean precipitation (mm/day) with its harmonic coefficients (shares of the
    mean), the share of wet days, and whether the point is land."""

    tas: np.ndarray
    tas_cos: np.ndarray
    tas_sin: np.ndarray
    dtr: np.ndarray
    pr: np.ndarray
    pr_cos: np.ndarray
    pr_sin: np.ndarray
    wet: np.ndarray
    land: np.ndarray


def _east(lon: np.ndarray) -> np.ndarray:
    """Longitudes in [-180, 180)."""
    return np.mod(lon + 180.0, 360.0) - 180.0


def on_land(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """True where (lat, lon) lies inside :data:`NORTH_AMERICA` (even-odd rule on the polygon's edges) or within
    :data:`COAST_DEGREES` of its coast: the coast's cells have the coast's climate, as the counties there do."""
    x, y = _east(np.asarray(lon, dtype=np.float64)).ravel(), np.asarray(lat, dtype=np.float64).ravel()
    poly = np.asarray(NORTH_AMERICA)
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0[None, :] > y[:, None]) != (y1[None, :] > y[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (y[:, None] - y0) * (x1 - x0) / (y1 - y0)
    inside = np.count_nonzero(crosses & (x[:, None] < at), axis=1) % 2 == 1
    # distance to the nearest edge, longitude scaled by cos(latitude)
    scale = np.cos(np.deg2rad(y))[:, None]
    ex, ey = (x1 - x0) * scale, (y1 - y0)[None, :]
    px, py = (x[:, None] - x0) * scale, y[:, None] - y0
    along = np.clip((px * ex + py * ey) / np.maximum(ex * ex + ey * ey, 1e-12), 0.0, 1.0)
    near = np.hypot(px - along * ex, py - along * ey).min(axis=1) < COAST_DEGREES
    return (inside | near).reshape(np.shape(lat))


def _columns(stations: tuple[Station, ...]) -> dict[str, np.ndarray]:
    """The interpolated quantities of each station: what enters the weighted means."""
    s = np.asarray([row[1:] for row in stations], dtype=np.float64).T
    lat, lon, cold, warm, peak, dtr, precip, p_amp, p_peak, wet, radius = s
    amp = (warm - cold) / 2.0
    t_angle, p_angle = 2.0 * np.pi * (peak - 0.5) / 365.0, 2.0 * np.pi * (p_peak - 0.5) / 365.0
    return {
        "lat": lat,
        "lon": lon,
        "radius": radius,
        "tas": (warm + cold) / 2.0 + 273.15,
        "tas_cos": amp * np.cos(t_angle),
        "tas_sin": amp * np.sin(t_angle),
        "dtr": dtr,
        "pr": precip / 365.25,
        "pr_cos": p_amp * np.cos(p_angle),
        "pr_sin": p_amp * np.sin(p_angle),
        "wet": wet,
    }


_LAND, _SEA = _columns(LAND), _columns(SEA)
_FIELDS = ("tas", "tas_cos", "tas_sin", "dtr", "pr", "pr_cos", "pr_sin", "wet")


def _interpolate(lat: np.ndarray, lon: np.ndarray, table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gaussian-weighted means of the stations' quantities at each point (1-D arrays)."""
    dy = lat[:, None] - table["lat"][None, :]
    dx = (_east(lon[:, None] - table["lon"][None, :])) * np.cos(np.deg2rad((lat[:, None] + table["lat"]) / 2.0))
    d2 = dx * dx + dy * dy
    weights = np.exp(-d2 / (2.0 * table["radius"] ** 2))
    for radius, share in _WIDE:
        weights += share * np.exp(-d2 / (2.0 * radius * radius))
    weights /= weights.sum(axis=1, keepdims=True)
    return {name: weights @ table[name] for name in _FIELDS}


def normals(lat: np.ndarray | float, lon: np.ndarray | float) -> Normals:
    """The climatology at the broadcast points (lat, lon): land points from the land stations, sea points from
    the islands' and the ocean's (remembered for the last few grids: every file of an archive asks again)."""
    lat_a, lon_a = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    return _normals(lat_a.tobytes(), lat_a.shape, lon_a.tobytes(), lon_a.shape)


@functools.lru_cache(maxsize=8)
def _normals(lat_bytes: bytes, lat_shape: tuple[int, ...], lon_bytes: bytes, lon_shape: tuple[int, ...]) -> Normals:
    """:func:`normals` of the points given as bytes (hashable, so that they can be remembered); read-only."""
    lat = np.frombuffer(lat_bytes, dtype=np.float64).reshape(lat_shape)
    lon = np.frombuffer(lon_bytes, dtype=np.float64).reshape(lon_shape)
    lat_b, lon_b = np.broadcast_arrays(lat, lon)
    flat_lat, flat_lon = lat_b.ravel(), lon_b.ravel()
    land = on_land(flat_lat, flat_lon)
    out = {name: np.empty(flat_lat.shape) for name in _FIELDS}
    for mask, table in ((land, _LAND), (~land, _SEA)):
        if mask.any():
            for name, values in _interpolate(flat_lat[mask], flat_lon[mask], table).items():
                out[name][mask] = values
    shape = lat_b.shape
    fields = {name: values.reshape(shape) for name, values in out.items()} | {"land": land.reshape(shape)}
    for values in fields.values():
        values.flags.writeable = False
    return Normals(**fields)
