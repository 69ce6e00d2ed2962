"""The normals' products (docs/normals.md), one declaration each: the daily normal, its smoothed form, and the
normals of monthly, seasonal and annual values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from climnorm.numerics.periods import SEASONS, PeriodYears, total_units
from climnorm.products.spec import (
    DaySlots,
    Periods,
    PeriodStep,
    ProductSettings,
    ProductSpec,
    Source,
    YearContext,
    by_mean,
)
from climnorm.types import T_Aggregation


@dataclass(frozen=True)
class DayValues:
    """A year's day-slot field is the daily normal's yearly value as it is; no state."""

    def add(self, year: int, values: np.ndarray) -> Mapping[str, np.ndarray]:
        return {"daily": values}

    def carry(self, year: int, values: np.ndarray) -> None:
        """Nothing to keep."""

    def previous_years(self, years: tuple[int, ...]) -> tuple[int, ...]:
        return ()

    def fork(self) -> DayValues:
        return self


def by_units(units: str | None) -> tuple[T_Aggregation, float]:
    """How months of daily values combine: water fluxes (kg m-2 s-1, mm day-1) are totalled in mm, the rest
    averaged; returns the aggregation and the scale of a day's value in the total."""
    try:
        return "sum", total_units(units)[0]
    except ValueError:
        return "mean", 1.0


def _period_years(context: YearContext) -> PeriodYears:
    kind, scale = by_units(context.units)
    return PeriodYears(context.scheme, kind, scale, context.settings.completeness)


DAYS = Source("days", lambda context: DayValues(), by_mean)
PERIODS = Source("periods", _period_years, by_units)


def _smoothing(settings: ProductSettings) -> Mapping[str, Any]:
    return {"smoothing": dict(settings.smoothing_config)}


def _smoothing_attrs(settings: ProductSettings) -> Mapping[str, str]:
    return {"smoothing": settings.smoothing.describe()}


def _completeness(settings: ProductSettings) -> Mapping[str, Any]:
    rule = settings.completeness_config
    return {"monthly_completeness": rule if isinstance(rule, str) else dict(rule)}


def _completeness_attrs(settings: ProductSettings) -> Mapping[str, str]:
    return {"monthly_completeness": settings.completeness.name}


def _period_comment(mean: str, total: str) -> Any:
    def comment(aggregation: T_Aggregation, settings: ProductSettings) -> str:
        return f"{mean if aggregation == 'mean' else total}, then the mean over the window's years"

    return comment


DAILY = ProductSpec("daily", "daily climate normal", DaySlots(), DAYS, "daily", named=False)

DAILY_SMOOTHED = ProductSpec(
    "daily_smoothed",
    "smoothed daily climate normal",
    DaySlots(),
    DAYS,
    "daily",
    fingerprint=_smoothing,
    file_attrs=_smoothing_attrs,
    comment=lambda aggregation, s: f"smoothed: {s.smoothing.describe()}",
    finish=lambda s: s.smoothing,
)

MONTHLY = ProductSpec(
    "monthly",
    "monthly climate normal",
    Periods(tuple(PeriodStep(f"{m:02d}", m, 1) for m in range(1, 13)), "month"),
    PERIODS,
    "monthly",
    fingerprint=_completeness,
    file_attrs=_completeness_attrs,
    window_statistics=True,
    comment=_period_comment("the mean of each month's daily values", "each month's total of its daily values"),
)

SEASONAL = ProductSpec(
    "seasonal",
    "seasonal climate normal",
    Periods(tuple(PeriodStep(name, months[0], 3, -1 if months[0] == 12 else 0) for name, months in SEASONS), "season"),
    PERIODS,
    "seasonal",
    fingerprint=_completeness,
    file_attrs=_completeness_attrs,
    window_statistics=True,
    comment=_period_comment(
        "the mean of each season's monthly means (DJF: December of the previous year)",
        "each season's total of its monthly totals (DJF: December of the previous year)",
    ),
    uses_previous_year=True,
    version=2,  # 2: season labels as a character array (1: variable-length strings)
)

ANNUAL = ProductSpec(
    "annual",
    "annual climate normal",
    Periods((PeriodStep("year", 1, 12),)),
    PERIODS,
    "annual",
    fingerprint=_completeness,
    file_attrs=_completeness_attrs,
    window_statistics=True,
    comment=_period_comment(
        "the mean of each calendar year's monthly means", "each calendar year's total of its monthly totals"
    ),
)

NORMALS = (DAILY, DAILY_SMOOTHED, MONTHLY, SEASONAL, ANNUAL)
