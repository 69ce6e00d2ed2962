"""The products beside the daily normal (docs/normals.md): smoothed daily normals, and normals of monthly,
seasonal and annual values, all from the same day-slot fields the daily normal is made of.

- :mod:`~climnorm.products.periods`: one year's monthly, seasonal and annual values (completeness rules).
- :mod:`~climnorm.products.windows`: their rolling window sums, and the December carried into DJF.
- :mod:`~climnorm.products.smoothing`: harmonic and running smoothing of a daily normal.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from climnorm.products.periods import (
    SEASONS,
    STRICT,
    WMO,
    Completeness,
    YearPeriods,
    completeness,
    month_spans,
    total_units,
    year_periods,
)
from climnorm.products.smoothing import Smoothing, harmonic_smooth, running_smooth, smoothing
from climnorm.products.windows import PERIOD_PRODUCTS, PeriodWindows
from climnorm.types import PRODUCTS, T_Product

__all__ = [
    "PERIOD_PRODUCTS",
    "PRODUCTS",
    "SEASONS",
    "STRICT",
    "WMO",
    "Completeness",
    "PeriodWindows",
    "Smoothing",
    "YearPeriods",
    "completeness",
    "harmonic_smooth",
    "month_spans",
    "product_path",
    "running_smooth",
    "smoothing",
    "total_units",
    "year_periods",
]


def product_path(daily_path: str, product: T_Product) -> str:
    """The output path of ``product`` beside the daily normal's: ``…_30yr_normal.nc`` → ``…_30yr_monthly_normal.nc``.

    The daily path is unchanged; a name not ending in ``_normal`` gets ``_{product}`` before its suffix.
    """
    if product not in PRODUCTS:
        raise ValueError(f"unknown product {product!r}: one of {', '.join(PRODUCTS)}")
    if product == "daily":
        return daily_path
    path = PurePosixPath(daily_path)
    stem = path.stem
    stem = f"{stem[: -len('_normal')]}_{product}_normal" if stem.endswith("_normal") else f"{stem}_{product}"
    return str(path.with_name(stem + path.suffix))
