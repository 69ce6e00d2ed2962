"""Climate indicators: one declaration per index (:data:`INDICES`, xclim's names, parameters and defaults), and
the products a configuration's ``indicators:`` entries make of them (docs/indicators.md).

An index's per-year (or per-month, per-season) values are made from each year's daily values of its variable
(`climnorm.numerics.indicators`), then averaged over the window's years like any period product's: the normal of
an indicator is never the indicator of the mean day.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from climnorm.calendars import SlotScheme
from climnorm.numerics.indicators import YEARLY_KINDS, Kind, YearDays, index_values, months_missing, year_days
from climnorm.numerics.percentiles import doy_thresholds
from climnorm.numerics.periods import Completeness
from climnorm.products.normals import ANNUAL, MONTHLY, SEASONAL
from climnorm.products.spec import Periods, ProductSettings, ProductSpec, Source, YearContext, by_mean
from climnorm.types import T_Aggregation
from climnorm.units import THRESHOLD_UNITS, converter, threshold

T_Freq = Literal["YS", "MS", "QS-DEC"]
FREQS: tuple[T_Freq, ...] = ("YS", "MS", "QS-DEC")
#: The layout of each frequency's values: the annual, monthly and seasonal products' steps.
LAYOUTS: Mapping[str, Periods] = {"YS": ANNUAL.layout, "MS": MONTHLY.layout, "QS-DEC": SEASONAL.layout}  # type: ignore[dict-item]
_KIND = {"tasmax": "temperature", "tasmin": "temperature", "tas": "temperature", "pr": "precipitation"}
_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
ABOVE = (">", "gt", ">=", "ge")
BELOW = ("<", "lt", "<=", "le")
DATE = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
#: What a year's value of each kind is within the year, as a CF method.
_WITHIN = {"max": "maximum", "min": "minimum", "mean": "mean", "rolling_max": "maximum"}
_WITHIN |= {"last_spring_frost": "point", "first_day_below": "point", "fraction": "point"}


@dataclass(frozen=True)
class Index:
    """One index, declared as xclim declares it: its name, input variable, how it is computed (its
    `climnorm.numerics.indicators` kind), the units its indicator declares, its parameters with xclim's defaults
    (quantities as text with units), the comparisons its ``op`` allows, and its long name; also a fixed comparison
    xclim's index takes no ``op`` for, the default percentile of one counting beyond a base period's day-of-year
    percentiles, the CF standard name of its values (none for counts of days: CF's "number_of_days_with_..." names
    are of units 1, not days), and the NOAA NCEI normals product it corresponds to, if any."""

    name: str
    variable: str
    kind: Kind
    units: str
    params: Mapping[str, Any]
    long_name: str  # with {thresh}, {op}, {window}, {per}, {base_period}... from its parameters
    ops: tuple[str, ...] = ()
    fixed_op: str | None = None
    per: float | None = None
    standard_name: str | None = None
    xclim: str = ""  # xclim's indicator, where its name differs
    noaa: str = ""

    @property
    def base(self) -> bool:
        """Whether its thresholds are day-of-year percentiles of a base period (`climnorm.runner.thresholds`)."""
        return self.per is not None

    @property
    def accepted(self) -> tuple[str, ...]:
        """The parameters an entry may give: xclim's, and a base period's years and percentile."""
        return (*self.params, *(("base_period", "per") if self.base else ()))

    @property
    def freqs(self) -> tuple[T_Freq, ...]:
        return ("YS",) if self.kind in YEARLY_KINDS else FREQS

    @property
    def xclim_indicator(self) -> str:
        return self.xclim or self.name

    @property
    def is_dayofyear(self) -> bool:
        return self.kind in ("last_spring_frost", "first_day_below")

    @property
    def cf_units(self) -> str:
        """Its units in files: xclim's, and 1 for a day of year or a fraction."""
        return self.units or "1"

    @property
    def within(self) -> str:
        """The CF method of its values within a year or step: a sum (counts, degree days, totals), an extreme, a
        mean, or a point (a date)."""
        return _WITHIN.get(self.kind, "sum")


def _count(name: str, variable: str, what: str, thresh: str, op: str, **kw: Any) -> Index:
    ops = ABOVE if op in ABOVE else BELOW
    return Index(
        name, variable, "count", "days", {"thresh": thresh, "op": op}, f"number of days with {what} {{op}} {{thresh}}",
        ops, **kw,
    )  # fmt: skip


def _degree_days(name: str, thresh: str, below: bool, **kw: Any) -> Index:
    what = "below" if below else "above"
    return Index(
        name, "tas", "deficit" if below else "excess", "K days", {"thresh": thresh},
        f"cumulative degrees of daily mean temperature {what} {{thresh}}",
        standard_name=f"integral_wrt_time_of_air_temperature_{'deficit' if below else 'excess'}", **kw,
    )  # fmt: skip


def _extreme(name: str, variable: str, kind: Kind, long_name: str) -> Index:
    return Index(name, variable, kind, "K", {}, long_name, standard_name="air_temperature")


def _percentile(name: str, variable: str, what: str, per: int, op: str) -> Index:
    """A count of days beyond a day-of-year percentile of a base period (5-day window, no bootstrap, as xclim)."""
    return Index(
        name, variable, "count_per", "days", {"op": op},
        f"number of days with {what} {{op}} its {{per:g}}th day-of-year percentile of {{base_period}}",
        ABOVE if op in ABOVE else BELOW, per=per,
    )  # fmt: skip


_WET = "the {per:g}th day-of-year percentile of wet days (>= {thresh}) of {base_period}"
_FROST = "minimum temperature {op} {thresh} for at least {window} days"
INDICES: tuple[Index, ...] = (
    _count("tx_days_above", "tasmax", "maximum temperature", "25.0 degC", ">",
           noaa="ANN-TMAX-AVGNDS-GRTH090 (thresh 90 degF, op >=)"),
    _count("tx_days_below", "tasmax", "maximum temperature", "25.0 degC", "<",
           noaa="ANN-TMAX-AVGNDS-LSTH032 (thresh 32 degF, op <=)"),
    _count("tn_days_above", "tasmin", "minimum temperature", "20.0 degC", ">"),
    _count("tn_days_below", "tasmin", "minimum temperature", "-10.0 degC", "<",
           noaa="ANN-TMIN-AVGNDS-LSTH032 (thresh 32 degF, op <=)"),
    _count("tg_days_above", "tas", "mean temperature", "10.0 degC", ">"),
    _count("tropical_nights", "tasmin", "minimum temperature", "20.0 degC", ">"),
    Index("frost_days", "tasmin", "count", "days", {"thresh": "0 degC"},
          "number of days with minimum temperature below {thresh}", fixed_op="<"),
    Index("ice_days", "tasmax", "count", "days", {"thresh": "0 degC"},
          "number of days with maximum temperature below {thresh}", fixed_op="<"),
    _count("wetdays", "pr", "daily precipitation", "1.0 mm/day", ">=",
           noaa="ANN-PRCP-AVGNDS-GE001HI (thresh 0.01 in/day)"),
    _count("dry_days", "pr", "daily precipitation", "0.2 mm/d", "<"),
    _degree_days("heating_degree_days", "17.0 degC", True, noaa="ANN-HTDD-NORMAL (thresh 65 degF)"),
    _degree_days("cooling_degree_days", "18.0 degC", False, noaa="ANN-CLDD-NORMAL (thresh 65 degF)"),
    _degree_days("growing_degree_days", "4.0 degC", False, noaa="ANN-GRDD-BASE50 (thresh 50 degF)"),
    _extreme("tx_max", "tasmax", "max", "maximum daily maximum temperature"),
    _extreme("tx_min", "tasmax", "min", "minimum daily maximum temperature"),
    _extreme("tn_max", "tasmin", "max", "maximum daily minimum temperature"),
    _extreme("tn_min", "tasmin", "min", "minimum daily minimum temperature"),
    _extreme("tg_mean", "tas", "mean", "mean daily mean temperature"),
    Index("max_1day_precipitation_amount", "pr", "max", "mm/day", {}, "maximum 1-day total precipitation",
          standard_name="lwe_precipitation_rate"),
    Index("max_n_day_precipitation_amount", "pr", "rolling_max", "mm", {"window": 1},
          "maximum {window}-day total precipitation", standard_name="lwe_thickness_of_precipitation_amount"),
    Index("prcptot", "pr", "total", "mm", {}, "total precipitation",
          standard_name="lwe_thickness_of_precipitation_amount", xclim="precip_accumulation",
          noaa="ANN-PRCP-NORMAL"),
    Index("wet_precip_accumulation", "pr", "wet_total", "mm", {"thresh": "1 mm/day"},
          "total precipitation of days with precipitation >= {thresh}",
          standard_name="lwe_thickness_of_precipitation_amount"),
    Index("last_spring_frost", "tasmin", "last_spring_frost", "",
          {"thresh": "0 degC", "op": "<", "before_date": "07-01", "window": 1},
          f"last day of {_FROST} before {{before_date}}", BELOW),
    Index("first_day_tn_below", "tasmin", "first_day_below", "",
          {"thresh": "0 degC", "op": "<", "after_date": "07-01", "window": 1},
          f"first day of {_FROST} after {{after_date}}", BELOW),
    Index("frost_free_season_length", "tasmin", "season_length", "days",
          {"thresh": "0 degC", "window": 5, "mid_date": "07-01", "op": ">="},
          "days from the first {window} days of minimum temperature {op} {thresh} to the first {window} days "
          "below it after {mid_date}", ABOVE),
    _percentile("tx90p", "tasmax", "maximum temperature", 90, ">"),
    _percentile("tx10p", "tasmax", "maximum temperature", 10, "<"),
    _percentile("tn90p", "tasmin", "minimum temperature", 90, ">"),
    _percentile("tn10p", "tasmin", "minimum temperature", 10, "<"),
    Index("days_over_precip_doy_thresh", "pr", "count_wet_per", "days", {"thresh": "1 mm/day", "op": ">"},
          f"number of days with precipitation {{op}} {_WET}", ABOVE, per=95),
    Index("fraction_over_precip_doy_thresh", "pr", "fraction", "", {"thresh": "1 mm/day", "op": ">"},
          f"fraction of precipitation on days {{op}} {_WET}", ABOVE, per=95),
)  # fmt: skip
"""Every index climnorm computes, as xclim names and defines it (docs/indicators.md has the table)."""

BY_NAME: Mapping[str, Index] = {index.name: index for index in INDICES}


@dataclass(frozen=True)
class Indicator:
    """One configured indicator: its ``id`` (the output's name), its index, frequency and parameters as given or
    defaulted (``params``, quantities as text) and as computed with (``values``: thresholds in
    :data:`~climnorm.units.THRESHOLD_UNITS`)."""

    id: str
    index: Index
    freq: T_Freq
    params: tuple[tuple[str, Any], ...]
    values: tuple[tuple[str, Any], ...]

    @property
    def variable(self) -> str:
        return self.index.variable

    @property
    def long_name(self) -> str:
        shown = dict(self.params)
        if shown.get("base_period"):
            shown["base_period"] = "{}-{}".format(*shown["base_period"])
        return self.index.long_name.format(**shown)

    @property
    def window(self) -> int:
        return int(dict(self.params).get("window", 1))

    @property
    def base_period(self) -> tuple[int, int] | None:
        """The years of its percentile thresholds, if it has any."""
        years = dict(self.values).get("base_period")
        return (int(years[0]), int(years[1])) if years else None

    @property
    def uses_previous_year(self) -> bool:
        """DJF's December, or a rolling window reaching into the previous December."""
        return self.freq == "QS-DEC" or (self.index.kind == "rolling_max" and self.window > 1)

    def kernel_params(self) -> dict[str, Any]:
        """What its kind computes with: the values but the base period's (which made its thresholds)."""
        return {k: v for k, v in self.values if k not in ("base_period", "per")}

    def shaping(self) -> dict[str, Any]:
        """What shapes its values, for resume: the index, the frequency and the computed parameters (thresholds to
        12 digits, so that one written in other units is the same indicator)."""
        values = {k: float(f"{v:.12g}") if isinstance(v, float) else v for k, v in self.values}
        return {"index": self.index.name, "freq": self.freq, **values}

    def described(self) -> str:
        """Its parameters as a user wrote them: "thresh=90 degF, op=>="."""
        return ", ".join(f"{k}={v}" for k, v in self.params)

    def to_json(self) -> dict[str, Any]:
        """The entry as the configuration gives it (what a manifest record keeps to rebuild its product)."""
        return {"index": self.index.name, "id": self.id, "freq": self.freq, **dict(self.params)}


def resolve(entry: Mapping[str, Any]) -> Indicator:
    """An ``indicators:`` entry checked against its index; ValueError naming the entry's problem."""
    data = dict(entry)
    name = str(data.pop("index", ""))
    index = BY_NAME.get(name)
    if index is None:
        import difflib

        match = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.6)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise ValueError(f"unknown index {name!r}{hint}; known indices: {', '.join(BY_NAME)}")
    ident = str(data.pop("id", None) or name)
    freq = data.pop("freq", "YS")
    if freq not in index.freqs:
        raise ValueError(f"{name}: freq {freq!r} is not one it can take ({', '.join(index.freqs)})")
    unknown = sorted(set(data) - set(index.accepted))
    if unknown:
        accepted = ", ".join(index.accepted) or "none"
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)} (it takes: {accepted})")
    base = {"base_period": None, "per": index.per} if index.base else {}
    params = {**index.params, **base, **data}
    if index.base and params.get("base_period") is None:
        raise ValueError(f"{name}: base_period is required (the years of its percentiles, e.g. [1981, 2010])")
    values = _values(index, params) | ({"op": index.fixed_op} if index.fixed_op else {})
    return Indicator(ident, index, freq, tuple(params.items()), tuple(values.items()))


def _values(index: Index, params: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key == "thresh":
            try:
                values[key] = threshold(str(value), _KIND[index.variable])
            except ValueError as err:
                raise ValueError(f"{index.name}: thresh {err}") from None
        elif key == "op":
            if value not in index.ops:
                raise ValueError(f"{index.name}: op {value!r} is not one of {', '.join(index.ops)}")
            values[key] = _OPS.get(value, value)
        elif key == "window":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31:
                raise ValueError(f"{index.name}: window must be a whole number of days from 1 to 31, not {value!r}")
            values[key] = value
        elif key == "base_period":
            values[key] = _base_period(index, value)
        elif key == "per":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100:
                raise ValueError(f"{index.name}: per must be a percentile between 0 and 100, not {value!r}")
            values[key] = float(value)
        elif key.endswith("_date"):
            if not isinstance(value, str) or not DATE.fullmatch(value):
                raise ValueError(f"{index.name}: {key} must be a month and day 'MM-DD', not {value!r}")
            values[key] = value
        else:
            values[key] = value
    return values


def kind_of(variable: str) -> str:
    """The kind of quantity a variable's indices compare (temperature, precipitation)."""
    return _KIND[variable]


def _base_period(index: Index, value: Any) -> list[int]:
    ok = isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(y, int) for y in value)
    if not ok or value[0] > value[1]:
        raise ValueError(f"{index.name}: base_period must be [first year, last year], not {value!r}")
    return [int(value[0]), int(value[1])]


@dataclass
class IndexYears:
    """A chain's and region's values of every configured indicator on its variable, year after year; what is
    carried from year to year is the previous year's days (DJF's December, a rolling sum reaching back).
    ``thresholds``: the day-of-year percentiles of the indicators that count days beyond them, by id."""

    indicators: tuple[Indicator, ...]
    scheme: SlotScheme
    conversion: tuple[float, float]  # the chain's units to the indices' (K, mm day-1)
    rule: Completeness
    thresholds: Mapping[str, np.ndarray] = field(default_factory=dict)
    previous: YearDays | None = None
    with_previous: set[int] = field(default_factory=set)  # the years whose values took the previous year's

    def add(self, year: int, values: np.ndarray) -> Mapping[str, np.ndarray]:
        days = self._days(year, values)
        previous = self.previous if self.previous is not None and self.previous.year == year - 1 else None
        if previous is not None and any(i.uses_previous_year for i in self.indicators):
            self.with_previous.add(year)
        out = {}
        missing = months_missing(days, self.rule) if self.indicators else None  # the same for every index
        for i in self.indicators:
            per_day = before = None
            if i.index.base:
                per_day = self._per_day(i, days)
                before = self._per_day(i, previous) if previous is not None and i.freq == "QS-DEC" else None
            values = index_values(
                i.index.kind, days, previous, freq=i.freq, params=i.kernel_params(), rule=self.rule,
                per_day=per_day, previous_per_day=before, missing=missing,
            )  # fmt: skip
            out[i.id] = values.astype(np.float32)
        self.previous = days
        return out

    def carry(self, year: int, values: np.ndarray) -> None:
        self.previous = self._days(year, values)

    def _per_day(self, indicator: Indicator, days: YearDays) -> np.ndarray:
        """Each day's percentile threshold of the base period."""
        return doy_thresholds(self.thresholds[indicator.id], days.doy, self.scheme.calendar, days.year)

    def previous_years(self, years: tuple[int, ...]) -> tuple[int, ...]:
        return (years[0] - 1,) if years and years[0] in self.with_previous else ()

    def fork(self) -> IndexYears:
        return IndexYears(
            self.indicators, self.scheme, self.conversion, self.rule, self.thresholds, self.previous,
            set(self.with_previous),
        )  # fmt: skip

    def _days(self, year: int, values: np.ndarray) -> YearDays:
        scale, offset = self.conversion
        days = year_days(values, self.scheme, year, scale)
        if offset:
            days = YearDays(days.year, days.values + offset, days.months, days.doy)
        return days


@dataclass(frozen=True)
class IndicatorSource:
    """Makes a chain's :class:`IndexYears` from the run's indicators on the chain's variable."""

    indicators: tuple[Indicator, ...]

    def __call__(self, context: YearContext) -> IndexYears:
        own = tuple(
            i for i in self.indicators
            if i.variable == context.variable and (not i.index.base or i.id in context.thresholds)
        )  # fmt: skip
        if not own:
            return IndexYears((), context.scheme, (1.0, 0.0), context.settings.completeness)
        units = THRESHOLD_UNITS[kind_of(context.variable)]
        conversion = converter(context.units, units)
        if conversion is None:
            raise ValueError(f"{context.variable} in {context.units!r}: indicators need values convertible to {units}")
        return IndexYears(own, context.scheme, conversion, context.settings.completeness, context.thresholds)


def indicator_specs(indicators: tuple[Indicator, ...]) -> tuple[ProductSpec, ...]:
    """The product of each configured indicator; they share one source, so each year's days are made once."""
    source = Source("indicators", IndicatorSource(indicators), by_mean)
    return tuple(_spec(i, source) for i in indicators)


def _spec(indicator: Indicator, source: Source) -> ProductSpec:
    index = indicator.index

    def fingerprint(settings: ProductSettings) -> Mapping[str, Any]:
        rule = settings.completeness_config
        return {"indicator": indicator.shaping(), "completeness": rule if isinstance(rule, str) else dict(rule)}

    def attrs(settings: ProductSettings) -> Mapping[str, str]:
        return {
            "indicator": index.name,
            "indicator_parameters": indicator.described(),
            "indicator_frequency": indicator.freq,
            "xclim_indicator": index.xclim_indicator,
            "monthly_completeness": settings.completeness.name,
        }

    def comment(aggregation: T_Aggregation, settings: ProductSettings) -> str:
        step = {"YS": "calendar year", "MS": "month", "QS-DEC": "season (DJF: December of the previous year)"}
        return (
            f"{indicator.long_name}, computed for each {step[indicator.freq]} from its daily values ({index.name}"
            f"{', ' + indicator.described() if indicator.params else ''}); then the mean over the window's years"
        )

    variable_attrs: dict[str, Any] = {"long_name": indicator.long_name, "units": index.cf_units}
    if index.standard_name:
        variable_attrs["standard_name"] = index.standard_name
    if index.is_dayofyear:
        variable_attrs["is_dayofyear"] = np.int32(1)  # xclim's mark of a day-of-year value
    return ProductSpec(
        indicator.id,
        f"climate normal of {index.name}",
        LAYOUTS[indicator.freq],
        source,
        indicator.id,
        fingerprint=fingerprint,
        file_attrs=attrs,
        comment=comment,
        uses_previous_year=indicator.uses_previous_year,
        variables=frozenset({indicator.variable}),
        data_name=indicator.id,
        variable_attrs=tuple(variable_attrs.items()),
        within=index.within,
        entry=indicator.to_json(),
        window_statistics=True,
        base_years=tuple(range(indicator.base_period[0], indicator.base_period[1] + 1))
        if indicator.base_period
        else (),
    )
