"""What a synthetic archive looks like: variables, years, calendar, grid, encoding, holes (a frozen spec), and
its grid and time axes."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, fields

import cftime
import numpy as np

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

#: Climate styles: ``closed_form`` (the default: simple closed-form values whose every value tests can recompute,
#: what the golden records hold) and ``us_normals`` (values whose normals follow the observed U.S. ones, for the
#: demo and pictures; :mod:`climnorm.synth.us_normals`).
STYLES: tuple[str, ...] = ("closed_form", "us_normals")

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

LAT_SOUTH, LAT_NORTH = -60.0, 90.0  # the real archive's latitude span (cell edges)


#: The first year after which a scenario's own warming (SynthSpec.warming) adds up.
WARMING_FROM = 2014


@dataclass(frozen=True)
class Climate:
    """How one member under one scenario differs from the plain closed form: a steady offset in K (and a few
    percent more precipitation per K), its own weather (``noise`` shifts the pseudo-noise phases) and a warming in
    K per decade after :data:`WARMING_FROM`."""

    offset: float = 0.0
    noise: int = 0
    warming: float = 0.0

    def kelvin(self, years: np.ndarray) -> np.ndarray:
        """The member's temperature difference from the plain closed form in each year."""
        return self.offset + self.warming * np.maximum(years - WARMING_FROM, 0.0) / 10.0


@dataclass(frozen=True)
class SynthSpec:
    """What synthetic archive to write: model/run names, variables, years, calendar, grid and encoding.

    ``variables``: any of pr, tas, tasmax, tasmin. ``scenarios``: "historical" covers ``historical_years``,
    any other name ``scenario_years`` (both inclusive). ``resolution``: the grid spacing in degrees, see
    :func:`grid`; ``box`` = (lat_min, lat_max, lon_min, lon_max) on cell centres, lon in 0..360 (negative
    values are taken as their 0..360 twins), wrapping across 0 when lon_min > lon_max. ``layout``: see
    :data:`LAYOUTS`. ``time_at_end_of_day`` stamps 00:00 of the next day (as CESM does); only ``time_bnds``
    then tells the date. ``holes``: fraction of values missing, see :func:`hole_codes`. ``version_years``:
    years that also get a ``_v1.1`` file, its values changed as :data:`VERSION_CHANGES` says. ``offset``,
    ``noise`` and ``warming`` make a member and its scenarios differ the way real ones do (:class:`Climate`).
    ``style``: which values, see :data:`STYLES`.
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
    offset: float = 0.0
    noise: int = 0
    warming: tuple[tuple[str, float], ...] = ()
    style: str = "closed_form"

    def climate(self, scenario: str) -> Climate:
        """This member's climate under ``scenario`` (warming: K per decade after 2014, by scenario)."""
        return Climate(self.offset, self.noise, dict(self.warming).get(scenario, 0.0))

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
        check_variable(variable)
    if not spec.scenarios:
        raise ValueError("SynthSpec.scenarios is empty: give e.g. ('historical',) or ('historical', 'ssp245')")
    check_calendar(spec.calendar)
    check_style(spec.style)
    for name in ("historical_years", "scenario_years"):
        first, last = getattr(spec, name)
        if int(first) > int(last):
            raise ValueError(f"SynthSpec.{name} = ({first}, {last}) is an empty range (first year > last year)")
    _validate_encoding(spec)
    for year in spec.version_years:
        if not any(year in scenario_years(spec, s) for s in spec.scenarios):
            raise ValueError(f"version year {year} is in no scenario's years of this spec")
    grid(spec)  # raises when the box holds no cell


def _validate_encoding(spec: SynthSpec) -> None:
    """Raise ValueError naming the first invalid layout, grid or encoding setting of ``spec``."""
    if spec.layout not in LAYOUTS:
        raise ValueError(f"unknown layout {spec.layout!r}; expected one of {', '.join(LAYOUTS)}")
    if spec.lon_convention not in ("0_360", "-180_180"):
        raise ValueError(f"unknown lon_convention {spec.lon_convention!r}; expected '0_360' or '-180_180'")
    if not spec.resolution > 0:
        raise ValueError(f"resolution must be > 0 degrees, got {spec.resolution}")
    for span in (LAT_NORTH - LAT_SOUTH, 360.0):
        cells = span / spec.resolution
        if abs(cells - round(cells)) > 1e-6:
            raise ValueError(f"resolution {spec.resolution} does not divide {span:g} degrees into whole cells")
    if not 0.0 <= spec.holes < 1.0:
        raise ValueError(f"holes must be a fraction in [0, 1), got {spec.holes}")
    if not 0 <= spec.complevel <= 9:
        raise ValueError(f"complevel must be 0..9, got {spec.complevel}")
    if spec.box is not None and len(spec.box) != 4:
        raise ValueError(f"box must be (lat_min, lat_max, lon_min, lon_max), got {spec.box!r}")


def check_variable(variable: str) -> None:
    """Raise ValueError unless ``variable`` is one this module can synthesise."""
    if variable not in VARIABLES:
        raise ValueError(f"unknown variable {variable!r}; synthetic data exists for {', '.join(VARIABLES)}")


def check_style(style: str) -> None:
    """Raise ValueError unless ``style`` is one of :data:`STYLES`."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")


def check_calendar(calendar: str) -> None:
    """Raise ValueError unless ``calendar`` is a supported CF calendar name."""
    if calendar not in CALENDARS:
        raise ValueError(f"unknown calendar {calendar!r}; expected one of {', '.join(CALENDARS)}")


# --------------------------------------------------------------------------------------------------- grid


def grid(spec: SynthSpec) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude cell centres (float64) of the spec's grid, after box, convention and order."""
    r = float(spec.resolution)
    nlat = round((LAT_NORTH - LAT_SOUTH) / r)
    nlon = round(360.0 / r)
    lat = LAT_SOUTH + r * (np.arange(nlat, dtype=np.float64) + 0.5)
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
    check_calendar(calendar)
    units = f"days since {int(year):04d}-01-01"
    return round(float(cftime.date2num(cftime.datetime(int(year) + 1, 1, 1, calendar=calendar), units, calendar)))


def day_fraction(calendar: str, year: int, month: int, day: int) -> float:
    """Time argument of :func:`closed_form` for a date: ``(dayofyear - 0.5) / days_in_year`` in calendar."""
    check_calendar(calendar)
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
