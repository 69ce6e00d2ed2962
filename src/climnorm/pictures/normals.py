"""What pictures and reports show, found through the manifest (`climnorm.outputs.OutputIndex`, never by globbing)
and read back.

Region means are area-weighted by cos(latitude) and skip missing cells; an annual mean weights the 29 February
slot (or day 366) by the share of years that have it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm._ranges import format_ranges
from climnorm.errors import OutputNotFound, PlotError
from climnorm.outputs.index import OutputIndex
from climnorm.records import ENSEMBLE, OutputRecord
from climnorm.types import HISTORICAL
from climnorm.write.orders import change_variable
from climnorm.write.readback import open_output

log = logging.getLogger(__name__)


def load_index(output_dir: Path, *, changes: bool = False) -> OutputIndex:
    """Every output the manifest of ``output_dir`` lists (with the journal of an interrupted run replayed); with
    ``changes``, its change files instead of its normals."""
    index = OutputIndex.load(output_dir)
    return index.of_changes() if changes else index


def _choices(records: Iterable[OutputRecord], key: str) -> str:
    return ", ".join(sorted({str(r.value(key)) for r in records})) or "none"


def data_variable(record: OutputRecord, statistic: str | None = None) -> str:
    """The variable a picture reads from an output: the normal itself, or an ensemble statistic (the mean, unless
    another is asked for)."""
    name = change_variable(record.data_name) if record.is_change else record.data_name
    if not record.is_ensemble:
        return name
    available = list(record.statistics or ("mean",))
    chosen = statistic or ("mean" if "mean" in available else available[0])
    if chosen not in available:
        raise PlotError(f"{record.path}: no ensemble statistic {chosen!r} (the file has {', '.join(available)})")
    return f"{name}_{chosen}"


@dataclass(frozen=True)
class Selection:
    """Which normals of an output folder a picture shows (the CLI's --variable/--region/--scenario/--target/
    --window-years/--model/--statistic); a field a picture has no use for is left unread.

    ``scenarios`` may be given as one name or any sequence (kept as a tuple); a map or choropleth shows at most
    one (`scenario`). ``model``: a model, "MODEL VARIANT" or "ensemble"; ``statistic``: of an ensemble output;
    ``change``: their changes against the baseline (docs/changes.md).
    """

    variable: str
    region: str
    scenarios: tuple[str, ...] = ()
    target: int | None = None
    window_years: int | None = None
    model: str | None = None
    statistic: str | None = None
    product: str = "daily"
    change: bool = False  # the normals' changes against the baseline instead of the normals

    def __post_init__(self) -> None:
        scenarios: str | Sequence[str] | None = self.scenarios
        object.__setattr__(self, "scenarios", (scenarios,) if isinstance(scenarios, str) else tuple(scenarios or ()))

    @property
    def scenario(self) -> str | None:
        """The one scenario of a map or choropleth (None: any); several are a PlotError."""
        if len(self.scenarios) > 1:
            raise PlotError(
                f"{self.variable} {self.region}: a map shows one scenario, not {len(self.scenarios)} "
                f"({', '.join(self.scenarios)})"
            )
        return self.scenarios[0] if self.scenarios else None


def select_records(index: OutputIndex, selection: Selection) -> list[OutputRecord]:
    """The records of the selection's variable, region and product (its scenarios, if any), of one window
    length and one member.

    When the directory holds normals of several window lengths and none is asked for, the most common wins;
    of several members, the ensemble when there is one (``selection.model`` chooses: a model, a member or
    "ensemble").
    """
    return one_member(select_all_members(index, selection), selection)


def one_member(chosen: list[OutputRecord], selection: Selection) -> list[OutputRecord]:
    """The records of ``selection.model`` among ``chosen``, or of the only member, or of the ensemble."""
    variable, region, model = selection.variable, selection.region, selection.model
    members = sorted({r.member for r in chosen})
    if model is not None:
        own = [r for r in chosen if model in (r.member, r.model)]
        if not own:
            raise OutputNotFound(
                f"no {variable} {region} outputs of {model!r} (the manifest has: {', '.join(members)})"
            )
        chosen, members = own, sorted({r.member for r in own})
    if len(members) <= 1:
        return chosen
    if model is None and ENSEMBLE in members:
        return [r for r in chosen if r.is_ensemble]
    raise PlotError(f"{variable} {region}: outputs of several members ({', '.join(members)}); choose one with --model")


def select_all_members(index: OutputIndex, selection: Selection) -> list[OutputRecord]:
    """The records of the selection's variable, region and product of every member (its scenarios, if any),
    of one window length."""
    chosen = index.select(
        variable=selection.variable,
        product=selection.product,
        region=selection.region,
        scenario=selection.scenarios or None,
    )
    return _one_window(chosen, selection)


def _one_window(chosen: list[OutputRecord], selection: Selection) -> list[OutputRecord]:
    """The records of the asked-for window length, else of the most common one (with a warning)."""
    variable, region, window_years = selection.variable, selection.region, selection.window_years
    windows = sorted({r.window_years for r in chosen})
    if window_years is not None:
        if window_years not in windows:
            raise OutputNotFound(f"no {variable} {region} {window_years}-year normals (window lengths: {windows})")
    elif len(windows) > 1:
        window_years = max(windows, key=lambda w: (sum(r.window_years == w for r in chosen), w))
        log.warning(
            "%s %s: normals of %s-year windows found; showing the %d-year ones", variable, region, windows, window_years
        )
    if window_years is not None:
        chosen = [r for r in chosen if r.window_years == window_years]
    return chosen


def target_ranges(records: Iterable[OutputRecord]) -> str:
    return format_ranges(sorted({r.target_year for r in records}))


def pick_record(index: OutputIndex, selection: Selection) -> OutputRecord:
    """The one output a map shows. Without a target, the latest; a historical target is found under a future
    scenario too (historical normals are shared by every scenario)."""
    variable, region, scenario, target = selection.variable, selection.region, selection.scenario, selection.target
    candidates = select_records(index, replace(selection, scenarios=()))
    if scenario is not None:
        own = [r for r in candidates if r.scenario == scenario]
        if not own and scenario != HISTORICAL:
            raise OutputNotFound(
                f"no {variable} {region} outputs for scenario {scenario!r} "
                f"(the manifest has: {_choices(candidates, 'scenario')})"
            )
        if target is not None and not any(r.target_year == target for r in own):
            shared = [r for r in candidates if r.scenario == HISTORICAL and r.target_year == target]
            if shared:
                log.info("target %d is historical (shared by every scenario): showing the historical normal", target)
                own = shared
        candidates = own
    if target is None:
        target = max(r.target_year for r in candidates)
    found = [r for r in candidates if r.target_year == target]
    if not found:
        raise OutputNotFound(
            f"no {variable} {region}{' ' + scenario if scenario else ''} normal for target {target} "
            f"(targets: {target_ranges(candidates)})"
        )
    if len(found) > 1:
        raise PlotError(
            f"{len(found)} {variable} {region} normals for target {target} "
            f"(scenarios {_choices(found, 'scenario')}): choose one with --scenario"
        )
    return found[0]


def slot_weights(month: np.ndarray, day: np.ndarray, calendar: str, leap_day: str) -> np.ndarray:
    """Weight of each day slot in a year's mean: 1, or 0.25 for the slot only leap years have."""
    weights = np.ones(month.size)
    if month.size == 366 and calendar not in ("all_leap", "366_day"):
        if leap_day == "dayofyear":
            weights[-1] = 0.25
        else:
            weights[(month == 2) & (day == 29)] = 0.25
    return weights


def region_mean(values: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Mean over the last two axes (lat, lon), area-weighted by cos(latitude), missing cells skipped.

    NaN where a slot has no valid cell.
    """
    weights = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], values.shape[-2:])
    valid = np.isfinite(values)
    total = np.where(valid, values, 0.0).astype(np.float64) * weights
    norm = (valid * weights).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, total.sum(axis=(-2, -1)) / norm, np.nan)


def weighted_nanmean(values: np.ndarray, weights: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean along ``axis`` with ``weights`` along it, NaN skipped; NaN where nothing is valid."""
    shape = [1] * values.ndim
    shape[axis] = weights.size
    w = weights.reshape(shape)
    valid = np.isfinite(values)
    norm = (valid * w).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (np.where(valid, values, 0.0) * w).sum(axis=axis) / norm, np.nan)


@dataclass
class Normal:
    """One output's field (slot, lat, lon; NaN where missing) with what a picture says about it."""

    record: OutputRecord
    values: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    month: np.ndarray
    day: np.ndarray
    weights: np.ndarray
    units: str
    long_name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    steps: tuple[str, ...] = ()  # a normal of periods: its steps' labels ("01".."12", "DJF"..., "year"); else none
    total: bool = False  # its steps are totals within years (counts, sums): a year's value is their sum

    def combined(self, chosen: np.ndarray) -> np.ndarray:
        """The chosen slots or steps as one field: their weighted mean, or for totals their sum."""
        return combine(self.values[chosen].astype(np.float64), self.weights[chosen], self.total)


#: The first month of each season step of a seasonal file.
_SEASON_MONTHS = {"DJF": 12, "MAM": 3, "JJA": 6, "SON": 9}


def read_normal(output_dir: Path, record: OutputRecord, statistic: str | None = None) -> Normal:
    """Read one output listed in the manifest (of an ensemble output, one statistic: see `data_variable`): a
    normal of day slots, or of periods (months, seasons, the year), whose steps get their first month."""
    path = Path(output_dir) / record.path
    variable = data_variable(record, statistic)
    try:
        with open_output(path) as ds:
            var = ds.variables[variable]
            var.set_auto_maskandscale(True)
            values = np.ma.filled(np.ma.asarray(var[:], dtype=np.float32), np.nan)
            lat = np.asarray(ds.variables["lat"][:], dtype=np.float64)
            lon = np.asarray(ds.variables["lon"][:], dtype=np.float64)
            steps = _step_labels(ds) if "day" not in ds.variables else ()
            if steps:
                month = np.array([_SEASON_MONTHS.get(s, int(s) if s.isdigit() else 1) for s in steps])
                day = np.ones_like(month)
            else:
                month = np.asarray(ds.variables["month"][:], dtype=np.int64)
                day = np.asarray(ds.variables["day"][:], dtype=np.int64)
            units = str(getattr(var, "units", ""))
            long_name = str(getattr(var, "long_name", variable))
            total = str(getattr(var, "cell_methods", "")).startswith("time: sum within")
            attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    except (OSError, KeyError) as err:
        raise PlotError(f"{path}: cannot read the normal ({err})") from None
    if steps:
        weights = np.ones(month.size)
    else:
        calendar, leap_day = str(attrs.get("calendar", record.calendar)), str(attrs.get("leap_day", record.leap_day))
        weights = slot_weights(month, day, calendar, leap_day)
    return Normal(record, values, lat, lon, month, day, weights, units, long_name, attrs, steps, total)


def _step_labels(ds: netCDF4.Dataset) -> tuple[str, ...]:
    """A normal of periods' step labels: its months ("01"...), seasons ("DJF"...), or the year's one step."""
    if "season" in ds.variables:
        return tuple(str(s) for s in np.atleast_1d(ds.variables["season"][:]))
    if "month" in ds.variables:
        return tuple(f"{int(m):02d}" for m in ds.variables["month"][:])
    return ("year",) * len(ds.dimensions["time"])


def is_total(path: Path, record: OutputRecord) -> bool:
    """Whether the output's steps are totals within years (its cell methods say a sum): summed, not averaged."""
    with open_output(path) as ds:
        var = ds.variables.get(data_variable(record))
        return var is not None and str(getattr(var, "cell_methods", "")).startswith("time: sum within")


def combine(values: np.ndarray, weights: np.ndarray, total: bool, axis: int = 0) -> np.ndarray:
    """Steps as one value along ``axis``: their weighted mean, or for totals their sum (NaN if any is)."""
    if total:
        return np.asarray(values.sum(axis=axis))
    return weighted_nanmean(values, weights, axis=axis)


@dataclass
class RegionSeries:
    """The region-mean normal of one output against day slot, in the file's units."""

    record: OutputRecord
    series: np.ndarray
    month: np.ndarray
    day: np.ndarray
    weights: np.ndarray
    units: str
    long_name: str
    region_name: str
    total: bool = False

    @property
    def annual(self) -> float:
        """The year's value of the region-mean normal: the mean of its day slots (or steps), or the sum of steps
        that are totals within years."""
        return float(combine(self.series, self.weights, self.total))


def region_series(output_dir: Path, record: OutputRecord, statistic: str | None = None) -> RegionSeries:
    """Read one output and reduce it to its area-weighted region mean per day slot."""
    normal = read_normal(output_dir, record, statistic)
    return RegionSeries(
        record,
        region_mean(normal.values, normal.lat),
        normal.month,
        normal.day,
        normal.weights,
        normal.units,
        normal.long_name,
        str(normal.attrs.get("region_name", record.region)),
        normal.total,
    )


def _region_series_task(args: tuple[Path, OutputRecord, str | None]) -> RegionSeries:
    return region_series(*args)


def region_series_many(
    output_dir: Path, records: Sequence[OutputRecord], *, workers: int = 1, statistic: str | None = None
) -> list[RegionSeries]:
    """``region_series`` of many outputs, in order; ``workers`` > 1 reads them in that many processes."""
    tasks = [(Path(output_dir), r, statistic) for r in records]
    if workers <= 1 or len(tasks) < 8:
        return [_region_series_task(t) for t in tasks]
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_region_series_task, tasks, chunksize=max(1, len(tasks) // (4 * workers))))
