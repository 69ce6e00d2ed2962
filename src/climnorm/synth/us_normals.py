"""The ``us_normals`` climate style: daily values whose normals are the observed U.S. ones (:mod:`.stations`,
interpolated by :mod:`.geography`), with weather, wet and dry days, and members that warm and change their
precipitation each their own way.

A day's temperature is the station-interpolated seasonal cycle (annual mean and first harmonic) plus a trend, the
member's warming (stronger over land and in the Arctic), a year's anomaly and the day's weather, whose spread is
larger in winter and in continental climates. tasmax and tasmin are tas plus and minus half the diurnal range,
narrower on wet days. A day is wet where the day's precipitation field exceeds the quantile of the place's wet-day
share (more wet days in the wet season); its amount is exponentially distributed around the mean that makes the
normal the observed one, and is exactly 0 on dry days. A member's precipitation grows by 3 % per kelvin of its
warming, plus a pattern of its own that makes some members wetter and others drier in the Southwest and the North.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from climnorm.synth.geography import Normals, normals
from climnorm.synth.spec import Climate
from climnorm.synth.waves import phase, wave

#: (latitude, longitude) wavenumbers of the day's temperature weather and of its precipitation field, in
#: radians: features of about 15 to 60 degrees, like synoptic systems.
_TAS_WAVES = ((8, 6), (13, 10), (19, 15), (5, 9))
_PR_WAVES = ((11, 9), (17, 14), (23, 19), (29, 26))
_STRIDE = 50  # phase indices per member, so that members' weathers never share a phase
#: logistic(z (a + z² (b + c z²))) is the distribution function of the weather fields (sums of four random
#: waves, whose tails are lighter than a normal's) to within 0.001, fitted on 4.6 million of their values.
_CDF = (1.5606, 0.07728, 0.0020)
_SECONDS_PER_DAY = 86400.0
_TREND_K_PER_YEAR = 0.02  # the observed warming around the 1991-2020 normals, centred on them
_TREND_CENTRE = 2005.5


def us_normals_value(
    variable: str, y: np.ndarray, s: np.ndarray, lat: np.ndarray, lon: np.ndarray, climate: Climate
) -> np.ndarray:
    """Value of ``variable`` (K or kg m-2 s-1) for broadcastable years, day fractions, lat and lon (degrees).

    Computed in place in a few arrays of the full shape (0-d ones for scalars): fresh temporaries for every step
    would cost a file's values as much in page faults as in arithmetic."""
    n = normals(lat, lon)
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    k = _STRIDE * climate.noise
    at = _At(y, s, phi, lam, k)
    if variable == "pr":
        return _pr(n, at, climate, (lat, lon))
    tas = _tas(n, at, climate, lat)
    if variable == "tas":
        return tas
    half_range = _wet_quantile(y, s, phi, lam, k)  # wet days: a narrower range, 0.7 to 1.3 times the mean
    half_range *= -0.6
    half_range += 1.3
    half_range *= 0.5 * n.dtr
    return np.add(tas, half_range, out=tas) if variable == "tasmax" else np.subtract(tas, half_range, out=tas)


def _field(
    y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray, waves: tuple[tuple[int, int], ...], k: int
) -> np.ndarray:
    """The day's weather: a sum of separable waves with hashed phases, of mean 0 and variance len(waves) / 4."""
    out = np.asarray(wave(phi, waves[0][0], phase(y, s, k), lam, waves[0][1], phase(y, s, k + 1)))
    term = np.empty_like(out)
    for i, (ka, kb) in enumerate(waves[1:], start=1):
        np.multiply(np.sin(ka * phi + phase(y, s, k + 2 * i)), np.cos(kb * lam + phase(y, s, k + 2 * i + 1)), out=term)
        out += term
    return out


def _year_anomaly(y: np.ndarray, phi: np.ndarray, lam: np.ndarray, k: int) -> np.ndarray:
    """A year's own anomaly (one large-scale wave per year, of variance 1): years differ, not only days."""
    return 2.0 * wave(phi, 4, phase(y, 0.0, k + 40), lam, 3, phase(y, 0.0, k + 41))


def _seasonal(s: np.ndarray, cos_part: np.ndarray, sin_part: np.ndarray) -> np.ndarray:
    """First harmonic ``cos_part cos(2πs) + sin_part sin(2πs)``, in a new array."""
    angle = 2.0 * np.pi * s
    out = np.asarray(np.multiply(cos_part, np.cos(angle)))
    out += sin_part * np.sin(angle)
    return out


def _amplification(lat: np.ndarray, land: np.ndarray) -> np.ndarray:
    """How much of a member's warming a place sees: more over land, most in the Arctic."""
    return 0.85 + 0.35 * land + 0.8 * np.clip((np.abs(lat) - 55.0) / 15.0, 0.0, 1.0)


@dataclass(frozen=True)
class _At:
    """When and where values are made: years, fractions of the year, latitudes and longitudes (radians), and the
    member's first phase index."""

    y: np.ndarray
    s: np.ndarray
    phi: np.ndarray
    lam: np.ndarray
    k: int


def _tas(n: Normals, at: _At, climate: Climate, lat: np.ndarray) -> np.ndarray:
    """Daily mean temperature in K."""
    y, s, phi, lam, k = at.y, at.s, at.phi, at.lam, at.k
    amplitude = np.maximum(np.hypot(n.tas_cos, n.tas_sin), 1e-6)
    unit = _seasonal(s, n.tas_cos / amplitude, n.tas_sin / amplitude)  # +1 at the warmest, -1 at the coldest day
    warming = (_TREND_K_PER_YEAR * (y - _TREND_CENTRE) + climate.kelvin(y)) * _amplification(lat, n.land)
    base = n.tas + warming + (0.3 + 0.04 * amplitude) * _year_anomaly(y, phi, lam, k)
    # the day's spread: 0.5 K + a quarter of the seasonal amplitude, a third more in winter, a third less in summer
    spread = (0.5 + 0.25 * amplitude) * (2.0 / np.sqrt(len(_TAS_WAVES)))
    out = _field(y, s, phi, lam, _TAS_WAVES, k)
    scale = np.asarray(np.multiply(unit, -0.35 * spread))
    scale += spread
    out *= scale
    out += np.multiply(unit, amplitude, out=unit)
    out += base
    return out


def _wet_quantile(y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray, k: int) -> np.ndarray:
    """The day's precipitation field as a quantile in (0, 1): near 1 on the wettest days."""
    z = _field(y, s, phi, lam, _PR_WAVES, k + 10)
    z *= 2.0 / np.sqrt(len(_PR_WAVES))
    z2 = np.asarray(np.multiply(z, z))
    out = np.asarray(np.multiply(z2, _CDF[2]))  # logistic(z (a + z² (b + c z²)))
    out += _CDF[1]
    out *= z2
    out += _CDF[0]
    out *= -z
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def member_pr_change(noise: int, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """A member's own precipitation change per kelvin of warming, beyond the common 3 %/K: a share of the mean
    over the Southwest and southern Plains and over the northern Plains and Great Lakes, its sign by member."""
    if noise == 0:
        return np.zeros(np.broadcast_shapes(np.shape(lat), np.shape(lon)))
    east = np.mod(lon + 180.0, 360.0) - 180.0
    south_west = np.exp(-((lat - 34.0) ** 2 + ((east + 105.0) * 0.83) ** 2) / (2.0 * 7.0**2))
    north = np.exp(-((lat - 46.0) ** 2 + ((east + 92.0) * 0.7) ** 2) / (2.0 * 9.0**2))
    return 0.14 * np.cos(2.4 * noise + 0.5) * south_west + 0.12 * np.sin(1.9 * noise + 0.3) * north


def _pr(n: Normals, at: _At, climate: Climate, where: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Daily precipitation flux in kg m-2 s-1: exactly 0 on dry days."""
    y, s, phi, lam, k = at.y, at.s, at.phi, at.lam, at.k
    relative = _seasonal(s, n.pr_cos, n.pr_sin)  # the season's share of the mean
    relative += 1.0
    np.maximum(relative, 0.02, out=relative)
    wet_share = np.asarray(np.sqrt(relative))
    wet_share *= n.wet
    np.clip(wet_share, 0.005, 0.9, out=wet_share)
    change = 1.0 + (0.03 + member_pr_change(climate.noise, *where)) * climate.kelvin(y)
    year = 1.0 + 0.1 * _year_anomaly(y, phi, lam, k + 5)
    mean = np.asarray(relative * ((n.pr / _SECONDS_PER_DAY) * np.maximum(change, 0.2) * year))
    mean /= wet_share
    # exponential amounts of mean 1 on the wet days (dry < wet_share), log(1) = 0 exactly on the others
    out = _wet_quantile(y, s, phi, lam, k)
    np.subtract(1.0, out, out=out)  # the share of days wetter than this one
    np.divide(wet_share, out, out=out)
    np.maximum(out, 1.0, out=out)
    np.log(out, out=out)
    out *= mean
    return out
