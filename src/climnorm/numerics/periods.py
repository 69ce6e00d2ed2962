"""Monthly, seasonal and annual values of one year from its day-slot field (docs/normals.md, "Monthly values").

numpy in, numpy out: no files, no logging, no configuration. A month of a year is made of the dates of that
month in that year, found from the slot scheme: under ``calendar_day`` and ``drop`` a slot's month is its label;
under ``dayofyear`` slot *s* is ordinal day *s* + 1 of the year, so in a common year of a leap calendar slot 59
is 1 March (and slot 365 is not a day of the year). A slot the year does not have (29 February of a common
year) belongs to no month and is never a missing day; under ``drop`` 29 February is not in the field, so
February has its other 28 days.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from climnorm.calendars import SlotScheme, is_leap
from climnorm.types import T_Aggregation, T_LeapDay
from climnorm.units import canonical

SEASONS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("DJF", (12, 1, 2)),
    ("MAM", (3, 4, 5)),
    ("JJA", (6, 7, 8)),
    ("SON", (9, 10, 11)),
)
"""The meteorological seasons and their months; DJF takes December from the previous year."""

SECONDS_PER_DAY = 86400.0
_NOLEAP_MONTHS = np.repeat(np.arange(1, 13), [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass(frozen=True)
class Completeness:
    """A month of a year is missing when more than ``max_missing`` of its days are missing, or more than
    ``max_consecutive`` consecutive ones."""

    max_missing: int
    max_consecutive: int

    def __post_init__(self) -> None:
        if self.max_missing < 0 or self.max_consecutive < 0:
            raise ValueError(f"completeness limits must be >= 0, not {self}")

    @property
    def name(self) -> str:
        """``wmo``, ``strict``, or the two limits spelt out."""
        if self == WMO:
            return "wmo"
        if self == STRICT:
            return "strict"
        return f"max_missing={self.max_missing}, max_consecutive={self.max_consecutive}"


WMO = Completeness(max_missing=10, max_consecutive=4)
"""WMO-No. 1203 (2017) "11/5" rule: missing when 11 or more days, or 5 or more consecutive days, are missing."""
STRICT = Completeness(max_missing=0, max_consecutive=0)
"""No missing day allowed (and what every precipitation total uses)."""


def completeness(rule: str | Mapping[str, int] | Completeness) -> Completeness:
    """The rule ``wmo``, ``strict`` or ``{max_missing: N, max_consecutive: M}`` names; ValueError otherwise."""
    if isinstance(rule, Completeness):
        return rule
    if isinstance(rule, str):
        named = {"wmo": WMO, "strict": STRICT}.get(rule.strip().lower())
        if named is None:
            raise ValueError(f"unknown completeness rule {rule!r}: use wmo, strict or {{max_missing, max_consecutive}}")
        return named
    keys = set(rule)
    if keys != {"max_missing", "max_consecutive"}:
        raise ValueError(f"a completeness rule needs exactly max_missing and max_consecutive, not {sorted(keys)}")
    values = {k: rule[k] for k in keys}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
        raise ValueError(f"completeness limits must be whole numbers, not {values}")
    return Completeness(int(values["max_missing"]), int(values["max_consecutive"]))


def total_units(units: str | None) -> tuple[float, str]:
    """(scale, units) of a total of daily means in ``units``: kg m-2 s-1 × 86400 s is mm; mm day-1 is mm."""
    unit = canonical(units)
    if unit == "kg m-2 s-1":
        return SECONDS_PER_DAY, "mm"
    if unit == "mm day-1":
        return 1.0, "mm"
    raise ValueError(f"cannot total daily means in {units!r}: only kg m-2 s-1 and mm day-1 make a total in mm")


def month_spans(scheme: SlotScheme, year: int) -> np.ndarray:
    """(12, 2) int: per month, the slots [start, stop) holding that month's days of ``year``."""
    return _spans(scheme.calendar, scheme.policy, is_leap(year, scheme.calendar))


@functools.cache
def _spans(calendar: str, policy: T_LeapDay, leap: bool) -> np.ndarray:
    scheme = SlotScheme(calendar, policy)
    month, _ = scheme.labels()
    month = np.array(month, dtype=np.int64)
    if scheme.nslots == 366 and not leap:
        if policy == "dayofyear":
            month = np.append(_NOLEAP_MONTHS, 0)  # ordinal days: the common year's dates, then no day 366
        else:
            month[59] = 0  # 29 February: not a day of this year
    spans = np.zeros((12, 2), dtype=np.int64)
    for m in range(1, 13):
        slots = np.flatnonzero(month == m)
        spans[m - 1] = slots[0], slots[-1] + 1
        assert slots.size == slots[-1] + 1 - slots[0], "a month's slots are contiguous"
    spans.flags.writeable = False
    return spans


def month_missing(miss: np.ndarray, rule: Completeness) -> np.ndarray:
    """Per cell, whether a month with day × cell missing-mask ``miss`` is missing under ``rule``."""
    nmiss = miss.sum(axis=0)
    bad = nmiss > rule.max_missing
    run = rule.max_consecutive + 1
    candidates = np.flatnonzero((nmiss >= run) & ~bad)
    if candidates.size and run <= miss.shape[0]:
        sub = miss[:, candidates]
        counts = np.zeros((sub.shape[0] + 1, sub.shape[1]), dtype=np.int32)
        np.cumsum(sub, axis=0, out=counts[1:])
        bad[candidates] = ((counts[run:] - counts[:-run]) == run).any(axis=0)
    return bad


def monthly_values(
    field: np.ndarray,
    spans: np.ndarray,
    *,
    kind: T_Aggregation,
    scale: float = 1.0,
    rule: Completeness = WMO,
) -> np.ndarray:
    """(12, *cells) float64 monthly values of one year's (slot, *cells) field (NaN = missing day).

    ``kind`` mean: the mean of the month's valid days, missing under ``rule``; sum: the month's total, missing
    when any day is missing. Either is multiplied by ``scale`` (86400 turns kg m-2 s-1 totals into mm).
    """
    if kind == "sum":
        rule = STRICT
    flat = field.reshape(field.shape[0], -1)
    out = np.empty((12, flat.shape[1]), dtype=np.float64)
    for m, (start, stop) in enumerate(spans):
        block = flat[start:stop]
        miss = np.isnan(block)
        total = np.nansum(block, axis=0, dtype=np.float64)
        if kind == "sum":
            value = total * scale
        else:
            valid = (stop - start) - miss.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(valid > 0, total / valid, np.nan) * scale
        out[m] = np.where(month_missing(miss, rule), np.nan, value)
    return out.reshape((12, *field.shape[1:]))


def _combine(months: list[np.ndarray], kind: T_Aggregation) -> np.ndarray:
    """Mean or sum of monthly fields; NaN where any of them is NaN."""
    total = np.sum(months, axis=0)
    return total if kind == "sum" else total / len(months)


def seasonal_values(monthly: np.ndarray, previous_december: np.ndarray | None, kind: T_Aggregation) -> np.ndarray:
    """(4, *cells) DJF, MAM, JJA, SON of one year from its (12, *cells) monthly values.

    DJF takes ``previous_december`` (the previous year's monthly December, or None when that year is not there,
    which makes DJF missing everywhere). A season is missing when any of its months is.
    """
    december = np.full(monthly.shape[1:], np.nan) if previous_december is None else previous_december
    if december.shape != monthly.shape[1:]:
        raise ValueError(f"previous December has shape {december.shape}, the months {monthly.shape[1:]}")
    out = np.empty((4, *monthly.shape[1:]), dtype=np.float64)
    out[0] = _combine([december, monthly[0], monthly[1]], kind)
    for i, (_, months) in enumerate(SEASONS[1:], start=1):
        out[i] = _combine([monthly[m - 1] for m in months], kind)
    return out


def annual_values(monthly: np.ndarray, kind: T_Aggregation) -> np.ndarray:
    """(1, *cells): the calendar year's mean or total of its monthly values, missing when any month is."""
    return _combine(list(monthly), kind)[np.newaxis]


@dataclass(frozen=True)
class YearPeriods:
    """One year's monthly (12, *cells), seasonal (4, *cells) and annual (1, *cells) values, float64."""

    monthly: np.ndarray
    seasonal: np.ndarray
    annual: np.ndarray

    @property
    def december(self) -> np.ndarray:
        """What the next year's DJF needs."""
        return self.monthly[11]

    def by_product(self) -> dict[str, np.ndarray]:
        return {"monthly": self.monthly, "seasonal": self.seasonal, "annual": self.annual}


def year_periods(
    field: np.ndarray,
    scheme: SlotScheme,
    year: int,
    *,
    kind: T_Aggregation,
    scale: float = 1.0,
    rule: Completeness = WMO,
    previous_december: np.ndarray | None = None,
) -> YearPeriods:
    """Monthly, seasonal and annual values of ``year`` from its (slot, *cells) day-slot field."""
    if field.shape[0] != scheme.nslots:
        raise ValueError(f"year {year}: field has {field.shape[0]} slots, the scheme {scheme.nslots}")
    monthly = monthly_values(field, month_spans(scheme, year), kind=kind, scale=scale, rule=rule)
    return YearPeriods(monthly, seasonal_values(monthly, previous_december, kind), annual_values(monthly, kind))


@dataclass
class PeriodYears:
    """One chain's and region's monthly, seasonal and annual values, year after year: the only state carried from
    year to year is the last year's December, which the next year's DJF needs (and which a future scenario inherits
    from the historical run when it forks). Years arrive in increasing order."""

    scheme: SlotScheme
    kind: T_Aggregation
    scale: float = 1.0
    rule: Completeness = WMO
    december: tuple[int, np.ndarray] | None = None  # (year, that year's monthly December)
    with_december: set[int] = field(default_factory=set)  # the years whose DJF had the previous December

    def add(self, year: int, values: np.ndarray) -> dict[str, np.ndarray]:
        """One complete year's (slot, *cells) day-slot field as its monthly, seasonal and annual values; DJF uses
        the December of ``year`` - 1 if that year was added or carried."""
        previous = self.december[1] if self.december is not None and self.december[0] == year - 1 else None
        periods = self._year(year, values, previous)
        if previous is not None:
            self.with_december.add(year)
        self.december = (year, periods.december.copy())
        return periods.by_product()

    def carry(self, year: int, values: np.ndarray) -> None:
        """Keep only the December of ``year`` (a year before the window) for the next year's DJF."""
        self.december = (year, self._year(year, values, None).december.copy())

    def previous_years(self, years: tuple[int, ...]) -> tuple[int, ...]:
        """The year before ``years`` if their first year's DJF took its December (an input of the seasonal values)."""
        return (years[0] - 1,) if years and years[0] in self.with_december else ()

    def fork(self) -> PeriodYears:
        """An independent continuation (a future scenario after the historical run), December included."""
        return PeriodYears(self.scheme, self.kind, self.scale, self.rule, self.december, set(self.with_december))

    def _year(self, year: int, values: np.ndarray, previous: np.ndarray | None) -> YearPeriods:
        return year_periods(
            values, self.scheme, year, kind=self.kind, scale=self.scale, rule=self.rule, previous_december=previous
        )
