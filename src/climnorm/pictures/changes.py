"""What a map of a change adds to a map of a normal: its units (a difference: no offset), a diverging colour scale
centred on no change, and over an ensemble's change the IPCC AR6 Atlas's hatching of its robustness category
(diagonal lines: no change or no robust signal; crossed lines: conflicting signals; nothing: robust)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import netCDF4
import numpy as np

from climnorm.errors import PlotError
from climnorm.numerics.changes import CONFLICTING_SIGNAL, NO_CHANGE_OR_NO_SIGNAL
from climnorm.records import OutputRecord
from climnorm.units import canonical
from climnorm.write.orders import change_variable, robustness_variable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize

HATCHES = {NO_CHANGE_OR_NO_SIGNAL: "///", CONFLICTING_SIGNAL: "xxx"}
"""The AR6 Atlas's overlay of each category (robust signals are left clear)."""


def change_display(values: np.ndarray, units: str) -> tuple[np.ndarray, str]:
    """A change in the units people read: a difference of temperatures in °C (the same numbers as K),
    precipitation in mm/day; a percentage and anything else unchanged."""
    unit = canonical(units)
    if unit == "K":
        return values, "°C"
    if unit == "kg m-2 s-1":
        return values * 86400.0, "mm/day"
    return values, units


def diverging(shown: np.ndarray) -> Normalize:
    """A colour scale symmetric about no change."""
    from matplotlib.colors import TwoSlopeNorm

    finite = shown[np.isfinite(shown)]
    top = float(np.max(np.abs(finite))) if finite.size else 1.0
    top = top or 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-top, vmax=top)


def check_combinable(record: OutputRecord, units: str, several: bool) -> None:
    """A relative change of several days or steps is not their combination: refuse to average percentages."""
    if several and units == "%":
        raise PlotError(
            f"{record.path}: a relative change of several days or months is not their mean; map one step "
            "(--day N, or --season of a seasonal product, or an annual product)"
        )


def hatch_robustness(ax: Axes, output_dir: Path, record: OutputRecord, step: int | None, lon: np.ndarray,
                     lat: np.ndarray) -> str:  # fmt: skip
    """Hatch an ensemble change's cells (``lon``, ``lat``: their edges) by their AR6 category at ``step`` (None: the
    field shown combines several steps, which have no one category); returns the legend's text."""
    if not (record.is_ensemble and record.is_change):
        return ""
    name = robustness_variable(change_variable(record.data_name))
    with netCDF4.Dataset(Path(output_dir) / record.path) as ds:
        if name not in ds.variables:
            return "no robustness in this file (changes: robustness: none)"
        if step is None:
            return "AR6 hatching: categories are per day or step; map one (--day, or --season of a seasonal product)"
        ds.variables[name].set_auto_maskandscale(False)
        category = np.asarray(ds.variables[name][step])
    for value, hatch in HATCHES.items():
        cells = np.ma.masked_where(category != value, np.ones(category.shape))
        if cells.count():  # each cell of the category hatched whole, on the map's own cell edges
            ax.pcolor(lon, lat, cells, hatch=hatch, facecolor="none", edgecolor="#222222", linewidth=0.0)
    return "/// no change or no robust signal   xxx conflicting signals   clear: robust signal (IPCC AR6)"
