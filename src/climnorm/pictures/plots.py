"""Pictures of the normals: a map of one day or season, the seasonal cycle and the climate-change signal.

What is shown comes from `climnorm.pictures.outputs`; values are shown in display units (K → °C,
kg m-2 s-1 → mm/day, `climnorm.units.display`).

matplotlib (the ``plot`` extra) is imported only when a figure is drawn, always with the Agg canvas: no display,
no network, no map downloads (plain latitude/longitude axes).
"""

from __future__ import annotations

import functools
import io
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from climnorm.errors import PlotError
from climnorm.pictures.outputs import (
    Record,
    RegionSeries,
    load_records,
    pick_record,
    read_normal,
    region_series_many,
    select_records,
    target_ranges,
    weighted_nanmean,
)
from climnorm.types import HISTORICAL
from climnorm.units import display

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PLOT_EXTRA_HINT = "pip install 'climnorm[plot]'"
SEASONS: dict[str, tuple[int, ...]] = {
    "DJF": (12, 1, 2),
    "MAM": (3, 4, 5),
    "JJA": (6, 7, 8),
    "SON": (9, 10, 11),
    "annual": tuple(range(1, 13)),
}
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PERIOD_COLOURS = {"historical": "#e8e8e8", "hybrid": "#fbeccb", "future": "#fbdcd6"}
SCENARIO_COLOURS = {
    "historical": ("black", "Greys"),
    "ssp119": ("#1e9583", "BuGn"),
    "ssp126": ("#1d3354", "Blues"),
    "ssp245": ("#2c7bb6", "Blues"),
    "ssp370": ("#e66101", "Oranges"),
    "ssp434": ("#8c6bb1", "Purples"),
    "ssp460": ("#b35806", "Oranges"),
    "ssp585": ("#c0152a", "Reds"),
}
_EXTRA_COLOURS = (("#1b9e77", "Greens"), ("#7570b3", "Purples"), ("#d95f02", "Oranges"), ("#e7298a", "RdPu"))
#: Line style and marker of each future scenario in turn, so lines that coincide stay visible.
_LINE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))
_STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "savefig.facecolor": "white",
}
F = TypeVar("F", bound=Callable[..., Any])


def require_matplotlib() -> None:
    """Raise PlotError naming the ``plot`` extra when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError(f"pictures need matplotlib, which is not installed: {PLOT_EXTRA_HINT}") from None


def _new_figure(size: tuple[int, int], dpi: int) -> Figure:
    """A figure of ``size`` pixels on an Agg canvas (no pyplot state, no display)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size
    if width < 100 or height < 100 or dpi < 10:
        raise PlotError(f"picture size {width}x{height} at {dpi} dpi is too small")
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _styled(draw: F) -> F:
    """Run a figure-drawing function under climnorm's readable defaults without touching global rcParams."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        require_matplotlib()
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return draw(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def save_figure(fig: Figure, out: Path) -> Path:
    """Write the figure (format from the suffix, PNG by default) and return its path."""
    import matplotlib

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = out.suffix.lstrip(".").lower() or "png"
    with matplotlib.rc_context(_STYLE):
        fig.savefig(
            out, format=fmt, dpi=fig.dpi, metadata={"Software": "climnorm (matplotlib)"} if fmt == "png" else None
        )
    log.debug("wrote %s", out)
    return out


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(_STYLE):
        fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def _short_name(variable: str, long_name: str) -> str:
    return f"{long_name} ({variable})" if long_name and long_name != variable else variable


def _scenario_text(record: Record, attrs: dict[str, Any] | None = None) -> str:
    scenarios = str((attrs or {}).get("scenarios", record["scenario"])).split()
    return " + ".join(scenarios) if scenarios else record["scenario"]


def _window_text(record: Record) -> str:
    target, width = int(record["target_year"]), int(record["window_years"])
    return f"{target - width + 1}-{target}"


def _lon_label(x: float, _pos: object = None) -> str:
    v = (x + 180.0) % 360.0 - 180.0
    if math.isclose(v, 0.0, abs_tol=1e-9) or math.isclose(abs(v), 180.0, abs_tol=1e-9):
        return f"{abs(v):g}°"
    return f"{abs(v):g}°{'E' if v > 0 else 'W'}"


def _lat_label(y: float, _pos: object = None) -> str:
    if math.isclose(y, 0.0, abs_tol=1e-9):
        return "0°"
    return f"{abs(y):g}°{'N' if y > 0 else 'S'}"


def _edges(centres: np.ndarray, fallback: float) -> np.ndarray:
    """Cell edges from increasing cell centres (half-way between centres, extended at both ends)."""
    if centres.size == 1:
        return np.array([centres[0] - fallback / 2, centres[0] + fallback / 2])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[centres[0] - (mid[0] - centres[0])], mid, [centres[-1] + (centres[-1] - mid[-1])]])


def _spacing(*axes: np.ndarray) -> float:
    for a in axes:
        if a.size > 1:
            return float(np.median(np.diff(a)))
    return 1.0


def _cmap(variable: str) -> str:
    if variable.startswith("pr"):
        return "YlGnBu"
    if variable.startswith("tas") or variable.startswith("ts"):
        return "RdYlBu_r"
    return "viridis"


def _month_axis(ax: Axes, month: np.ndarray) -> None:
    """Ticks on the first slot of each month, labelled with the month's name."""
    starts = [i + 1 for i in range(month.size) if i == 0 or month[i] != month[i - 1]]
    ax.set_xticks(starts, [MONTH_ABBR[int(month[s - 1]) - 1] for s in starts])
    ax.set_xlim(1, month.size)


def _colours(scenarios: Sequence[str]) -> dict[str, tuple[str, str]]:
    extra = iter(_EXTRA_COLOURS * (1 + len(scenarios)))
    return {s: SCENARIO_COLOURS.get(s) or next(extra) for s in scenarios}


def _scenario_order(scenarios: Iterable[str]) -> list[str]:
    return sorted(set(scenarios), key=lambda s: (s != HISTORICAL, s))


# ---- the three pictures ------------------------------------------------------------------------------------
@_styled
def map_figure(
    output_dir: Path,
    variable: str,
    region: str,
    *,
    scenario: str | None = None,
    target: int | None = None,
    day: int | None = None,
    season: str | None = None,
    window_years: int | None = None,
    size: tuple[int, int] = (900, 600),
    dpi: int = 100,
) -> Figure:
    """A map of one normal: one day slot (``day``, 1-based), or the mean of a season's slots (``season``:
    DJF, MAM, JJA, SON or annual, chosen by the output's month coordinate; DJF is December, January and
    February of the climatological year). Neither: the annual mean."""
    if day is not None and season is not None:
        raise PlotError("choose a day or a season, not both")
    if season is not None and season not in SEASONS:
        raise PlotError(f"unknown season {season!r} (choose from {', '.join(SEASONS)})")
    record = pick_record(load_records(output_dir), variable, region, scenario, target, window_years)
    normal = read_normal(output_dir, record)
    nslots = normal.month.size
    if day is not None:
        if not 1 <= day <= nslots:
            raise PlotError(f"day {day} is outside the normal's day slots 1..{nslots}")
        field2d = normal.values[day - 1].astype(np.float64)
        when = f"day {day} ({int(normal.day[day - 1])} {MONTH_ABBR[int(normal.month[day - 1]) - 1]})"
    else:
        season = season or "annual"
        chosen = np.isin(normal.month, SEASONS[season])
        field2d = weighted_nanmean(normal.values[chosen].astype(np.float64), normal.weights[chosen])
        when = "annual mean" if season == "annual" else f"{season} mean"
    shown, units = display(field2d, normal.units)

    fig = _new_figure(size, dpi)
    ax = fig.add_subplot()
    step = _spacing(normal.lon, normal.lat)
    lon_edges, lat_edges = _edges(normal.lon, step), _edges(normal.lat, step)
    ax.set_facecolor("#d9d9d9")
    ax.grid(False)
    mesh = ax.pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(shown), cmap=_cmap(variable), shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"{variable} ({units})", shrink=0.9)
    ax.set_aspect(1.0 / max(math.cos(math.radians(float(np.mean(normal.lat)))), 0.05), adjustable="box")
    ax.set_xlim(lon_edges[0], lon_edges[-1])
    ax.set_ylim(lat_edges[0], lat_edges[-1])
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(_lon_label))
    ax.yaxis.set_major_formatter(FuncFormatter(_lat_label))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    region_name = normal.attrs.get("region_name", region)
    ax.set_title(
        f"{_short_name(variable, normal.long_name)}, {region_name}\n"
        f"{record['window_years']}-year normal {_window_text(record)} ({_scenario_text(record, normal.attrs)}, "
        f"{record['period']}), {when}"
    )
    if np.isnan(shown).any():
        fig.text(0.01, 0.01, "grey: no valid normal", fontsize=8, color="#555555")
    return fig


def _default_cycle_targets(records: Sequence[Record]) -> list[Record]:
    """The first and last target of each scenario."""
    chosen: list[Record] = []
    for scenario in _scenario_order(r["scenario"] for r in records):
        own = sorted((r for r in records if r["scenario"] == scenario), key=lambda r: r["target_year"])
        chosen.extend(own[:1] + own[-1:] if len(own) > 1 else own)
    return chosen


@_styled
def cycle_figure(
    output_dir: Path,
    variable: str,
    region: str,
    *,
    scenarios: Sequence[str] | None = None,
    targets: Sequence[int] | None = None,
    window_years: int | None = None,
    size: tuple[int, int] = (900, 550),
    dpi: int = 100,
) -> Figure:
    """The seasonal cycle: region-mean normal against day of year, one line per (scenario, target year).

    Default targets: the first and the last of each scenario."""
    records = select_records(load_records(output_dir), variable, region, scenarios, window_years)
    if targets:
        wanted = set(targets)
        chosen = [r for r in records if int(r["target_year"]) in wanted]
        if not chosen:
            raise PlotError(
                f"no {variable} {region} normals for target(s) {', '.join(map(str, targets))} "
                f"(targets: {target_ranges(records)})"
            )
    else:
        chosen = _default_cycle_targets(records)
    series = region_series_many(output_dir, chosen)

    fig = _new_figure(size, dpi)
    ax = fig.add_subplot()
    import matplotlib

    order = _scenario_order(r["scenario"] for r in chosen)
    colours = _colours(order)
    units = ""
    for scenario in order:
        own = sorted((s for s in series if s.record["scenario"] == scenario), key=lambda s: s.record["target_year"])
        cmap = matplotlib.colormaps[colours[scenario][1]]
        for i, s in enumerate(own):
            shade = 0.95 if len(own) == 1 else 0.5 + 0.45 * i / (len(own) - 1)
            values, units = display(s.series, s.units)
            x = np.arange(1, values.size + 1)
            ax.plot(
                x,
                values,
                color=cmap(shade),
                lw=1.4,
                label=f"{scenario} {s.record['target_year']} ({_window_text(s.record)})",
            )
    _month_axis(ax, series[0].month)
    first = series[0]
    ax.set_xlabel("day of the year")
    ax.set_ylabel(f"{variable} ({units}), cos(lat)-weighted region mean")
    ax.set_title(
        f"{_short_name(variable, first.long_name)}, {first.region_name}\n"
        f"seasonal cycle of the {first.record['window_years']}-year normal"
    )
    ax.legend(title="scenario, target (window)", ncols=2 if len(series) > 6 else 1, loc="best")
    return fig


def _gapped(points: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """x, y with a NaN between target years more than one year apart, so lines do not bridge gaps."""
    xs: list[float] = []
    ys: list[float] = []
    for i, (x, y) in enumerate(points):
        if i and x - points[i - 1][0] > 1:
            xs.append(np.nan)
            ys.append(np.nan)
        xs.append(x)
        ys.append(y)
    return np.array(xs, dtype=float), np.array(ys, dtype=float)


def _shade_periods(ax: Axes, records: Sequence[Record]) -> None:
    from matplotlib.transforms import blended_transform_factory

    spans: dict[str, list[int]] = {}
    for r in records:
        spans.setdefault(str(r["period"]), []).append(int(r["target_year"]))
    text_at = blended_transform_factory(ax.transData, ax.transAxes)
    for period, years in sorted(spans.items(), key=lambda kv: min(kv[1])):
        lo, hi = min(years) - 0.5, max(years) + 0.5
        ax.axvspan(lo, hi, color=PERIOD_COLOURS.get(period, "#eef3f8"), zorder=0, lw=0)
        ax.text((lo + hi) / 2, 0.98, period, transform=text_at, ha="center", va="top", fontsize=9, color="#555555")


@_styled
def change_figure(
    output_dir: Path,
    variable: str,
    region: str,
    *,
    scenarios: Sequence[str] | None = None,
    window_years: int | None = None,
    series: Sequence[RegionSeries] | None = None,
    size: tuple[int, int] = (900, 550),
    dpi: int = 100,
    workers: int = 1,
) -> Figure:
    """The climate-change signal: region-mean annual normal against target year, one line per scenario, the
    periods (historical / hybrid / future) shaded. ``series`` skips reading when the caller has them."""
    if series is None:
        records = select_records(load_records(output_dir), variable, region, scenarios, window_years)
        series = region_series_many(output_dir, records, workers=workers)
    if not series:
        raise PlotError(f"no {variable} {region} normals to plot")
    records = [s.record for s in series]
    fig = _new_figure(size, dpi)
    ax = fig.add_subplot()
    _shade_periods(ax, records)
    order = _scenario_order(r["scenario"] for r in records)
    colours = _colours(order)
    points: dict[str, list[tuple[int, float]]] = {}
    units = series[0].units
    for s in series:
        value = float(display(np.array(s.annual), s.units)[0])
        points.setdefault(s.record["scenario"], []).append((int(s.record["target_year"]), value))
    shown_units = display(np.zeros(1), units)[1]
    history = sorted(points.get(HISTORICAL, []))
    futures = iter(_LINE_STYLES * (1 + len(order)))
    for scenario in order:
        line = sorted(points[scenario])
        if scenario != HISTORICAL and history and line and line[0][0] == history[-1][0] + 1:
            line = [history[-1], *line]
        style, marker = ("-", "o") if scenario == HISTORICAL else next(futures)
        x, y = _gapped(line)
        ax.plot(
            x,
            y,
            color=colours[scenario][0],
            lw=1.8,
            ls=style,
            marker=marker if len(line) <= 40 else None,
            ms=4,
            mfc="none" if style != "-" else None,
            label=scenario,
            zorder=3,
        )
    first = series[0]
    width = first.record["window_years"]
    ax.set_xlabel(f"target year (last year of the {width}-year window)")
    ax.set_ylabel(f"annual mean {variable} ({shown_units})\ncos(lat)-weighted region mean")
    ax.set_title(
        f"{_short_name(variable, first.long_name)}, {first.region_name}\n"
        f"the {width}-year normal's annual mean by target year"
    )
    ax.legend(loc="best", title="scenario")
    return fig


# ---- one call per picture (what the CLI uses) --------------------------------------------------------------
def plot_map(output_dir: Path, out: Path, variable: str, region: str, **options: Any) -> Path:
    """Draw ``map_figure`` and write it to ``out``."""
    return save_figure(map_figure(output_dir, variable, region, **options), out)


def plot_cycle(output_dir: Path, out: Path, variable: str, region: str, **options: Any) -> Path:
    """Draw ``cycle_figure`` and write it to ``out``."""
    return save_figure(cycle_figure(output_dir, variable, region, **options), out)


def plot_change(output_dir: Path, out: Path, variable: str, region: str, **options: Any) -> Path:
    """Draw ``change_figure`` and write it to ``out``."""
    return save_figure(change_figure(output_dir, variable, region, **options), out)
