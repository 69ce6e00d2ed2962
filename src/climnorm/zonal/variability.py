"""A polygon's interannual variability for the changes' significance test: the detrended standard deviation of
the polygon's own yearly values in the baseline window (IPCC AR6 approach C), never an average of its cells'."""

from __future__ import annotations

import numpy as np

from climnorm.numerics.changes import DETRENDED_STD, TrendSums
from climnorm.zonal.apply import apply_weights
from climnorm.zonal.fields import WindowYears
from climnorm.zonal.grid import Grid
from climnorm.zonal.polygons import PolygonSet
from climnorm.zonal.weights import Weights

VARIABILITY = f"window_{DETRENDED_STD}"
"""The field of a changes' baseline's variability (the statistic of its ``{name}_window_detrended_std``)."""


def polygon_variability(
    weights: Weights, grid: Grid, years: WindowYears, rows: np.ndarray, polygons: PolygonSet
) -> np.ndarray:
    """(rows, slots): each polygon's detrended standard deviation per slot, ddof 0, of its yearly values (the
    area-weighted means of the cells', year by year, as its normal is of the cells' normals); NaN with fewer than
    the file's ``min_years_for_normal`` valid years."""
    n, slots = years.data.shape[:2]
    flat = years.data.reshape(n * slots, *years.data.shape[2:])
    yearly = apply_weights(weights, grid, flat, rows, polygons).values.reshape(len(rows), n, slots)
    trend = TrendSums((len(rows), slots), int(years.years[0]))
    for i, year in enumerate(years.years):
        trend.add(int(year), yearly[:, i])
    return np.where(trend.count < years.min_years, np.nan, trend.detrended_std())
