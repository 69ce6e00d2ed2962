"""Pictures of the normals: a map of one day or season, the seasonal cycle and the climate-change signal.

What is shown comes from `climnorm.pictures.normals`; values are shown in display units (K → °C,
kg m-2 s-1 → mm/day, `climnorm.units.display`).

matplotlib (the ``plot`` extra) is imported only when a figure is drawn, always with the Agg canvas: no display,
no network, no map downloads (plain latitude/longitude axes).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from climnorm.errors import PlotError
from climnorm.pictures import changes
from climnorm.pictures._style import (
    MONTH_ABBR,
    SEASONS,
    cell_edges,
    colour_map,
    grid_spacing,
    lat_label,
    lon_label,
    month_axis,
    new_figure,
    save_figure,
    scenario_colours,
    scenario_order,
    scenario_text,
    short_name,
    styled,
    window_text,
)
from climnorm.pictures.lines import gapped, scenario_lines, shade_periods
from climnorm.pictures.normals import (
    Normal,
    RegionSeries,
    Selection,
    load_index,
    one_member,
    pick_record,
    read_normal,
    region_series_many,
    select_all_members,
    select_records,
    target_ranges,
)
from climnorm.pictures.outlines import map_outlines
from climnorm.records import ENSEMBLE, OutputRecord
from climnorm.units import display

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


# ---- the three pictures ------------------------------------------------------------------------------------
@styled
def map_figure(
    output_dir: Path,
    selection: Selection,
    *,
    day: int | None = None,
    season: str | None = None,
    size: tuple[int, int] = (900, 600),
    dpi: int = 100,
    outlines: str | None = None,
) -> Figure:
    """A map of the selection's one normal (`pick_record`): one day slot (``day``, 1-based), or the mean of a
    season's slots (``season``: DJF, MAM, JJA, SON or annual, chosen by the output's month coordinate; DJF is
    December, January and February of the climatological year). Neither: the annual mean. Of several members,
    the ensemble (its ``statistic``, the mean by default) unless ``selection.model`` names one. ``outlines``:
    "states", "counties" or "none" (`climnorm.pictures.outlines`; None: states when the zonal extra is installed)."""
    if day is not None and season is not None:
        raise PlotError("choose a day or a season, not both")
    if season is not None and season not in SEASONS:
        raise PlotError(f"unknown season {season!r} (choose from {', '.join(SEASONS)})")
    variable, region = selection.variable, selection.region
    record = pick_record(load_index(output_dir, changes=selection.change), selection)
    normal = read_normal(output_dir, record, selection.statistic)
    field2d, when, shown_step = _map_field(normal, day, season)
    if record.is_change:
        shown, units, colours = changes.change_field(record, normal.units, field2d, shown_step is None)
    else:
        shown, units = display(field2d, normal.units)
        colours = {"cmap": colour_map(variable)}

    fig = new_figure(size, dpi)
    ax = fig.add_subplot()
    spacing = grid_spacing(normal.lon, normal.lat)
    lon_edges, lat_edges = cell_edges(normal.lon, spacing), cell_edges(normal.lat, spacing)
    ax.set_facecolor("#d9d9d9")
    ax.grid(False)
    mesh = ax.pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(shown), shading="flat", **colours)
    legend = changes.hatch_robustness(ax, output_dir, record, shown_step, lon_edges, lat_edges)
    map_outlines(ax, outlines, (lon_edges[0], lon_edges[-1], lat_edges[0], lat_edges[-1]))
    fig.colorbar(
        mesh, ax=ax, label=f"{'change of ' if record.is_change else ''}{record.data_name} ({units})", shrink=0.9
    )
    if legend:
        fig.text(0.5, 0.005, legend, fontsize=8, color="#333333", ha="center")
    _map_axes(ax, normal.lat, lon_edges, lat_edges)
    region_name = normal.attrs.get("region_name", region)
    what = short_name(variable, normal.long_name)
    if record.is_change:
        what = f"change of {variable} against {'-'.join(map(str, record.baseline))}"
    ax.set_title(
        f"{what}, {region_name}\n"
        f"{record.window_years}-year normal {window_text(record)} ({scenario_text(record, normal.attrs)}, "
        f"{record.period}), {when}"
    )
    if np.isnan(shown).any():
        fig.text(0.01, 0.01, "grey: no valid normal", fontsize=8, color="#555555")
    return fig


def _map_axes(ax: Axes, lat: np.ndarray, lon_edges: np.ndarray, lat_edges: np.ndarray) -> None:
    """A map's aspect (cos of its mean latitude), extent and degree labels."""
    from matplotlib.ticker import FuncFormatter

    ax.set_aspect(1.0 / max(math.cos(math.radians(float(np.mean(lat)))), 0.05), adjustable="box")
    ax.set_xlim(lon_edges[0], lon_edges[-1])
    ax.set_ylim(lat_edges[0], lat_edges[-1])
    ax.xaxis.set_major_formatter(FuncFormatter(lon_label))
    ax.yaxis.set_major_formatter(FuncFormatter(lat_label))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")


def _map_field(normal: Normal, day: int | None, season: str | None) -> tuple[np.ndarray, str, int | None]:
    """The field a map shows (one day slot, or a season's weighted mean), how to say which, and its slot or step
    when it is one (None: several combined)."""
    nslots = normal.month.size
    if normal.steps:
        return _step_field(normal, day, season)
    if day is not None:
        if not 1 <= day <= nslots:
            raise PlotError(f"day {day} is outside the normal's day slots 1..{nslots}")
        when = f"day {day} ({int(normal.day[day - 1])} {MONTH_ABBR[int(normal.month[day - 1]) - 1]})"
        return normal.values[day - 1].astype(np.float64), when, day - 1
    season = season or "annual"
    chosen = np.isin(normal.month, SEASONS[season])
    return normal.combined(chosen), "annual mean" if season == "annual" else f"{season} mean", None


def _step_field(normal: Normal, day: int | None, season: str | None) -> tuple[np.ndarray, str, int | None]:
    """The field of a normal of periods: its one step (the year), a season's step, or the season's (the year's)
    months or seasons combined (summed where its steps are totals)."""
    if day is not None:
        raise PlotError(f"{normal.record.path}: a normal of {', '.join(normal.steps[:3])}... has no days: use --season")
    if len(normal.steps) == 1:
        return normal.values[0].astype(np.float64), "the year", 0
    season = season or "annual"
    if season in normal.steps:
        step = normal.steps.index(season)
        return normal.values[step].astype(np.float64), season, step
    chosen = np.isin(normal.month, SEASONS[season]) if normal.steps[0].isdigit() else np.ones(len(normal.steps), bool)
    how = "total" if normal.total else "mean"
    return normal.combined(chosen), f"{'annual' if season == 'annual' else season} {how}", None


def _cycle_records(
    records: list[OutputRecord], targets: Sequence[int] | None, selection: Selection
) -> list[OutputRecord]:
    """The outputs a cycle plot shows: the asked-for targets, or the first and last of each scenario."""
    if not targets:
        return _default_cycle_targets(records)
    wanted = set(targets)
    chosen = [r for r in records if int(r.target_year) in wanted]
    if not chosen:
        raise PlotError(
            f"no {selection.variable} {selection.region} normals for target(s) {', '.join(map(str, targets))} "
            f"(targets: {target_ranges(records)})"
        )
    return chosen


def _default_cycle_targets(records: Sequence[OutputRecord]) -> list[OutputRecord]:
    """The first and last target of each scenario."""
    chosen: list[OutputRecord] = []
    for scenario in scenario_order(r.scenario for r in records):
        own = sorted((r for r in records if r.scenario == scenario), key=lambda r: r.target_year)
        chosen.extend(own[:1] + own[-1:] if len(own) > 1 else own)
    return chosen


@styled
def cycle_figure(
    output_dir: Path,
    selection: Selection,
    *,
    targets: Sequence[int] | None = None,
    size: tuple[int, int] = (900, 550),
    dpi: int = 100,
) -> Figure:
    """The seasonal cycle of the selection (`select_records`; its ``target`` unused): region-mean normal against
    day of year, one line per (scenario, target year); where a smoothed daily normal of the same output exists,
    it is drawn over the raw one (thin).

    Default ``targets``: the first and the last of each scenario."""
    variable, statistic = selection.variable, selection.statistic
    every = load_index(output_dir)
    records = select_records(every, selection)
    chosen = _cycle_records(records, targets, selection)
    series = region_series_many(output_dir, chosen, statistic=statistic)
    twins = _smoothed_twins(every.records, chosen)
    smooth = dict(zip(twins, region_series_many(output_dir, list(twins.values()), statistic=statistic), strict=True))

    fig = new_figure(size, dpi)
    ax = fig.add_subplot()
    units = _cycle_lines(ax, series, smooth)
    month_axis(ax, series[0].month)
    first = series[0]
    ax.set_xlabel("day of the year")
    ax.set_ylabel(f"{variable} ({units}), cos(lat)-weighted region mean")
    ax.set_title(
        f"{short_name(variable, first.long_name)}, {first.region_name}\n"
        f"seasonal cycle of the {first.record.window_years}-year normal"
        + (" (thick: smoothed, thin: raw)" if smooth else "")
    )
    ax.legend(title="scenario, target (window)", ncols=2 if len(series) > 6 else 1, loc="best")
    return fig


_TWIN_KEYS = ("variable", "region", "scenario", "target_year", "window_years", "model", "variant")


def _smoothed_twins(records: Sequence[OutputRecord], chosen: Sequence[OutputRecord]) -> dict[str, OutputRecord]:
    """Per chosen daily output (by path), the smoothed daily normal of the same chain and target, if any."""
    smoothed = {tuple(r.value(k) for k in _TWIN_KEYS): r for r in records if r.product == "daily_smoothed"}
    twins = {r.path: smoothed.get(tuple(r.value(k) for k in _TWIN_KEYS)) for r in chosen}
    return {path: twin for path, twin in twins.items() if twin is not None}


def _cycle_lines(ax: Axes, series: Sequence[RegionSeries], smooth: dict[str, RegionSeries]) -> str:
    """One line per series, coloured by scenario and shaded by target; its smoothed twin over it. Returns the
    display units."""
    import matplotlib

    order = scenario_order(s.record.scenario for s in series)
    colours = scenario_colours(order)
    units = ""
    for scenario in order:
        own = sorted((s for s in series if s.record.scenario == scenario), key=lambda s: s.record.target_year)
        shades = matplotlib.colormaps[colours[scenario][1]]
        for i, s in enumerate(own):
            colour = shades(0.95 if len(own) == 1 else 0.5 + 0.45 * i / (len(own) - 1))
            values, units = display(s.series, s.units)
            label = f"{scenario} {s.record.target_year} ({window_text(s.record)})"
            twin = smooth.get(s.record.path)
            x = np.arange(1, values.size + 1)
            ax.plot(x, values, color=colour, lw=0.8 if twin else 1.4, alpha=0.55 if twin else 1.0, label=label)
            if twin is not None:
                ax.plot(x, display(twin.series, twin.units)[0], color=colour, lw=2.0, label=f"{label}, smoothed")
    return units


@styled
def change_figure(
    output_dir: Path,
    selection: Selection,
    *,
    series: Sequence[RegionSeries] | None = None,
    size: tuple[int, int] = (900, 550),
    dpi: int = 100,
    workers: int = 1,
) -> Figure:
    """The climate-change signal of the selection (every target; its ``target`` and ``statistic`` unused):
    region-mean annual normal against target year, one line per scenario, the periods (historical / hybrid /
    future) shaded. With an ensemble: its mean, the band between its p10 and p90 (or min and max), and each
    member as a thin line (one member only when ``selection.model`` names it). ``series`` skips reading when
    the caller has them."""
    variable = selection.variable
    if series is None:
        records = select_all_members(load_index(output_dir), selection)
        if selection.model is not None:
            records = one_member(records, selection)
        series = region_series_many(output_dir, records, workers=workers)
    if not series:
        raise PlotError(f"no {variable} {selection.region} normals to plot")
    by_member: dict[str, list[RegionSeries]] = {}
    for s in series:
        by_member.setdefault(s.record.member, []).append(s)
    if selection.change:
        return changes.change_lines(output_dir, selection, by_member, size, dpi)
    main = by_member.pop(ENSEMBLE, None) or (by_member.pop(next(iter(by_member))) if len(by_member) == 1 else [])
    fig = new_figure(size, dpi)
    ax = fig.add_subplot()
    shade_periods(ax, [s.record for s in series])
    for own in by_member.values():
        scenario_lines(ax, _annual_points(own), member=True)
    if main and main[0].record.member == ENSEMBLE:
        _ensemble_band(ax, output_dir, main)
    scenario_lines(ax, _annual_points(main))
    shown_units = display(np.zeros(1), series[0].units)[1]
    first = main[0] if main else series[0]
    width = first.record.window_years
    ax.set_xlabel(f"target year (last year of the {width}-year window)")
    what = "total" if first.total else "mean"
    ax.set_ylabel(f"annual {what} {first.record.data_name} ({shown_units})\ncos(lat)-weighted region mean")
    ax.set_title(
        f"{short_name(variable, first.long_name)}, {first.region_name}\n"
        f"the {width}-year normal's annual {what} by target year"
    )
    who = f"ensemble of {len(main[0].record.members)} members" if main and by_member else ""
    ax.legend(loc="best", title=f"scenario{', ' + who if who else ''}")
    return fig


def _annual_points(series: Sequence[RegionSeries]) -> dict[str, list[tuple[int, float]]]:
    """(target year, annual mean in display units) per scenario."""
    points: dict[str, list[tuple[int, float]]] = {}
    for s in series:
        value = float(display(np.array(s.annual), s.units)[0])
        points.setdefault(s.record.scenario, []).append((int(s.record.target_year), value))
    return points


def _ensemble_band(ax: Axes, output_dir: Path, ensemble: Sequence[RegionSeries]) -> None:
    """The members' spread around the ensemble line: p10 to p90 where the files have them, else min to max."""
    records = [s.record for s in ensemble]
    statistics = set(records[0].statistics)
    low, high = next((b for b in (("p10", "p90"), ("min", "max")) if set(b) <= statistics), (None, None))
    if low is None or high is None:
        return
    lows = _annual_points(region_series_many(output_dir, records, statistic=low))
    highs = _annual_points(region_series_many(output_dir, records, statistic=high))
    colours = scenario_colours(scenario_order(lows))
    for scenario, line in lows.items():
        x, y_low = gapped(sorted(line))
        _, y_high = gapped(sorted(highs[scenario]))
        ax.fill_between(x, y_low, y_high, color=colours[scenario][0], alpha=0.15, lw=0, zorder=1)


def plot_map(output_dir: Path, out: Path, selection: Selection, **options: Any) -> Path:
    """Draw ``map_figure`` of the selection and write it to ``out``."""
    return save_figure(map_figure(output_dir, selection, **options), out)


def plot_cycle(output_dir: Path, out: Path, selection: Selection, **options: Any) -> Path:
    """Draw ``cycle_figure`` of the selection and write it to ``out``."""
    return save_figure(cycle_figure(output_dir, selection, **options), out)


def plot_change(output_dir: Path, out: Path, selection: Selection, **options: Any) -> Path:
    """Draw ``change_figure`` of the selection and write it to ``out``."""
    return save_figure(change_figure(output_dir, selection, **options), out)
