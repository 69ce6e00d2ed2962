"""A choropleth of one normal per county (or per polygon of any set), computed through `climnorm.zonal`.

The output is found as a map's is (`pictures.normals.pick_record`); its county values come from the zonal
table (exact area weights, the nearest-cell fallback); a day (``day``), a month (``month``), a season
(``season``) or the annual mean (default) is the mean of the county's daily normals over those slots (29 February
weighted by the share of years that have it). Counties whose value came from the nearest valid cell are hatched;
state outlines are the same polygons dissolved by state (`pictures.outlines`). Needs the plot and zonal extras.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from climnorm.errors import PlotError
from climnorm.numerics.changes import (
    AGREEMENT_FRACTION,
    SIGNIFICANT_FRACTION,
    categories,
    robustness,
    significant,
)  # fmt: skip
from climnorm.pictures._style import (
    MONTH_ABBR,
    SEASONS,
    colour_map,
    lat_label,
    lon_label,
    new_figure,
    save_figure,
    scenario_text,
    short_name,
    styled,
    window_text,
)
from climnorm.pictures.changes import AR6_LEGEND, HATCHES, diverging
from climnorm.pictures.normals import Selection, combine, is_total, load_index, pick_record, slot_weights
from climnorm.pictures.outlines import Extent, draw_outlines
from climnorm.plan.changes import change_path
from climnorm.records import OutputRecord
from climnorm.units import display
from climnorm.write.orders import change_variable, robustness_variable

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.path import Path as MplPath

    from climnorm.zonal.polygons import PolygonSet
    from climnorm.zonal.table import ZonalRequest

NO_VALUE = "#d9d9d9"


@dataclass(frozen=True, eq=False)
class CountyValues:
    """One value per polygon of the picture (display units), which were flagged, and what the picture says."""

    rows: np.ndarray
    """Indices into ``polygons`` of the polygons with a value (the others lie outside the output's region)."""
    values: np.ndarray
    flagged: np.ndarray
    units: str
    when: str
    polygons: PolygonSet
    extent: Extent
    steps: int = 1
    """How many day slots or steps the values combine (a change's category is of one)."""


@dataclass(frozen=True)
class SlotChoice:
    """Which slots a picture averages: one day (1-based), a month (1-12), a season, or the year (all None)."""

    day: int | None = None
    month: int | None = None
    season: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.day, self.month, self.season)) > 1:
            raise PlotError("choose one of a day, a month or a season")
        if self.season is not None and self.season not in SEASONS:
            raise PlotError(f"unknown season {self.season!r} (choose from {', '.join(SEASONS)})")

    def slots(self, table: pd.DataFrame, record: OutputRecord) -> tuple[np.ndarray, np.ndarray, str]:
        """(slot numbers, weights, text) of the slots to average: daily slots labelled MM-DD, or months."""
        slots = table.drop_duplicates("slot").sort_values("slot")
        numbers = slots["slot"].to_numpy()
        labels = [str(s) for s in slots["slot_label"]]
        kind = str(slots["slot_kind"].iloc[0])
        if kind == "month":
            months, days, weights = numbers, np.ones_like(numbers), np.ones(numbers.size)
        elif kind in ("season", "index") and self.day is None and self.month is None:
            return self._step(numbers, labels)
        elif kind == "dayofyear" and all(len(x) == 5 and x[2] == "-" for x in labels):
            months = np.array([int(x[:2]) for x in labels])
            days = np.array([int(x[3:]) for x in labels])
            weights = slot_weights(months, days, str(record.calendar), str(record.leap_day))
        else:
            raise PlotError(f"{record.path}: its slots ({kind}) have no months to choose a day, month or season by")
        if (day := self.day) is not None:
            if kind != "dayofyear" or not 1 <= day <= numbers.size:
                raise PlotError(f"day {day} is outside the normal's day slots 1..{numbers.size}")
            return numbers[day - 1 : day], np.ones(1), f"day {day} ({days[day - 1]} {MONTH_ABBR[months[day - 1] - 1]})"
        if self.month is not None:
            chosen, when = np.isin(months, [self.month]), f"{MONTH_ABBR[self.month - 1]} mean"
        else:
            season = self.season or "annual"
            chosen, when = np.isin(months, SEASONS[season]), "annual mean" if season == "annual" else f"{season} mean"
        return numbers[chosen], weights[chosen], when

    def _step(self, numbers: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
        """A seasonal normal's season (or all four), or an annual one's one step."""
        if self.season in labels:
            return numbers[labels.index(self.season) : labels.index(self.season) + 1], np.ones(1), self.season
        if self.season not in (None, "annual"):
            raise PlotError(f"no {self.season} step among {', '.join(labels)}")
        return numbers, np.ones(numbers.size), "the year" if numbers.size == 1 else "the year's seasons"


def county_values(
    output_dir: Path,
    record: OutputRecord,
    request: ZonalRequest | None = None,
    choice: SlotChoice | None = None,
    statistic: str | None = None,
    raw: bool = False,
) -> CountyValues:
    """The polygons' values of one output for a day, month, season or the year, through the zonal table: the
    polygons its region serves (as in the table, each polygon from the region of its set covering most of it).
    Of an ensemble output, its ``statistic`` (the mean by default). ``raw``: in the file's units."""
    from climnorm.zonal.fields import set_key
    from climnorm.zonal.table import ZonalRequest, each_set

    members = [r for r in load_index(output_dir).records if set_key(r) == set_key(record)]
    work = (request or ZonalRequest()).aggregation(output_dir, members)
    work.only = {record.path}  # the other regions' grids only say which polygons are theirs
    table = next(iter(each_set(work))).frame()
    if not len(table):
        raise PlotError(f"{record.path}: no polygon lies mostly in the output's grid")
    table = table[table["statistic"] == _statistic(table, record, statistic)]
    numbers, weights, when = (choice or SlotChoice()).slots(table, record)
    picked = table[table["slot"].isin(numbers)]  # polygon-major, slots in order (`climnorm.zonal.frame`)
    index = {pid: i for i, pid in enumerate(work.polygons.ids)}
    ids = picked["id"].to_numpy(dtype=object)[:: numbers.size]
    rows = np.array([index[str(pid)] for pid in ids], dtype=np.int64)
    values = picked["value"].to_numpy(dtype=np.float64).reshape(rows.size, numbers.size)
    total = numbers.size > 1 and is_total(Path(output_dir) / record.path, record)
    mean = combine(values, weights, total, axis=1)
    when = when.replace(" mean", " total") if total else when
    flags = (picked["flag"] != "").to_numpy().reshape(rows.size, numbers.size)
    shown, units = (mean, str(table["units"].iloc[0])) if raw else display(mean, str(table["units"].iloc[0]))
    g = work.grids[record.path]
    extent = (
        float(g.lon_bounds.min()),
        float(g.lon_bounds.max()),
        float(g.lat_bounds.min()),
        float(g.lat_bounds.max()),
    )
    return CountyValues(rows, shown, flags.any(axis=1), units, when, work.polygons, extent, numbers.size)


def county_change(
    output_dir: Path, record: OutputRecord, request: ZonalRequest | None, choice: SlotChoice
) -> CountyChange:
    """Each county's change of ``record``'s normal against its baseline's, from the county's own normals of both
    (for a relative change their ratio); of an ensemble output, the mean of its members' county changes and, with
    IPCC AR6 robustness, each county's category from its members' changes and their counties' own variability."""
    from climnorm.zonal.variability import VARIABILITY

    index = load_index(output_dir)
    mine = index.record(change_path(record.path))
    if mine is None:
        raise PlotError(f"{record.path}: no change against a baseline (a run with a changes: section writes them)")
    members = [index.record(m.path) for m in mine.member_outputs] if mine.is_ensemble else [mine]
    fractions, why = _fractions(output_dir, mine)
    found: list[CountyValues] = []
    deltas, sigmas = [], []
    for member in members:
        if member is None:
            raise PlotError(f"{mine.path}: a member's change it was made of is not in the manifest")
        normal, base = (index.record(m.path) for m in member.member_outputs)
        if normal is None or base is None:
            raise PlotError(f"{member.path}: the normals it was made of are not in the manifest")
        now, then = (county_values(output_dir, r, request, choice, raw=True) for r in (normal, base))
        if not np.array_equal(now.rows, then.rows):
            raise PlotError(f"{normal.path} and {base.path} serve different counties")
        relative = member.change == "relative"
        scale = _scale(then.units)
        with np.errstate(divide="ignore", invalid="ignore"):
            nonzero = np.where(then.values == 0, np.nan, then.values)
            delta = 100.0 * (now.values - then.values) / nonzero if relative else scale * (now.values - then.values)
        found.append(replace(now, values=delta, units="%" if relative else display(now.values, now.units)[1]))
        if fractions is not None and not why:
            try:
                spread = county_values(output_dir, base, request, choice, VARIABILITY, raw=True)
            except PlotError:
                why = "no AR6 hatching: daily slots keep no county variability"
                continue
            if spread.steps != 1:
                why = "AR6 hatching: categories are per step; show one (--season, or an annual product)"
            deltas.append(delta)
            sigmas.append(100.0 * spread.values / np.abs(nonzero) if relative else scale * spread.values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a county no member has a value for: NaN
        mean = np.nanmean(np.stack([f.values for f in found]), axis=0)
    flagged = np.any(np.stack([f.flagged for f in found]), axis=0)
    category = None
    if fractions is not None and not why:
        delta = np.stack(deltas)
        agreement = robustness(delta, significant(delta, np.stack(sigmas)), mine.min_members or 1)
        category = categories(agreement, *fractions)
    values = replace(found[0], values=mean, flagged=flagged)
    return CountyChange(values, "-".join(map(str, mine.baseline)), category, why)


@dataclass(frozen=True, eq=False)
class CountyChange:
    """A county change picture's values, its baseline's years and, of an ensemble, the AR6 category of each county
    (None, and why not in ``note``, where there is none)."""

    values: CountyValues
    baseline: str
    category: np.ndarray | None
    note: str


def _fractions(output_dir: Path, change: OutputRecord) -> tuple[tuple[float, float] | None, str]:
    """The run's AR6 fractions (significant, agreement) of an ensemble's change, None for a member's; and why
    there are none for an ensemble's."""
    if not change.is_ensemble:
        return None, ""
    from climnorm.write.readback import open_output

    name = robustness_variable(change_variable(change.data_name))
    with open_output(Path(output_dir) / change.path) as ds:
        if name not in ds.variables:
            return None, "no robustness in this run (changes: robustness: none)"
        var = ds.variables[name]  # files written before the fractions were recorded there: the AR6 defaults
        significant = float(getattr(var, "significant_fraction", SIGNIFICANT_FRACTION))
        return (significant, float(getattr(var, "agreement_fraction", AGREEMENT_FRACTION))), ""


def _scale(units: str) -> float:
    """The factor a difference takes to the units people read (display's without its offset: K to °C is 1)."""
    one, zero = display(np.array([1.0, 0.0]), units)[0]
    return float(one - zero)


def _statistic(table: pd.DataFrame, record: OutputRecord, wanted: str | None) -> str:
    """The statistic a picture shows: the one asked for, else the ensemble mean, else the output's only one."""
    have = sorted(set(table["statistic"]))
    if wanted is not None and wanted not in have:
        raise PlotError(f"{record.path}: no {wanted!r} statistic (it has: {', '.join(have) or 'none'})")
    return wanted or ("mean" if "mean" in have else have[0])


def polygon_paths(polygons: PolygonSet, rows: np.ndarray, extent: Extent) -> list[MplPath]:
    """A matplotlib path per polygon (every part and hole), shifted by whole turns onto the extent's longitudes."""
    import shapely
    from matplotlib.path import Path as MplPath

    from climnorm.zonal.lonlat import shifts_onto

    paths = []
    for row in rows:
        rings: list[np.ndarray] = []
        for k in np.flatnonzero(polygons.owner == row):
            part = polygons.parts[k]
            w, _, e, _ = shapely.bounds(part)
            for shift in shifts_onto(float(w), float(e), extent[0], extent[1]) or [0.0]:
                for ring in (part.exterior, *part.interiors):
                    rings.append(np.asarray(ring.coords)[:, :2] + np.array([shift, 0.0]))
        codes = [np.r_[MplPath.MOVETO, np.full(len(r) - 2, MplPath.LINETO), MplPath.CLOSEPOLY] for r in rings]
        paths.append(MplPath(np.concatenate(rings), np.concatenate(codes).astype(np.uint8)))
    return paths


def _lonlat_axes(ax: Axes, extent: Extent) -> None:
    """Plain lon/lat axes over the extent, shaped for its middle latitude."""
    from matplotlib.ticker import FuncFormatter

    west, east, south, north = extent
    ax.set(xlim=(west, east), ylim=(south, north), xlabel="longitude", ylabel="latitude", facecolor="#f4f4f4")
    ax.set_aspect(1.0 / max(math.cos(math.radians((south + north) / 2.0)), 0.05), adjustable="box")
    ax.xaxis.set_major_formatter(FuncFormatter(lon_label))
    ax.yaxis.set_major_formatter(FuncFormatter(lat_label))
    ax.grid(False)


def _draw(
    ax: Axes,
    found: CountyValues,
    variable: str,
    colours: dict[str, Any] | None = None,
    category: np.ndarray | None = None,
) -> Any:
    """The filled polygons (grey where NaN), hatching over the flagged ones, or with an ensemble change's AR6
    ``category`` per polygon, the Atlas's hatching of it; returns the coloured collection. ``colours``: a change's
    colour map and norm (default: the variable's map)."""
    import matplotlib
    from matplotlib.collections import PathCollection

    paths = polygon_paths(found.polygons, found.rows, found.extent)
    chosen = dict(colours or {"cmap": colour_map(variable)})
    chosen["cmap"] = matplotlib.colormaps[chosen["cmap"]].with_extremes(bad=NO_VALUE)
    filled = PathCollection(paths, array=np.ma.masked_invalid(found.values), zorder=2, **chosen)
    filled.set(edgecolor="face", linewidth=0.05)
    ax.add_collection(filled, autolim=False)
    marks = {"////": found.flagged} if category is None else {h: category == v for v, h in HATCHES.items()}
    for hatch, which in marks.items():
        hatched = [p for p, flag in zip(paths, which, strict=True) if flag]
        if hatched:
            drawn = PathCollection(hatched, facecolor="none", edgecolor="#202020", hatch=hatch, linewidth=0.0, zorder=3)
            ax.add_collection(drawn, autolim=False)
    return filled


@styled
def counties_figure(
    output_dir: Path,
    selection: Selection,
    *,
    day: int | None = None,
    month: int | None = None,
    season: str | None = None,
    request: ZonalRequest | None = None,
    size: tuple[int, int] = (900, 600),
    dpi: int = 100,
) -> Figure:
    """A choropleth of the selection's one normal (`pick_record`): each county's (polygon's) area-weighted value
    for a day, month, season or the year, flagged counties hatched, state outlines (and county edges) drawn from
    the same polygons. Of several members, the ensemble (its ``statistic``, the mean by default) unless
    ``selection.model`` names one."""
    choice = SlotChoice(day, month, season)
    variable = selection.variable
    record = pick_record(load_index(output_dir), replace(selection, change=False))
    colours: dict[str, Any] | None = None
    category, why = None, ""
    if selection.change:
        change = county_change(output_dir, record, request, choice)
        found, baseline, category, why = change.values, change.baseline, change.category, change.note
        colours = {"cmap": "BrBG" if variable == "pr" else "RdBu_r", "norm": diverging(found.values)}
    else:
        found = county_values(output_dir, record, request, choice, selection.statistic)
    fig = new_figure(size, dpi)
    ax = fig.add_subplot()
    _lonlat_axes(ax, found.extent)
    filled = _draw(ax, found, variable, colours, category)
    what = "change of " if selection.change else ""
    fig.colorbar(filled, ax=ax, label=f"{what}{variable} ({found.units})", shrink=0.9)
    draw_outlines(ax, "states", found.extent, found.polygons)
    long_name, region_name, attrs = _names(output_dir / record.path, variable)
    title = short_name(variable, long_name) if not selection.change else f"change of {variable} against {baseline}"
    ax.set_title(
        f"{title}, {region_name}\n{record.window_years}-year normal "
        f"{window_text(record)} ({scenario_text(record, attrs)}, {record.period}), {found.when}, per county"
    )
    noun = "counties" if request is None or request.polygons is None else "polygons"
    note = f"{found.rows.size:,} {noun}"
    if category is not None:
        note += f"; {AR6_LEGEND}"
        if found.flagged.any():
            note += f"; {int(found.flagged.sum())} from the nearest valid cell"
    elif found.flagged.any():
        note += f"; hatched: {int(found.flagged.sum())} from the nearest valid cell"
    if why:
        note += f"; {why}"
    if np.isnan(found.values).any():
        note += "; grey: no value"
    fig.text(0.01, 0.01, note, fontsize=8, color="#555555")
    return fig


def _names(path: Path, variable: str) -> tuple[str, str, dict[str, Any]]:
    """The variable's long name, the region's name and the file's attributes, for the title."""
    from climnorm.write.readback import open_output

    with open_output(path) as ds:
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
        var = ds.variables.get(variable)
        long_name = str(getattr(var, "long_name", variable)) if var is not None else variable
    return long_name, str(attrs.get("region_name", attrs.get("region", ""))), attrs


def plot_counties(output_dir: Path, out: Path, selection: Selection, **options: Any) -> Path:
    """Draw ``counties_figure`` of the selection and write it to ``out``."""
    return save_figure(counties_figure(output_dir, selection, **options), out)
