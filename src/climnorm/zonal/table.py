"""The zonal table: climnorm outputs found through the manifest, aggregated to polygons (default: U.S. counties).

Outputs form sets across regions (same variable, scenario, period, target year, model, product); within a
set each polygon is assigned to ONE region: the one whose grid covers most of its area (ties: the region
listed first in key order). Polygons that no region's grid touches in any set are listed once (warning, and
`ZonalResult.outside`), not silently dropped.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ParamSpec

import numpy as np
import pandas as pd

from climnorm.records import OutputRecord
from climnorm.zonal.apply import apply_weights
from climnorm.zonal.cache import CACHE_DIR_NAME, cached_weights
from climnorm.zonal.counties import load_counties
from climnorm.zonal.fields import Field, read_fields, read_output_grid, read_window_years, select_records, set_key
from climnorm.zonal.frame import FieldMeta, TableBuilder
from climnorm.zonal.grid import Grid
from climnorm.zonal.polygons import PolygonSet, read_polygons
from climnorm.zonal.variability import VARIABILITY, polygon_variability
from climnorm.zonal.weights import Weights

log = logging.getLogger(__name__)
P = ParamSpec("P")


@dataclass(frozen=True, eq=False)
class ZonalResult:
    """The long table, the ids of polygons outside every region, and the region each polygon was given."""

    table: pd.DataFrame
    outside: tuple[str, ...]
    assigned: dict[str, str]


def resolve_polygons(
    polygons: PolygonSet | str | Path | None, id_field: str | None, name_field: str | None, state_field: str | None
) -> PolygonSet:
    """The polygon set to use: given, read from a file (id field default ``id``), or the built-in counties."""
    if isinstance(polygons, PolygonSet):
        return polygons
    if polygons is None:
        return load_counties()
    return read_polygons(polygons, id_field or "id", name_field, state_field)


def assign_regions(grid_areas: dict[str, np.ndarray]) -> np.ndarray:
    """Index (into sorted region keys) of the region covering most of each polygon; -1 where none covers it."""
    keys = sorted(grid_areas)
    stacked = np.vstack([grid_areas[k] for k in keys])
    best = np.argmax(stacked, axis=0)
    return np.where(stacked.max(axis=0) > 0.0, best, -1)


def _field_meta(record: OutputRecord, field: Field) -> FieldMeta:
    """The shared columns of one field's rows, from its manifest record and variable."""
    return FieldMeta(
        region=record.region,
        model=record.model,
        statistic=field.statistic,
        variable=record.variable,
        units=field.units,
        scenario=record.scenario,
        period=record.period,
        product=record.product,
        slot_kind=field.slot_kind,
        target_year=record.target_year,
    )


class Aggregation:
    """Outputs of one directory aggregated to one polygon set, set by set (`sets`, then `add_set` each).

    Each grid's weights are computed (or read from the cache) once, whatever the number of files; what every
    polygon was given, and which polygons no set could serve, is collected for `outside` and `result`.
    """

    def __init__(self, output_dir: Path, polygons: PolygonSet, records: list[OutputRecord], *, cache: bool) -> None:
        self.start = time.perf_counter()
        self.output_dir = output_dir
        self.polygons = polygons
        self.records = records
        self.cache_dir = output_dir / CACHE_DIR_NAME if cache else None
        self.grids = {r.path: read_output_grid(output_dir / r.path) for r in records}
        self.weights: dict[str, Weights] = {}
        self.weight_seconds = 0.0
        self.assigned: dict[str, str] = {}
        self.served = np.zeros(len(polygons), dtype=bool)
        self.only: set[str] | None = None
        """Paths of the files to read (None: all); the other files of a set still assign polygons to regions."""

    def weights_of(self, grid: Grid) -> Weights:
        key = grid.fingerprint()
        if key not in self.weights:
            start = time.perf_counter()
            self.weights[key] = cached_weights(self.polygons, grid, self.cache_dir)
            self.weight_seconds += time.perf_counter() - start
        return self.weights[key]

    def sets(self) -> list[list[OutputRecord]]:
        """The records grouped into sets across regions, in manifest path order."""
        sets: dict[tuple[str, ...], list[OutputRecord]] = {}
        for record in self.records:
            sets.setdefault(set_key(record), []).append(record)
        return list(sets.values())

    def add_set(self, builder: TableBuilder, members: list[OutputRecord]) -> None:
        """Aggregate one set: every polygon from the region that covers most of it."""
        areas = {r.region: self.weights_of(self.grids[r.path]).grid_area for r in members}
        choice = assign_regions(areas)
        for i, region in enumerate(sorted(areas)):
            rows = np.flatnonzero(choice == i)
            self.served[rows] = True
            self.assigned.update({self.polygons.ids[k]: region for k in rows})
            for record in (r for r in members if r.region == region):
                if self.only is None or record.path in self.only:
                    self._add_file(builder, record, rows)

    def _add_file(self, builder: TableBuilder, record: OutputRecord, rows: np.ndarray) -> None:
        """Aggregate every field of one output file (of the wanted products) for the polygon rows it serves."""
        if not rows.size:
            return
        path = self.output_dir / record.path
        _, fields = read_fields(path, record.data_name)
        grid = self.grids[record.path]
        years = read_window_years(path, record.data_name)
        for field in fields:
            own = field.statistic == VARIABILITY and years is not None
            if field.statistic.startswith(VARIABILITY) and not own:
                continue  # a county's variability is its own years', never an average of its cells' (nor of members')
            weights = self.weights_of(grid)
            values = apply_weights(weights, grid, field.data, rows, self.polygons)
            if own:
                assert years is not None
                values = replace(values, values=polygon_variability(weights, grid, years, rows, self.polygons))
            builder.add(_field_meta(record, field), field.slots, field.labels, values)

    def outside(self) -> tuple[str, ...]:
        """Ids of the polygons no set could serve, sorted; warned about once."""
        ids = tuple(sorted(self.polygons.ids[i] for i in np.flatnonzero(~self.served)))
        if ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            log.warning("%d polygons are outside every region's grid and have no values: %s", len(ids), shown)
        return ids

    def done(self, rows: int) -> None:
        log.debug(
            "zonal table: %d rows from %d files, %d polygons (weights %.2f s, total %.2f s)",
            rows,
            len(self.records),
            len(self.polygons),
            self.weight_seconds,
            time.perf_counter() - self.start,
        )


@dataclass(frozen=True)
class ZonalRequest:
    """What to aggregate: which polygons and which outputs of the manifest (what the CLI and config give)."""

    polygons: PolygonSet | str | Path | None = None
    """A polygon set, a vector file, or None for the built-in U.S. counties."""
    id_field: str | None = None
    """For a file: the field of unique ids (default ``id``); the name and state fields are optional."""
    name_field: str | None = None
    state_field: str | None = None
    variables: Sequence[str] | None = None
    """Filters on the manifest records (None: all)."""
    regions: Sequence[str] | None = None
    products: Sequence[str] | None = None
    scenarios: Sequence[str] | None = None
    cache: bool = True
    """Keep the weights in ``{output_dir}/zonal-cache`` (computed once per grid and polygon set)."""

    def aggregation(self, output_dir: str | Path, records: list[OutputRecord] | None = None) -> Aggregation:
        """The work for ``output_dir``: ``records`` as given, else the manifest's records matching the filters."""
        output_dir = Path(output_dir)
        if records is None:
            records = select_records(
                output_dir, variables=self.variables, regions=self.regions, products=self.products,
                scenarios=self.scenarios,
            )  # fmt: skip
        shapes = resolve_polygons(self.polygons, self.id_field, self.name_field, self.state_field)
        return Aggregation(output_dir, shapes, records, cache=self.cache)


def each_set(work: Aggregation) -> Iterator[TableBuilder]:
    """The table one output set at a time (what a streaming writer needs: the memory of one set's rows)."""
    rows = 0
    for members in work.sets():
        builder = TableBuilder(work.polygons)
        work.add_set(builder, members)
        rows += builder.rows
        yield builder
    work.done(rows)


def stats(work: Aggregation) -> ZonalResult:
    """The whole table in memory, with the polygons outside every region and the region of each."""
    builder = TableBuilder(work.polygons)
    for members in work.sets():
        work.add_set(builder, members)
    table = builder.frame()
    outside = work.outside()
    table.attrs["outside"] = list(outside)
    work.done(len(table))
    return ZonalResult(table, outside, work.assigned)


def zonal_stats(
    output_dir: str | Path,
    polygons: PolygonSet | str | Path | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    state_field: str | None = None,
    *,
    variables: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    products: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    cache: bool = True,
) -> ZonalResult:
    """Aggregate the outputs listed in ``output_dir``'s manifest to polygons (arguments: `ZonalRequest`).

    The table has one row per polygon × field × slot (columns in `climnorm.zonal.frame.COLUMNS`); the ids of
    polygons outside every region are in ``.outside`` and ``table.attrs["outside"]``.
    """
    request = ZonalRequest(polygons, id_field, name_field, state_field, variables, regions, products, scenarios, cache)
    return stats(request.aggregation(output_dir))


def _table_of(run: Callable[P, ZonalResult]) -> Callable[P, pd.DataFrame]:
    @functools.wraps(run)
    def table(*args: P.args, **kwargs: P.kwargs) -> pd.DataFrame:
        return run(*args, **kwargs).table

    table.__doc__ = "`zonal_stats`'s table alone: a pandas DataFrame (same arguments)."
    return table


zonal_table = _table_of(zonal_stats)
