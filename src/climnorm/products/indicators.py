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
from climnorm.numerics.indicators import YearDays, index_values, year_days
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
ABOVE = (">", ">=", "gt", "ge")
BELOW = ("<", "<=", "lt", "le")
DATE = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


@dataclass(frozen=True)
class Index:
    """One index, declared as xclim declares it: its input variable, parameters with xclim's defaults
    (quantities as text with units), the CF units, standard name (none for counts of days: CF's "number_of_days_
    with_..." names are of units 1, not days) and long name of its values, what they do within
    a year (CF method: sum, maximum, minimum, mean; point for a date), the frequencies it can take, the operators
    its ``op`` accepts, and the NOAA NCEI normals product it corresponds to, if any."""

    name: str
    variable: str
    long_name: str  # with {thresh}, {op}, {window}, {per} from its parameters
    units: str
    within: str
    params: Mapping[str, Any] = field(default_factory=dict)
    standard_name: str | None = None
    freqs: tuple[T_Freq, ...] = FREQS
    ops: tuple[str, ...] = ()
    xclim: str = ""  # xclim's indicator, where its name differs
    noaa: str = ""
    is_dayofyear: bool = False

    @property
    def base(self) -> bool:
        """Whether its thresholds are day-of-year percentiles of a base period (`climnorm.runner.thresholds`)."""
        return "base_period" in self.params

    @property
    def xclim_indicator(self) -> str:
        return self.xclim or self.name


def _count(name: str, variable: str, what: str, thresh: str, op: str, ops: tuple[str, ...], **kw: Any) -> Index:
    return Index(
        name, variable, f"number of days with {what} {{op}} {{thresh}}", "days", "sum", {"thresh": thresh, "op": op},
        ops=ops, **kw,
    )  # fmt: skip


def _degree_days(name: str, thresh: str, below: bool, **kw: Any) -> Index:
    what = "below" if below else "above"
    return Index(
        name, "tas", f"cumulative degrees of daily mean temperature {what} {{thresh}}", "K d", "sum",
        {"thresh": thresh}, f"integral_wrt_time_of_air_temperature_{'deficit' if below else 'excess'}", **kw,
    )  # fmt: skip


def _percentile(name: str, variable: str, what: str, per: int, op: str, ops: tuple[str, ...]) -> Index:
    """A count of days beyond a day-of-year percentile of a base period (5-day window, no bootstrap, as xclim)."""
    return Index(
        name, variable, f"number of days with {what} {{op}} its {{per}}th day-of-year percentile of {{base_period}}",
        "days", "sum", {"base_period": None, "per": per, "op": op}, ops=ops,
    )  # fmt: skip


def _extreme(name: str, variable: str, long_name: str, within: str) -> Index:
    return Index(name, variable, long_name, "K", within, standard_name="air_temperature")


INDICES: tuple[Index, ...] = (
    _count("tx_days_above", "tasmax", "maximum temperature", "25.0 degC", ">", ABOVE, noaa="ANN-TMAX-AVGNDS-GRTH090"),
    _count("tx_days_below", "tasmax", "maximum temperature", "25.0 degC", "<", BELOW, noaa="ANN-TMAX-AVGNDS-LSTH032"),
    _count("tn_days_above", "tasmin", "minimum temperature", "20.0 degC", ">", ABOVE),
    _count("tn_days_below", "tasmin", "minimum temperature", "-10.0 degC", "<", BELOW, noaa="ANN-TMIN-AVGNDS-LSTH032"),
    _count("tg_days_above", "tas", "mean temperature", "10.0 degC", ">", ABOVE),
    _count("tg_days_below", "tas", "mean temperature", "10.0 degC", "<", BELOW),
    Index(
        "frost_days", "tasmin", "number of days with minimum temperature below {thresh}", "days", "sum",
        {"thresh": "0 degC"},
    ),
    Index(
        "ice_days", "tasmax", "number of days with maximum temperature below {thresh}", "days", "sum",
        {"thresh": "0 degC"},
    ),
    Index(
        "tropical_nights", "tasmin", "number of days with minimum temperature {op} {thresh}", "days", "sum",
        {"thresh": "20.0 degC", "op": ">"}, ops=ABOVE,
    ),
    _degree_days("heating_degree_days", "17.0 degC", True, noaa="ANN-HTDD-NORMAL"),
    _degree_days("cooling_degree_days", "18 degC", False, noaa="ANN-CLDD-NORMAL"),
    _degree_days("growing_degree_days", "4.0 degC", False, noaa="ANN-GRDD-BASE50"),
    _extreme("tx_max", "tasmax", "maximum daily maximum temperature", "maximum"),
    _extreme("tx_min", "tasmax", "minimum daily maximum temperature", "minimum"),
    _extreme("tn_max", "tasmin", "maximum daily minimum temperature", "maximum"),
    _extreme("tn_min", "tasmin", "minimum daily minimum temperature", "minimum"),
    _extreme("tg_mean", "tas", "mean daily mean temperature", "mean"),
    Index(
        "wetdays", "pr", "number of days with daily precipitation {op} {thresh}", "days", "sum",
        {"thresh": "1.0 mm/day", "op": ">="},
        ops=ABOVE, noaa="ANN-PRCP-AVGNDS-GE001HI",
    ),
    Index(
        "dry_days", "pr", "number of days with daily precipitation {op} {thresh}", "days", "sum",
        {"thresh": "0.2 mm/d", "op": "<"},
        ops=BELOW,
    ),
    Index(
        "prcptot", "pr", "total precipitation of days with precipitation at or above {thresh}", "mm", "sum",
        {"thresh": "0 mm/d"}, "lwe_thickness_of_precipitation_amount", xclim="precip_accumulation",
        noaa="ANN-PRCP-NORMAL",
    ),
    Index(
        "max_1day_precipitation_amount", "pr", "maximum 1-day total precipitation", "mm d-1", "maximum",
        standard_name="lwe_precipitation_rate", xclim="rx1day",
    ),
    Index(
        "max_n_day_precipitation_amount", "pr", "maximum {window}-day total precipitation", "mm", "maximum",
        {"window": 1}, "lwe_thickness_of_precipitation_amount",
    ),
    Index(
        "last_spring_frost", "tasmin",
        "last day of minimum temperature {op} {thresh} for at least {window} days before {before_date}", "1", "point",
        {"thresh": "0 degC", "op": "<", "before_date": "07-01", "window": 1}, freqs=("YS",), ops=BELOW,
        is_dayofyear=True,
    ),
    Index(
        "first_day_tn_below", "tasmin",
        "first day of minimum temperature {op} {thresh} for at least {window} days after {after_date}", "1", "point",
        {"thresh": "0 degC", "op": "<", "after_date": "07-01", "window": 1}, freqs=("YS",), ops=BELOW,
        is_dayofyear=True,
    ),
    Index(
        "frost_free_season_length", "tasmin",
        "days between the first {window} days of minimum temperature {op} {thresh} and the first {window} days "
        "below it after {mid_date}", "days", "sum",
        {"thresh": "0.0 degC", "window": 5, "mid_date": "07-01", "op": ">="}, freqs=("YS",), ops=ABOVE,
    ),
    _percentile("tx90p", "tasmax", "maximum temperature", 90, ">", ABOVE),
    _percentile("tx10p", "tasmax", "maximum temperature", 10, "<", BELOW),
    _percentile("tn90p", "tasmin", "minimum temperature", 90, ">", ABOVE),
    _percentile("tn10p", "tasmin", "minimum temperature", 10, "<", BELOW),
    Index(
        "days_over_precip_doy_thresh", "pr",
        "number of days with precipitation {op} the {per}th percentile of wet days (>= {thresh}) of {base_period}",
        "days", "sum", {"base_period": None, "per": 95, "thresh": "1 mm/day", "op": ">"}, ops=ABOVE,
    ),
    Index(
        "fraction_over_precip_doy_thresh", "pr",
        "fraction of precipitation on days {op} the {per}th percentile of wet days (>= {thresh}) of {base_period}",
        "1", "sum", {"base_period": None, "per": 95, "thresh": "1 mm/day", "op": ">"}, ops=ABOVE,
    ),
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
        return self.index.long_name.format(**dict(self.params))

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
        return self.freq == "QS-DEC" or (self.index.name == "max_n_day_precipitation_amount" and self.window > 1)

    def shaping(self) -> dict[str, Any]:
        """What shapes its values, for resume: the index, the frequency and the computed parameters."""
        return {"index": self.index.name, "freq": self.freq, **{k: v for k, v in self.values}}

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
    unknown = sorted(set(data) - set(index.params))
    if unknown:
        accepted = ", ".join(index.params) or "none"
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)} (it takes: {accepted})")
    params = {**index.params, **data}
    if index.base and params.get("base_period") is None:
        raise ValueError(f"{name}: base_period is required (the years of its percentiles, e.g. [1981, 2010])")
    return Indicator(ident, index, freq, tuple(params.items()), tuple(_values(index, params).items()))


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
        for i in self.indicators:
            per_day = None
            if i.index.base:
                per_day = doy_thresholds(self.thresholds[i.id], days.doy, self.scheme.calendar, year)
            values = index_values(i.index.name, days, previous, freq=i.freq, params=dict(i.values), rule=self.rule,
                                  per_day=per_day)  # fmt: skip
            out[i.id] = values.astype(np.float32)
        self.previous = days
        return out

    def carry(self, year: int, values: np.ndarray) -> None:
        self.previous = self._days(year, values)

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

    variable_attrs = {"long_name": indicator.long_name, "units": index.units}
    if index.standard_name:
        variable_attrs["standard_name"] = index.standard_name
    if index.is_dayofyear:
        variable_attrs["is_dayofyear"] = "1"
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
    )
