"""What a map of a change adds to a map of a normal: its units (a difference: no offset), a diverging colour scale
centred on no change, and over an ensemble's change the IPCC AR6 Atlas's hatching of its robustness category
(diagonal lines: no change or no robust signal; crossed lines: conflicting signals; nothing: robust)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from climnorm.errors import PlotError
from climnorm.numerics.changes import CONFLICTING_SIGNAL, NO_CHANGE_OR_NO_SIGNAL
from climnorm.pictures._style import new_figure, scenario_colours, scenario_order, short_name
from climnorm.pictures.lines import scenario_lines, shade_periods
from climnorm.pictures.normals import RegionSeries, Selection, load_index
from climnorm.records import ENSEMBLE, OutputRecord
from climnorm.units import canonical
from climnorm.write.orders import change_variable, robustness_variable
from climnorm.write.readback import open_output

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

HATCHES = {NO_CHANGE_OR_NO_SIGNAL: "///", CONFLICTING_SIGNAL: "xxx"}
"""The AR6 Atlas's overlay of each category (robust signals are left clear)."""
AR6_LEGEND = "/// no change or no robust signal   xxx conflicting signals   clear: robust signal (IPCC AR6)"


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


def change_field(
    record: OutputRecord, units: str, field: np.ndarray, several: bool
) -> tuple[np.ndarray, str, dict[str, Any]]:
    """A change's field as a map shows it: in the units people read, and its colours (a diverging scale)."""
    check_combinable(record, units, several)
    shown, shown_units = change_display(field, units)
    return shown, shown_units, {"cmap": "BrBG" if record.variable == "pr" else "RdBu_r", "norm": diverging(shown)}


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
    with open_output(Path(output_dir) / record.path) as ds:
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
    return AR6_LEGEND


def change_points(
    points: dict[str, list[tuple[int, float]]], baseline: float, kind: str
) -> dict[str, list[tuple[int, float]]]:
    """A member's (target year, region-mean annual value) per scenario as changes against its baseline's value:
    the change of the region mean (for a relative one their ratio, in %), never a mean of the cells' changes."""

    def changed(value: float) -> float:
        if kind == "relative":
            return 100.0 * (value - baseline) / baseline if baseline else float("nan")
        return value - baseline

    return {scenario: [(year, changed(v)) for year, v in line] for scenario, line in points.items()}


def baseline_value(points: dict[str, list[tuple[int, float]]], year: int, scenario: str) -> float | None:
    """The member's value at the baseline's target (the historical run's, or the scenario's own hybrid one)."""
    for name in ("historical", scenario):
        for y, value in points.get(name, []):
            if y == year:
                return value
    return None


def change_lines(
    output_dir: Path, selection: Selection, by_member: dict[str, list[RegionSeries]], size: tuple[int, int], dpi: int
) -> Figure:
    """Each member's change of its region-mean annual normal against its baseline's, the members' mean as the
    line and their range as the band (docs/md)."""
    index = load_index(output_dir, changes=True)
    made = [r for r in index.records if r.variable == selection.variable and r.product == selection.product]
    if not made:
        raise PlotError(f"no changes of {selection.variable} {selection.product} in {output_dir}")
    kind, (_, last) = made[0].change, made[0].baseline
    members = {m: own for m, own in by_member.items() if m != ENSEMBLE}
    per_member: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for member, own in members.items():
        points = {k: sorted(v) for k, v in raw_points(own).items()}
        lines: dict[str, list[tuple[int, float]]] = {}
        for scenario, line in points.items():
            base = baseline_value(points, last, scenario)
            if base is not None:
                lines.update(change_points({scenario: line}, base, kind))
        per_member[member] = lines
    fig = new_figure(size, dpi)
    ax = fig.add_subplot()
    shade_periods(ax, [s.record for own in members.values() for s in own])
    together: dict[str, dict[int, list[float]]] = {}
    for lines in per_member.values():
        scenario_lines(ax, lines, member=True)
        for scenario, line in lines.items():
            for year, value in line:
                together.setdefault(scenario, {}).setdefault(year, []).append(value)
    colours = scenario_colours(scenario_order(together))
    for scenario, years in together.items():
        x = np.array(sorted(years), dtype=np.float64)
        lo, hi = (np.array([f(years[int(y)]) for y in x]) for f in (np.nanmin, np.nanmax))
        ax.fill_between(x, lo, hi, color=colours[scenario][0], alpha=0.15, lw=0, zorder=1)
    mean = {s: [(y, float(np.nanmean(v))) for y, v in sorted(ys.items())] for s, ys in together.items()}
    scenario_lines(ax, mean)
    first = next(iter(members.values()))[0]
    units = "%" if kind == "relative" else change_display(np.zeros(1), first.units)[1]
    ax.axhline(0.0, color="#888888", lw=0.8, zorder=1)
    ax.set_xlabel(f"target year (last year of the {first.record.window_years}-year window)")
    ax.set_ylabel(f"change of the annual {first.record.data_name} ({units})\ncos(lat)-weighted region mean")
    ax.set_title(
        f"change of {short_name(selection.variable, first.long_name)}, {first.region_name}, against "
        f"{'-'.join(map(str, made[0].baseline))}\nthe members' mean (line) and range (band), each member thin"
    )
    ax.legend(loc="best", title=f"scenario, {len(members)} members")
    return fig


def raw_points(series: Sequence[RegionSeries]) -> dict[str, list[tuple[int, float]]]:
    """(target year, annual value in the file's units) per scenario."""
    points: dict[str, list[tuple[int, float]]] = {}
    for s in series:
        points.setdefault(s.record.scenario, []).append((int(s.record.target_year), float(s.annual)))
    return points
