"""The closed-form values of a synthetic archive, and which of them are written as missing.

Each value is ``closed_form(variable, year, day_fraction, lat, lon, version)``, where ``day_fraction`` is the
fraction of the year at the middle of the step's *date* (:func:`~climnorm.synth.spec.day_fraction`);
:func:`expected_value` recomputes it for any calendar date, and :func:`hole_codes` says which values were written
as missing.
"""

from __future__ import annotations

import numpy as np

from climnorm.synth.spec import (
    HOLE_FILL,
    HOLE_NAN,
    HOLE_NAN_SHARE,
    HOLE_VALID,
    LAT_SOUTH,
    VARIABLES,
    VERSION_CHANGES,
    VERSIONS,
    Climate,
    SynthSpec,
    check_style,
    check_variable,
    day_fraction,
)
from climnorm.synth.us_normals import us_normals_value
from climnorm.synth.waves import phase as _phase
from climnorm.synth.waves import wave as _wave

_PLAIN = Climate()


def _tas(y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray, k: int = 0) -> np.ndarray:
    """Daily mean temperature in K (v1.0); ``k`` shifts the noise phases (a member's own weather)."""
    sin_phi, cos_phi = np.sin(phi), np.cos(phi)
    base = 288.0 - 40.0 * sin_phi**2  # 288 K at the equator, 248 K at the poles
    seasonal = -16.0 * sin_phi * np.cos(2.0 * np.pi * (s - 0.04))  # coldest mid-January in the north
    trend = 0.03 * (y - 1950.0)
    pattern = (3.0 * cos_phi) * np.sin(2.0 * lam) + (1.5 * np.sin(2.0 * phi)) * np.cos(3.0 * lam)
    noise = 1.2 * _wave(phi, 7, _phase(y, s, 1 + k), lam, 5, _phase(y, s, 2 + k)) + 0.6 * _wave(
        phi, 13, _phase(y, s, 3 + k), lam, 11, _phase(y, s, 4 + k)
    )
    return base + seasonal + trend + pattern + noise


def _spread(variable: str, y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray, k: int = 0) -> np.ndarray:
    """Positive distance in K from tas to tasmax (>= 3.5 K) or to tasmin (>= 3 K)."""
    if variable == "tasmax":
        return 4.5 + 2.0 * np.cos(phi) + _wave(phi, 3, _phase(y, s, 5 + k), lam, 4, _phase(y, s, 6 + k))
    return 3.8 + 1.5 * np.cos(phi) + 0.8 * _wave(phi, 5, _phase(y, s, 7 + k), lam, 3, _phase(y, s, 8 + k))


def _pr(y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray, k: int = 0) -> np.ndarray:
    """Precipitation flux in kg m-2 s-1 (v1.0): >= 0, exact zeros where the raw signal is negative."""
    cos_phi = np.cos(phi)
    wet = (1.0 + 4.0 * cos_phi**2) * (1.0 + 0.5 * np.sin(phi) * np.cos(2.0 * np.pi * (s - 0.55)))
    trend = 1.0 + 0.002 * (y - 1950.0)
    pattern = 1.0 + (0.3 * cos_phi) * np.sin(3.0 * lam)
    noise = 3.0 * _wave(phi, 9, _phase(y, s, 9 + k), lam, 7, _phase(y, s, 10 + k)) + 1.5 * _wave(
        phi, 17, _phase(y, s, 11 + k), lam, 13, _phase(y, s, 12 + k)
    )
    return 1.5e-5 * np.maximum(wet * trend * pattern + noise - 1.5, 0.0)


def closed_form(
    variable: str,
    years: np.ndarray | float,
    day_of_year_float: np.ndarray | float,
    lat: np.ndarray | float,
    lon: np.ndarray | float,
    version: str = "v1.0",
    climate: Climate = _PLAIN,
    style: str = "closed_form",
) -> np.ndarray:
    """Exact (float64) value of ``variable`` for broadcastable years, day fractions, lat and lon (degrees).

    ``day_of_year_float`` is the fraction of the year at the middle of the date, ``(dayofyear - 0.5) /
    days_in_year`` in the file's calendar (:func:`day_fraction`): step ``i`` of a file is ``(i + 0.5) / n``.
    Value = seasonal cycle (fraction, latitude) + linear trend in year + fixed spatial pattern + pseudo-noise:
    separable waves in (lat, lon) whose phases are a sin-hash of (year, fraction), so every day and year
    differ. tasmax = tas + spread > 0, tasmin = tas - spread > 0; pr = max(signal, 0) * 1.5e-5 >= 0.
    ``version`` applies :data:`VERSION_CHANGES` (v1.1: +1 K for temperatures, pr x 1.5); ``climate`` is the
    member's and scenario's own (:class:`Climate`; the default changes nothing). ``style`` "us_normals" gives
    the values of :func:`~climnorm.synth.us_normals.us_normals_value` instead (:data:`STYLES`).
    """
    check_variable(variable)
    check_style(style)
    if version not in VERSION_CHANGES:
        raise ValueError(f"unknown version {version!r}; expected one of {', '.join(VERSIONS)}")
    add_kelvin, pr_factor = VERSION_CHANGES[version]
    y = np.asarray(years, dtype=np.float64)
    s = np.asarray(day_of_year_float, dtype=np.float64)
    lat_deg, lon_deg = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if style == "us_normals":
        out = us_normals_value(variable, y, s, lat_deg, lon_deg, climate)
    else:
        out = _closed_form(variable, y, s, np.deg2rad(lat_deg), np.deg2rad(lon_deg), climate)
    if variable == "pr":
        return out * pr_factor if pr_factor != 1.0 else out
    return out + add_kelvin if add_kelvin else out


def _closed_form(
    variable: str, y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray, climate: Climate
) -> np.ndarray:
    """The default style's value of ``variable`` (v1.0) at latitude ``phi`` and longitude ``lam`` (radians)."""
    k = 13 * climate.noise
    warmer = climate.kelvin(y) if climate != _PLAIN else None
    if variable == "pr":
        out = _pr(y, s, phi, lam, k)
        if warmer is not None:
            out = out * (1.0 + 0.03 * warmer)  # a warmer member or climate is wetter, a few percent per kelvin
        return out
    out = _tas(y, s, phi, lam, k)
    if variable == "tasmax":
        out = out + _spread(variable, y, s, phi, lam, k)
    elif variable == "tasmin":
        out = out - _spread(variable, y, s, phi, lam, k)
    if warmer is not None:
        out = out + warmer
    return out


def expected_value(
    variable: str,
    calendar: str,
    year: int,
    month: int,
    day: int,
    lat: np.ndarray | float,
    lon: np.ndarray | float,
    *,
    style: str = "closed_form",
    climate: Climate = _PLAIN,
    version: str = "v1.0",
) -> np.ndarray:
    """Exact value written for the date (year, month, day) of a ``calendar`` file at lat/lon (broadcast)."""
    frac = day_fraction(calendar, year, month, day)
    return closed_form(variable, year, frac, lat, lon, version=version, climate=climate, style=style)


# -------------------------------------------------------------------------------------------------- holes


def _global_cell_index(
    resolution: float, lat: np.ndarray | float, lon: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of cells on the global grid, the same whatever the box, lon convention or lat order."""
    r = float(resolution)
    ilat = np.rint((np.asarray(lat, dtype=np.float64) - LAT_SOUTH) / r - 0.5).astype(np.uint64)
    ilon = np.rint(np.mod(np.asarray(lon, dtype=np.float64), 360.0) / r - 0.5).astype(np.int64)
    return ilat, np.mod(ilon, round(360.0 / r)).astype(np.uint64)


def hole_codes(
    spec: SynthSpec,
    variable: str,
    year: int,
    day_index: np.ndarray | int,
    lat: np.ndarray | float,
    lon: np.ndarray | float,
) -> np.ndarray:
    """Per value: HOLE_VALID, HOLE_FILL (written as 1e20) or HOLE_NAN (written as NaN), broadcast over inputs.

    ``day_index`` is the 0-based step of the year's file. A splitmix64 hash of (year, step, variable, global
    cell) gives u in [0, 1): missing when u < holes, NaN when u < holes * HOLE_NAN_SHARE (all versions).
    """
    check_variable(variable)
    ilat, ilon = _global_cell_index(spec.resolution, lat, lon)
    step = np.asarray(day_index, dtype=np.uint64)
    if spec.holes <= 0.0:
        return np.zeros(np.broadcast_shapes(step.shape, ilat.shape, ilon.shape), dtype=np.int8)
    code = np.uint64(VARIABLES.index(variable))
    with np.errstate(over="ignore"):
        time_key = ((np.uint64(int(year)) * np.uint64(400) + step) * np.uint64(8) + code) << np.uint64(32)
        # each member (noise) has holes of its own
        z = time_key + ((ilat << np.uint64(16)) | ilon) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(1 + spec.noise)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    codes = np.where(u < spec.holes, np.int8(HOLE_FILL), np.int8(HOLE_VALID))
    codes[u < spec.holes * HOLE_NAN_SHARE] = HOLE_NAN
    return codes
