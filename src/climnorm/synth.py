"""Synthetic NEX-GDDP-CMIP6-style archives whose every value has a closed form, so tests know the truth.

Each file holds one year of one daily variable on a regular grid, laid out and encoded like the real archive
(float32, ``_FillValue = missing_value = 1e20``, zlib, one time step per chunk). Each value is
``closed_form(variable, year, day_fraction, lat, lon, version)``, where ``day_fraction`` is the fraction of
the year at the middle of the step's *date*: ``(dayofyear - 0.5) / days_in_year`` in the file's calendar
(see :func:`day_fraction`). :func:`expected_value` recomputes it for any calendar date, and
:func:`hole_codes` says which values were written as missing.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import cftime
import netCDF4
import numpy as np

from climnorm import __version__

log = logging.getLogger(__name__)

__all__ = [
    "CALENDARS",
    "FILL_VALUE",
    "HOLE_FILL",
    "HOLE_NAN",
    "HOLE_NAN_SHARE",
    "HOLE_VALID",
    "LAYOUTS",
    "VARIABLES",
    "VARIABLE_ATTRS",
    "VERSIONS",
    "VERSION_CHANGES",
    "ArchiveFile",
    "ProgressCallback",
    "SynthSpec",
    "archive_plan",
    "closed_form",
    "day_fraction",
    "days_in_year",
    "expected_value",
    "file_name",
    "file_path",
    "grid",
    "hole_codes",
    "hole_mask",
    "scenario_years",
    "time_axis",
    "write_archive",
    "write_year",
]

#: Fill value of the data variables, as in the real archive (also written as ``missing_value``).
FILL_VALUE = np.float32(1e20)

#: Variables this module can synthesise.
VARIABLES: tuple[str, ...] = ("pr", "tas", "tasmax", "tasmin")

#: Calendar names accepted (CF names; aliases are written to the file as given).
CALENDARS: tuple[str, ...] = (
    "noleap",
    "365_day",
    "360_day",
    "standard",
    "gregorian",
    "proleptic_gregorian",
    "julian",
    "all_leap",
    "366_day",
)

#: Directory layouts: ``var`` = {root}/{var}/{scenario}/file,
#: ``s3`` = {root}/{model}/{scenario}/{variant}/{var}/file (the public S3 bucket's).
LAYOUTS: tuple[str, ...] = ("var", "s3")

#: How each file version differs from v1.0: (kelvin added to tas/tasmax/tasmin, factor applied to pr).
VERSION_CHANGES: dict[str, tuple[float, float]] = {
    "v1.0": (0.0, 1.0),
    "v1.1": (1.0, 1.5),
    "v2.0": (2.0, 2.0),
}
VERSIONS: tuple[str, ...] = tuple(VERSION_CHANGES)

#: Hole codes returned by :func:`hole_codes`.
HOLE_VALID, HOLE_FILL, HOLE_NAN = 0, 1, 2
#: Share of the missing values written as NaN instead of the fill value (both read back as missing).
HOLE_NAN_SHARE = 0.25

#: CF attributes of each variable, close to the real NEX-GDDP-CMIP6 files.
VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "pr": {
        "units": "kg m-2 s-1",
        "standard_name": "precipitation_flux",
        "long_name": "Precipitation",
        "cell_methods": "area: time: mean",
    },
    "tas": {
        "units": "K",
        "standard_name": "air_temperature",
        "long_name": "Daily Near-Surface Air Temperature",
        "cell_methods": "area: mean time: mean",
    },
    "tasmax": {
        "units": "K",
        "standard_name": "air_temperature",
        "long_name": "Daily Maximum Near-Surface Air Temperature",
        "cell_methods": "area: mean time: maximum",
    },
    "tasmin": {
        "units": "K",
        "standard_name": "air_temperature",
        "long_name": "Daily Minimum Near-Surface Air Temperature",
        "cell_methods": "area: mean time: minimum",
    },
}

#: Called after each file of :func:`write_archive` with (path written, files done, files in total).
ProgressCallback = Callable[[Path, int, int], None]

_LAT_SOUTH, _LAT_NORTH = -60.0, 90.0  # the real archive's latitude span (cell edges)
_BLOCK_VALUES = 8_000_000  # values computed per block when writing (~64 MB of float64)


@dataclass(frozen=True)
class SynthSpec:
    """What synthetic archive to write: model/run names, variables, years, calendar, grid and encoding.

    ``variables``: any of pr, tas, tasmax, tasmin. ``scenarios``: "historical" covers ``historical_years``,
    any other name ``scenario_years`` (both inclusive). ``resolution``: the grid spacing in degrees, see
    :func:`grid`; ``box`` = (lat_min, lat_max, lon_min, lon_max) on cell centres, lon in 0..360 (negative
    values are taken as their 0..360 twins), wrapping across 0 when lon_min > lon_max. ``layout``: see
    :data:`LAYOUTS`. ``time_at_end_of_day`` stamps 00:00 of the next day (as CESM does); only ``time_bnds``
    then tells the date. ``holes``: fraction of values missing, see :func:`hole_codes`. ``version_years``:
    years that also get a ``_v1.1`` file, its values changed as :data:`VERSION_CHANGES` says.
    Lists are accepted and stored as tuples; invalid settings raise ValueError on construction.
    """

    model: str = "SYNTH-ESM"
    variant: str = "r1i1p1f1"
    grid_label: str = "gn"
    variables: tuple[str, ...] = ("tas",)
    scenarios: tuple[str, ...] = ("historical",)
    historical_years: tuple[int, int] = (1950, 2014)
    scenario_years: tuple[int, int] = (2015, 2100)
    calendar: str = "noleap"
    resolution: float = 0.25
    box: tuple[float, float, float, float] | None = None
    layout: str = "var"
    time_bnds: bool = False
    time_at_end_of_day: bool = False
    shuffle: bool = True
    complevel: int = 1
    holes: float = 0.0
    version_years: tuple[int, ...] = ()
    lon_convention: str = "0_360"
    lat_descending: bool = False
    time_units: str = "days since 1950-01-01"

    def __post_init__(self) -> None:
        """Turn lists into tuples (so YAML/CLI input works) and reject invalid settings early."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        _validate(self)


def _validate(spec: SynthSpec) -> None:
    """Raise ValueError naming the first invalid setting of ``spec``."""
    if not spec.variables:
        raise ValueError("SynthSpec.variables is empty: give at least one of " + ", ".join(VARIABLES))
    for variable in spec.variables:
        _check_variable(variable)
    if not spec.scenarios:
        raise ValueError("SynthSpec.scenarios is empty: give e.g. ('historical',) or ('historical', 'ssp245')")
    _check_calendar(spec.calendar)
    for name in ("historical_years", "scenario_years"):
        first, last = getattr(spec, name)
        if int(first) > int(last):
            raise ValueError(f"SynthSpec.{name} = ({first}, {last}) is an empty range (first year > last year)")
    if spec.layout not in LAYOUTS:
        raise ValueError(f"unknown layout {spec.layout!r}; expected one of {', '.join(LAYOUTS)}")
    if spec.lon_convention not in ("0_360", "-180_180"):
        raise ValueError(f"unknown lon_convention {spec.lon_convention!r}; expected '0_360' or '-180_180'")
    if not spec.resolution > 0:
        raise ValueError(f"resolution must be > 0 degrees, got {spec.resolution}")
    for span in (_LAT_NORTH - _LAT_SOUTH, 360.0):
        cells = span / spec.resolution
        if abs(cells - round(cells)) > 1e-6:
            raise ValueError(f"resolution {spec.resolution} does not divide {span:g} degrees into whole cells")
    if not 0.0 <= spec.holes < 1.0:
        raise ValueError(f"holes must be a fraction in [0, 1), got {spec.holes}")
    if not 0 <= spec.complevel <= 9:
        raise ValueError(f"complevel must be 0..9, got {spec.complevel}")
    if spec.box is not None and len(spec.box) != 4:
        raise ValueError(f"box must be (lat_min, lat_max, lon_min, lon_max), got {spec.box!r}")
    for year in spec.version_years:
        if not any(year in scenario_years(spec, s) for s in spec.scenarios):
            raise ValueError(f"version year {year} is in no scenario's years of this spec")
    grid(spec)  # raises when the box holds no cell


def _check_variable(variable: str) -> None:
    """Raise ValueError unless ``variable`` is one this module can synthesise."""
    if variable not in VARIABLES:
        raise ValueError(f"unknown variable {variable!r}; synthetic data exists for {', '.join(VARIABLES)}")


def _check_calendar(calendar: str) -> None:
    """Raise ValueError unless ``calendar`` is a supported CF calendar name."""
    if calendar not in CALENDARS:
        raise ValueError(f"unknown calendar {calendar!r}; expected one of {', '.join(CALENDARS)}")


# --------------------------------------------------------------------------------------------------- grid


def grid(spec: SynthSpec) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude cell centres (float64) of the spec's grid, after box, convention and order."""
    r = float(spec.resolution)
    nlat = round((_LAT_NORTH - _LAT_SOUTH) / r)
    nlon = round(360.0 / r)
    lat = _LAT_SOUTH + r * (np.arange(nlat, dtype=np.float64) + 0.5)
    lon = r * (np.arange(nlon, dtype=np.float64) + 0.5)
    if spec.box is not None:
        lat_min, lat_max, lon_min, lon_max = (float(v) for v in spec.box)
        lon_min = lon_min + 360.0 if lon_min < 0 else lon_min
        lon_max = lon_max + 360.0 if lon_max < 0 else lon_max
        lat = lat[(lat >= lat_min) & (lat <= lat_max)]
        if lon_min <= lon_max:
            lon = lon[(lon >= lon_min) & (lon <= lon_max)]
        else:  # the box wraps across longitude 0
            lon = lon[(lon >= lon_min) | (lon <= lon_max)]
        if lat.size == 0 or lon.size == 0:
            raise ValueError(f"box {spec.box} holds no cell centre of the {r:g} degree grid")
    if spec.lon_convention == "-180_180":
        lon = np.sort(np.where(lon >= 180.0, lon - 360.0, lon))
    if spec.lat_descending:
        lat = lat[::-1].copy()
    return lat, lon


# --------------------------------------------------------------------------------------------------- time


def days_in_year(calendar: str, year: int) -> int:
    """Number of days (= time steps of a file) of ``year`` in ``calendar``."""
    _check_calendar(calendar)
    units = f"days since {int(year):04d}-01-01"
    return round(float(cftime.date2num(cftime.datetime(int(year) + 1, 1, 1, calendar=calendar), units, calendar)))


def day_fraction(calendar: str, year: int, month: int, day: int) -> float:
    """Time argument of :func:`closed_form` for a date: ``(dayofyear - 0.5) / days_in_year`` in calendar."""
    _check_calendar(calendar)
    date = cftime.datetime(int(year), int(month), int(day), calendar=calendar)
    return (date.dayofyr - 0.5) / days_in_year(calendar, year)


def time_axis(spec: SynthSpec, year: int) -> tuple[list[cftime.datetime], np.ndarray, np.ndarray]:
    """Dates (00:00 of each day), time stamps and bounds (in ``spec.time_units``) of one file-year."""
    n = days_in_year(spec.calendar, year)
    start = cftime.datetime(int(year), 1, 1, calendar=spec.calendar)
    dates = [start + _dt.timedelta(days=i) for i in range(n + 1)]
    edges = np.asarray(cftime.date2num(dates, spec.time_units, spec.calendar), dtype=np.float64)
    bounds = np.stack([edges[:-1], edges[1:]], axis=1)
    stamps = bounds[:, 1].copy() if spec.time_at_end_of_day else bounds.mean(axis=1)
    return dates[:-1], stamps, bounds


def scenario_years(spec: SynthSpec, scenario: str) -> range:
    """Years written for ``scenario``: ``historical_years`` for "historical", ``scenario_years`` otherwise."""
    first, last = spec.historical_years if scenario == "historical" else spec.scenario_years
    return range(int(first), int(last) + 1)


# -------------------------------------------------------------------------------------------- closed form


def _phase(years: np.ndarray, frac: np.ndarray, k: int) -> np.ndarray:
    """Pseudo-random phase in [0, 2π) from (year, day fraction) — the classic sin-hash, exact in float64."""
    x = np.sin(years * 12.9898 + frac * 78.233 + k * 37.719) * 43758.5453
    return (2.0 * np.pi) * (x - np.floor(x))


def _wave(a: np.ndarray, ka: int, pa: np.ndarray, b: np.ndarray, kb: int, pb: np.ndarray) -> np.ndarray:
    """Separable wave ``sin(ka*a + pa) * cos(kb*b + pb)``: cheap on (day, lat, 1) x (day, 1, lon) grids."""
    return np.sin(ka * a + pa) * np.cos(kb * b + pb)


def _tas(y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Daily mean temperature in K (v1.0)."""
    sin_phi, cos_phi = np.sin(phi), np.cos(phi)
    base = 288.0 - 40.0 * sin_phi**2  # 288 K at the equator, 248 K at the poles
    seasonal = -16.0 * sin_phi * np.cos(2.0 * np.pi * (s - 0.04))  # coldest mid-January in the north
    trend = 0.03 * (y - 1950.0)
    pattern = (3.0 * cos_phi) * np.sin(2.0 * lam) + (1.5 * np.sin(2.0 * phi)) * np.cos(3.0 * lam)
    noise = 1.2 * _wave(phi, 7, _phase(y, s, 1), lam, 5, _phase(y, s, 2)) + 0.6 * _wave(
        phi, 13, _phase(y, s, 3), lam, 11, _phase(y, s, 4)
    )
    return base + seasonal + trend + pattern + noise


def _spread(variable: str, y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Positive distance in K from tas to tasmax (>= 3.5 K) or to tasmin (>= 3 K)."""
    if variable == "tasmax":
        return 4.5 + 2.0 * np.cos(phi) + _wave(phi, 3, _phase(y, s, 5), lam, 4, _phase(y, s, 6))
    return 3.8 + 1.5 * np.cos(phi) + 0.8 * _wave(phi, 5, _phase(y, s, 7), lam, 3, _phase(y, s, 8))


def _pr(y: np.ndarray, s: np.ndarray, phi: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Precipitation flux in kg m-2 s-1 (v1.0): >= 0, exact zeros where the raw signal is negative."""
    cos_phi = np.cos(phi)
    wet = (1.0 + 4.0 * cos_phi**2) * (1.0 + 0.5 * np.sin(phi) * np.cos(2.0 * np.pi * (s - 0.55)))
    trend = 1.0 + 0.002 * (y - 1950.0)
    pattern = 1.0 + (0.3 * cos_phi) * np.sin(3.0 * lam)
    noise = 3.0 * _wave(phi, 9, _phase(y, s, 9), lam, 7, _phase(y, s, 10)) + 1.5 * _wave(
        phi, 17, _phase(y, s, 11), lam, 13, _phase(y, s, 12)
    )
    return 1.5e-5 * np.maximum(wet * trend * pattern + noise - 1.5, 0.0)


def closed_form(
    variable: str,
    years: np.ndarray | float,
    day_of_year_float: np.ndarray | float,
    lat: np.ndarray | float,
    lon: np.ndarray | float,
    version: str = "v1.0",
) -> np.ndarray:
    """Exact (float64) value of ``variable`` for broadcastable years, day fractions, lat and lon (degrees).

    ``day_of_year_float`` is the fraction of the year at the middle of the date, ``(dayofyear - 0.5) /
    days_in_year`` in the file's calendar (:func:`day_fraction`): step ``i`` of a file is ``(i + 0.5) / n``.
    Value = seasonal cycle (fraction, latitude) + linear trend in year + fixed spatial pattern + pseudo-noise:
    separable waves in (lat, lon) whose phases are a sin-hash of (year, fraction), so every day and year
    differ. tasmax = tas + spread > 0, tasmin = tas - spread > 0; pr = max(signal, 0) * 1.5e-5 >= 0.
    ``version`` applies :data:`VERSION_CHANGES` (v1.1: +1 K for temperatures, pr x 1.5).
    """
    _check_variable(variable)
    if version not in VERSION_CHANGES:
        raise ValueError(f"unknown version {version!r}; expected one of {', '.join(VERSIONS)}")
    add_kelvin, pr_factor = VERSION_CHANGES[version]
    y = np.asarray(years, dtype=np.float64)
    s = np.asarray(day_of_year_float, dtype=np.float64)
    phi = np.deg2rad(np.asarray(lat, dtype=np.float64))
    lam = np.deg2rad(np.asarray(lon, dtype=np.float64))
    if variable == "pr":
        out = _pr(y, s, phi, lam)
        return out * pr_factor if pr_factor != 1.0 else out
    out = _tas(y, s, phi, lam)
    if variable == "tasmax":
        out = out + _spread(variable, y, s, phi, lam)
    elif variable == "tasmin":
        out = out - _spread(variable, y, s, phi, lam)
    return out + add_kelvin if add_kelvin else out


def expected_value(
    variable: str,
    calendar: str,
    year: int,
    month: int,
    day: int,
    lat: np.ndarray | float,
    lon: np.ndarray | float,
    version: str = "v1.0",
) -> np.ndarray:
    """Exact value written for the date (year, month, day) of a ``calendar`` file at lat/lon (broadcast)."""
    return closed_form(variable, year, day_fraction(calendar, year, month, day), lat, lon, version=version)


# -------------------------------------------------------------------------------------------------- holes


def _global_cell_index(
    resolution: float, lat: np.ndarray | float, lon: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of cells on the global grid, the same whatever the box, lon convention or lat order."""
    r = float(resolution)
    ilat = np.rint((np.asarray(lat, dtype=np.float64) - _LAT_SOUTH) / r - 0.5).astype(np.uint64)
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
    _check_variable(variable)
    ilat, ilon = _global_cell_index(spec.resolution, lat, lon)
    step = np.asarray(day_index, dtype=np.uint64)
    if spec.holes <= 0.0:
        return np.zeros(np.broadcast_shapes(step.shape, ilat.shape, ilon.shape), dtype=np.int8)
    code = np.uint64(VARIABLES.index(variable))
    with np.errstate(over="ignore"):
        time_key = ((np.uint64(int(year)) * np.uint64(400) + step) * np.uint64(8) + code) << np.uint64(32)
        z = time_key + ((ilat << np.uint64(16)) | ilon) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    codes = np.where(u < spec.holes, np.int8(HOLE_FILL), np.int8(HOLE_VALID))
    codes[u < spec.holes * HOLE_NAN_SHARE] = HOLE_NAN
    return codes


def hole_mask(
    spec: SynthSpec,
    variable: str,
    year: int,
    day_index: np.ndarray | int,
    lat: np.ndarray | float,
    lon: np.ndarray | float,
) -> np.ndarray:
    """True where the value is missing (fill value or NaN) — see :func:`hole_codes`."""
    return hole_codes(spec, variable, year, day_index, lat, lon) != HOLE_VALID


# -------------------------------------------------------------------------------------------------- files


def file_name(spec: SynthSpec, variable: str, scenario: str, year: int, version: str = "v1.0") -> str:
    """NEX-GDDP-CMIP6 file name; versions other than v1.0 get the ``_{version}`` suffix."""
    suffix = "" if version == "v1.0" else f"_{version}"
    return f"{variable}_day_{spec.model}_{scenario}_{spec.variant}_{spec.grid_label}_{int(year)}{suffix}.nc"


def file_path(
    out_dir: str | os.PathLike[str],
    spec: SynthSpec,
    variable: str,
    scenario: str,
    year: int,
    version: str = "v1.0",
) -> Path:
    """Where the file goes under ``out_dir`` in the spec's layout."""
    root = Path(out_dir)
    if spec.layout == "var":
        folder = root / variable / scenario
    else:
        folder = root / spec.model / scenario / spec.variant / variable
    return folder / file_name(spec, variable, scenario, year, version)


@dataclass(frozen=True)
class ArchiveFile:
    """One file of a synthetic archive: what it holds (the path comes from :func:`file_path`)."""

    variable: str
    scenario: str
    year: int
    version: str = "v1.0"


def archive_plan(spec: SynthSpec) -> list[ArchiveFile]:
    """Every file of the archive: variable x scenario x year, plus a v1.1 file for each version year."""
    plan: list[ArchiveFile] = []
    for variable in spec.variables:
        for scenario in spec.scenarios:
            for year in scenario_years(spec, scenario):
                plan.append(ArchiveFile(variable, scenario, year))
                if year in spec.version_years:
                    plan.append(ArchiveFile(variable, scenario, year, "v1.1"))
    return plan


def _blocks(n_steps: int, n_cells: int) -> Iterator[tuple[int, int]]:
    """Step ranges [start, stop) of about _BLOCK_VALUES values each, bounding memory when writing."""
    size = max(1, _BLOCK_VALUES // max(1, n_cells))
    for start in range(0, n_steps, size):
        yield start, min(n_steps, start + size)


def _block_values(
    spec: SynthSpec,
    variable: str,
    year: int,
    version: str,
    steps: tuple[int, int],
    n_steps: int,
    lat: np.ndarray,
    lon: np.ndarray,
) -> np.ndarray:
    """float32 data of steps [start, stop) of a file, holes written as 1e20 or NaN."""
    index = np.arange(steps[0], steps[1])[:, None, None]
    frac = (index + 0.5) / n_steps
    values = closed_form(variable, float(year), frac, lat[None, :, None], lon[None, None, :], version=version)
    data = values.astype(np.float32)
    if spec.holes > 0.0:
        codes = hole_codes(spec, variable, year, index, lat[None, :, None], lon[None, None, :])
        data[codes == HOLE_FILL] = FILL_VALUE
        data[codes == HOLE_NAN] = np.nan
    return data


def _global_attrs(spec: SynthSpec, variable: str, scenario: str, year: int, version: str) -> dict[str, str]:
    """Global attributes like the real archive's, plus the ``synthetic = "climnorm"`` marker."""
    return {
        "Conventions": "CF-1.7",
        "title": f"Synthetic NEX-GDDP-CMIP6-like {variable} for {spec.model} {scenario} {year}",
        "activity": "NEX-GDDP-CMIP6 (synthetic)",
        "institution": "climnorm synthetic data generator",
        "source": "climnorm.synth closed-form values",
        "source_id": spec.model,
        "model_id": spec.model,
        "cmip6_source_id": spec.model,
        "scenario": scenario,
        "experiment_id": scenario,
        "variant_label": spec.variant,
        "grid_label": spec.grid_label,
        "variable_id": variable,
        "frequency": "day",
        "resolution_id": f"{spec.resolution:g} degree",
        "version": version,
        "synthetic": "climnorm",
        "synthetic_calendar": spec.calendar,
        "synthetic_time_argument": "closed_form(variable, year, (dayofyear - 0.5) / days_in_year, lat, lon)",
        "history": f"written by climnorm {__version__} climnorm.synth.write_year",
    }


def write_year(
    path: str | os.PathLike[str],
    spec: SynthSpec,
    variable: str,
    scenario: str,
    year: int,
    version: str = "v1.0",
) -> Path:
    """Write one year of ``variable`` to ``path`` (via a temporary file and rename) and return the path."""
    _check_variable(variable)
    if version not in VERSION_CHANGES:
        raise ValueError(f"unknown version {version!r}; expected one of {', '.join(VERSIONS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    lat, lon = grid(spec)
    _, stamps, bounds = time_axis(spec, year)
    n = stamps.size
    try:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.set_fill_off()
            ds.setncatts(_global_attrs(spec, variable, scenario, year, version))
            ds.createDimension("time", None)
            ds.createDimension("lat", lat.size)
            ds.createDimension("lon", lon.size)
            tvar = ds.createVariable("time", "f8", ("time",))
            tvar.setncatts({"units": spec.time_units, "calendar": spec.calendar, "axis": "T", "standard_name": "time"})
            tvar.long_name = "time"
            if spec.time_bnds:
                ds.createDimension("bnds", 2)
                tvar.bounds = "time_bnds"
                ds.createVariable("time_bnds", "f8", ("time", "bnds"))[:] = bounds
            tvar[:] = stamps
            for name, values, units, standard_name, axis, long_name in (
                ("lat", lat, "degrees_north", "latitude", "Y", "latitude"),
                ("lon", lon, "degrees_east", "longitude", "X", "longitude"),
            ):
                cvar = ds.createVariable(name, "f8", (name,))
                cvar.setncatts({"units": units, "standard_name": standard_name, "axis": axis, "long_name": long_name})
                cvar[:] = values
            var = ds.createVariable(
                variable,
                "f4",
                ("time", "lat", "lon"),
                zlib=spec.complevel > 0,
                complevel=max(spec.complevel, 1),
                shuffle=spec.shuffle,
                chunksizes=(1, lat.size, lon.size),
                fill_value=FILL_VALUE,
            )
            var.missing_value = FILL_VALUE
            var.setncatts(VARIABLE_ATTRS[variable])
            var.set_auto_maskandscale(False)
            _write_data(var, spec, variable, year, version, n, lat, lon)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("wrote %s (%d steps, %d x %d cells)", path, n, lat.size, lon.size)
    return path


def _write_data(
    var: netCDF4.Variable,
    spec: SynthSpec,
    variable: str,
    year: int,
    version: str,
    n_steps: int,
    lat: np.ndarray,
    lon: np.ndarray,
) -> None:
    """Compute blocks of steps in a helper thread while the previous block is compressed and written."""
    blocks = list(_blocks(n_steps, lat.size * lon.size))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[np.ndarray] = pool.submit(
            _block_values, spec, variable, year, version, blocks[0], n_steps, lat, lon
        )
        for i, (start, stop) in enumerate(blocks):
            data = pending.result()
            if i + 1 < len(blocks):
                pending = pool.submit(_block_values, spec, variable, year, version, blocks[i + 1], n_steps, lat, lon)
            var[start:stop, :, :] = data


def _write_one(out_dir: Path, spec: SynthSpec, item: ArchiveFile) -> Path:
    """Write one planned file (a top-level function so process pools can run it)."""
    path = file_path(out_dir, spec, item.variable, item.scenario, item.year, item.version)
    return write_year(path, spec, item.variable, item.scenario, item.year, version=item.version)


def write_archive(
    out_dir: str | os.PathLike[str],
    spec: SynthSpec,
    progress: ProgressCallback | None = None,
    workers: int = 1,
) -> list[Path]:
    """Write every file of :func:`archive_plan` under ``out_dir``; ``workers`` > 1 writes in processes."""
    root = Path(out_dir)
    plan = archive_plan(spec)
    log.info("writing %d synthetic files under %s", len(plan), root)
    paths: list[Path] = []
    if workers <= 1:
        for done, item in enumerate(plan, start=1):
            paths.append(_write_one(root, spec, item))
            if progress is not None:
                progress(paths[-1], done, len(plan))
        return paths
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_write_one, root, spec, item) for item in plan]
        for done, future in enumerate(futures, start=1):
            paths.append(future.result())
            if progress is not None:
                progress(paths[-1], done, len(plan))
    return paths
