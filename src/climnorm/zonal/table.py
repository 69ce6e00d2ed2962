"""The zonal table: climnorm outputs found through the manifest, aggregated to polygons (default: U.S. counties).

Outputs form sets across regions (same variable, scenario, period, target year, model, product); within a
set each polygon is assigned to ONE region: the one whose grid covers most of its area (ties: the region
listed first in key order). Polygons that no region's grid touches are listed once (warning, and
`ZonalResult.outside`), not silently dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from climnorm.zonal.apply import apply_weights
from climnorm.zonal.cache import CACHE_DIR_NAME, cached_weights
from climnorm.zonal.counties import load_counties
from climnorm.zonal.frame import FieldMeta, TableBuilder
from climnorm.zonal.grid import Grid
from climnorm.zonal.outputs import PRODUCT_OF_SLOTS, Field, read_fields, read_output_grid, select_records, set_key
from climnorm.zonal.polygons import PolygonSet, read_polygons
from climnorm.zonal.weights import Weights

log = logging.getLogger(__name__)


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


class _WeightStore:
    """Weights per grid, computed (or read from the cache) once per run whatever the number of files."""

    def __init__(self, polygons: PolygonSet, cache_dir: Path | None) -> None:
        self.polygons = polygons
        self.cache_dir = cache_dir
        self.by_grid: dict[str, Weights] = {}
        self.seconds = 0.0

    def get(self, grid: Grid) -> Weights:
        key = grid.fingerprint()
        if key not in self.by_grid:
            start = time.perf_counter()
            self.by_grid[key] = cached_weights(self.polygons, grid, self.cache_dir)
            self.seconds += time.perf_counter() - start
        return self.by_grid[key]


def _field_meta(record: dict[str, Any], attrs: dict[str, Any], field: Field) -> FieldMeta:
    """The shared columns of one field's rows, from its manifest record, file attributes and variable."""
    model = str(record.get("model") or attrs.get("model") or "")
    if field.statistic and not model:
        model = "ensemble"
    product = str(record.get("product") or attrs.get("product") or PRODUCT_OF_SLOTS[field.slot_kind])
    return FieldMeta(
        region=str(record["region"]),
        model=model,
        statistic=field.statistic,
        variable=field.variable,
        units=field.units,
        scenario=str(record.get("scenario", "")),
        period=str(record.get("period", "")),
        product=product,
        slot_kind=field.slot_kind,
        target_year=int(record.get("target_year", 0)),
    )


def _set_assignment(
    records: list[dict[str, Any]], grids: dict[str, Grid], store: _WeightStore
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per region of one output set: the polygon rows it serves; and the rows no region's grid touches."""
    areas = {str(r["region"]): store.get(grids[r["path"]]).grid_area for r in records}
    choice = assign_regions(areas)
    keys = sorted(areas)
    rows = {key: np.flatnonzero(choice == i) for i, key in enumerate(keys)}
    return rows, np.flatnonzero(choice < 0)


def zonal_stats(
    output_dir: str | Path,
    polygons: PolygonSet | str | Path | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    state_field: str | None = None,
    *,
    variables: list[str] | None = None,
    regions: list[str] | None = None,
    products: list[str] | None = None,
    scenarios: list[str] | None = None,
    cache: bool = True,
) -> ZonalResult:
    """Aggregate the outputs listed in ``output_dir``'s manifest to polygons; see `zonal_table` for the columns."""
    start = time.perf_counter()
    output_dir = Path(output_dir)
    records = select_records(output_dir, variables=variables, regions=regions, products=products, scenarios=scenarios)
    shapes = resolve_polygons(polygons, id_field, name_field, state_field)
    store = _WeightStore(shapes, output_dir / CACHE_DIR_NAME if cache else None)
    grids = {r["path"]: read_output_grid(output_dir / r["path"]) for r in records}
    sets: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record in records:
        sets.setdefault(set_key(record), []).append(record)
    builder = TableBuilder(shapes)
    outside: set[int] = set()
    assigned: dict[str, str] = {}
    for members in sets.values():
        rows, missing = _set_assignment(members, grids, store)
        outside.update(int(i) for i in missing)
        for record in members:
            region_rows = rows[str(record["region"])]
            assigned.update({shapes.ids[i]: str(record["region"]) for i in region_rows})
            _add_file(builder, output_dir, record, grids[record["path"]], store, region_rows, products)
    table = builder.frame()
    ids = tuple(sorted(shapes.ids[i] for i in outside))
    if ids:
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        log.warning("%d polygons are outside every region's grid and have no values: %s", len(ids), shown)
    table.attrs["outside"] = list(ids)
    log.info(
        "zonal table: %d rows from %d files, %d polygons (weights %.2f s, total %.2f s)",
        len(table),
        len(records),
        len(shapes),
        store.seconds,
        time.perf_counter() - start,
    )
    return ZonalResult(table, ids, assigned)


def _add_file(
    builder: TableBuilder,
    output_dir: Path,
    record: dict[str, Any],
    grid: Grid,
    store: _WeightStore,
    rows: np.ndarray,
    products: list[str] | None,
) -> None:
    """Aggregate every field of one output file (of the wanted products) for the polygon rows its region serves."""
    if not rows.size:
        return
    attrs, fields = read_fields(output_dir / record["path"], str(record["variable"]))
    weights = store.get(grid)
    for field in fields:
        if products is not None and _field_meta(record, attrs, field).product not in products:
            continue
        values = apply_weights(weights, grid, field.data, rows, store.polygons)
        builder.add(_field_meta(record, attrs, field), field.slots, field.labels, values)


def zonal_table(
    output_dir: str | Path,
    polygons: PolygonSet | str | Path | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    state_field: str | None = None,
    *,
    variables: list[str] | None = None,
    regions: list[str] | None = None,
    products: list[str] | None = None,
    scenarios: list[str] | None = None,
    cache: bool = True,
) -> pd.DataFrame:
    """Long table, one row per polygon × field × slot (columns in `climnorm.zonal.frame.COLUMNS`).

    ``polygons`` None = built-in U.S. counties; a path is read with ``id_field`` (default "id"), ``name_field``
    and ``state_field``. The ids of polygons outside every region are in ``table.attrs["outside"]``.
    """
    return zonal_stats(
        output_dir,
        polygons,
        id_field,
        name_field,
        state_field,
        variables=variables,
        regions=regions,
        products=products,
        scenarios=scenarios,
        cache=cache,
    ).table
