"""The long table assembled from per-file results: one row per polygon × slot × field, strings categorical."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from climnorm.zonal.apply import FLAGS, ZonalValues
from climnorm.zonal.polygons import PolygonSet

META_COLUMNS = ("region", "model", "statistic", "variable", "units", "scenario", "period", "product", "slot_kind")
COLUMNS = (
    "id", "name", "state", "region", "model", "statistic", "variable", "units", "scenario", "period",
    "target_year", "product", "slot_kind", "slot", "slot_label", "value", "covered_fraction", "n_cells",
    "flag", "nearest_km", "nearest_lat", "nearest_lon",
)  # fmt: skip


NUMERIC = ("values", "covered_fraction", "n_cells", "flag", "nearest_km", "nearest_lat", "nearest_lon")


@dataclass(frozen=True)
class FieldMeta:
    """What every row of one field's block shares."""

    region: str
    model: str
    statistic: str
    variable: str
    units: str
    scenario: str
    period: str
    product: str
    slot_kind: str
    target_year: int


@dataclass
class TableBuilder:
    """Collects blocks of rows as arrays and builds the DataFrame once (cheap categoricals, no repeated concat)."""

    polygons: PolygonSet
    blocks: list[tuple[int, np.ndarray, tuple[str, ...], ZonalValues]] = field(default_factory=list)
    metas: list[FieldMeta] = field(default_factory=list)

    def add(self, meta: FieldMeta, slots: np.ndarray, labels: tuple[str, ...], values: ZonalValues) -> None:
        self.metas.append(meta)
        self.blocks.append((len(self.metas) - 1, np.asarray(slots), labels, values))

    @property
    def rows(self) -> int:
        return sum(v.values.size for _, _, _, v in self.blocks)

    def flagged_ids(self) -> set[str]:
        """Ids of the polygons with at least one flagged (nearest or nodata) row."""
        return {self.polygons.ids[r] for _, _, _, v in self.blocks for r in v.rows[(v.flag != 0).any(axis=1)]}

    def frame(self) -> pd.DataFrame:
        """The table, sorted by field, polygon and slot as added (polygon-major within a field)."""
        if not self.blocks:
            return empty_frame()
        return pd.DataFrame(
            {c: pd.Categorical.from_codes(*v) if isinstance(v, tuple) else v for c, v in self._columns()}
        )

    def arrow(self) -> pa.Table:
        """The same table as an Arrow table (text columns dictionary-encoded), built without pandas."""
        if not self.blocks:
            return pa.Table.from_pandas(empty_frame(), preserve_index=False)
        arrays = {c: pa.DictionaryArray.from_arrays(*v) if isinstance(v, tuple) else v for c, v in self._columns()}
        return pa.table(arrays)

    def _columns(self) -> list[tuple[str, Any]]:
        """Every column in order: numbers as arrays, text as (int32 codes, categories)."""
        pieces: dict[str, list[np.ndarray]] = {k: [] for k in ("meta", "row", "slot", "label")}
        numbers: dict[str, list[np.ndarray]] = {k: [] for k in NUMERIC}
        label_codes: dict[str, int] = {}
        for index, slots, labels, v in self.blocks:
            n_rows, n_slots = v.values.shape
            pieces["meta"].append(np.full(n_rows * n_slots, index, dtype=np.int32))
            pieces["row"].append(np.repeat(v.rows.astype(np.int32), n_slots))
            pieces["slot"].append(np.tile(slots.astype(np.int16), n_rows))
            codes = np.array([label_codes.setdefault(s, len(label_codes)) for s in labels], dtype=np.int32)
            pieces["label"].append(np.tile(codes, n_rows))
            for name in numbers:
                numbers[name].append(getattr(v, name).ravel())
        cat = {k: np.concatenate(p) for k, p in pieces.items()}
        return self._assemble(cat, {k: np.concatenate(p) for k, p in numbers.items()}, list(label_codes))

    def _assemble(
        self, cat: dict[str, np.ndarray], numbers: dict[str, np.ndarray], labels: list[str]
    ) -> list[tuple[str, Any]]:
        rows = cat["row"]
        columns: dict[str, Any] = {
            "id": _coded(rows, self.polygons.ids),
            "name": _coded(rows, self.polygons.names),
            "state": _coded(rows, self.polygons.states),
        }
        for name in META_COLUMNS:
            columns[name] = _coded(cat["meta"], tuple(getattr(m, name) for m in self.metas))
        columns["target_year"] = np.array([m.target_year for m in self.metas], dtype=np.int32)[cat["meta"]]
        columns["slot"] = cat["slot"]
        columns["slot_label"] = (cat["label"], labels)
        columns["value"] = numbers["values"]
        columns["covered_fraction"] = numbers["covered_fraction"]
        columns["n_cells"] = numbers["n_cells"]
        columns["flag"] = (numbers["flag"].astype(np.int32), list(FLAGS))
        for name in ("nearest_km", "nearest_lat", "nearest_lon"):
            columns[name] = numbers[name]
        return [(c, columns[c]) for c in COLUMNS]


def empty_frame() -> pd.DataFrame:
    """The table without rows: its columns, as text."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def _coded(codes: np.ndarray, values: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Values[codes] as (int32 codes, sorted distinct values): ids may repeat as names do."""
    uniques, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return inverse[codes].astype(np.int32), [str(u) for u in uniques]
