"""Writing the zonal table: Parquet (pyarrow) or CSV chosen by the file's suffix, atomically, whole or streamed.

`write_zonal_table` streams: the table is built and written one output set at a time (one Parquet row group
per set), so memory holds one set's rows whatever the number of files; the file appears, complete, at the end.
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from climnorm._atomic import atomic_file
from climnorm.errors import ZonalError
from climnorm.records import OutputRecord
from climnorm.zonal.frame import TableBuilder, empty_frame
from climnorm.zonal.table import ZonalRequest, each_set

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")
TABLE_SUFFIXES = PARQUET_SUFFIXES + CSV_SUFFIXES


def table_kind(path: str | Path) -> str:
    """ "parquet" or "csv" from the file name; any other name is a one-line error listing the choices."""
    name = Path(path).name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise ZonalError(f"{path}: unknown table format; use a name ending in {', '.join(TABLE_SUFFIXES)}")


class _Sink:
    """Frames appended to one open table file: Parquet row groups under one schema, or CSV with one header."""

    def __init__(self, tmp: Path, kind: str, gz: bool) -> None:
        self.tmp, self.kind, self.gz = tmp, kind, gz
        self.parquet: pq.ParquetWriter | None = None
        self.text: IO[str] | None = None
        self.schema: pa.Schema | None = None
        self.written = False

    def write(self, part: pd.DataFrame | TableBuilder) -> None:
        """Append rows: a DataFrame, or a builder's rows (turned into Arrow directly for Parquet)."""
        self.written = True
        if self.kind == "parquet":
            table = part.arrow() if isinstance(part, TableBuilder) else pa.Table.from_pandas(part, preserve_index=False)
            if self.parquet is None:
                self.schema = _wide_dictionaries(table.schema)
                self.parquet = _parquet_writer(self.tmp, self.schema)
            self.parquet.write_table(table if table.schema.equals(self.schema) else table.cast(self.schema))
            return
        frame = part.frame() if isinstance(part, TableBuilder) else part
        first = self.text is None
        if self.text is None:
            self.text = gzip.open(self.tmp, "wt", newline="") if self.gz else open(self.tmp, "w", newline="")  # noqa: SIM115
        frame.to_csv(self.text, header=first, index=False)

    def close(self) -> None:
        for handle in (self.parquet, self.text):
            if handle is not None:
                handle.close()


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """zstd; dictionary pages and min/max statistics for the text and integer columns only (the float columns
    gain nothing from either: a third less time to write, a tenth smaller)."""
    keyed = [f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_integer(f.type)]
    dictionary = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=dictionary, write_statistics=keyed)


def _wide_dictionaries(schema: pa.Schema) -> pa.Schema:
    """The schema with every dictionary column indexed by int32, so each set's categories fit one schema."""
    fields = [
        pa.field(f.name, pa.dictionary(pa.int32(), f.type.value_type)) if pa.types.is_dictionary(f.type) else f
        for f in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


@contextlib.contextmanager
def _table_sink(path: Path) -> Iterator[_Sink]:
    """A sink writing ``path`` through a temporary file renamed into place when all went well."""
    kind = table_kind(path)
    with atomic_file(path) as tmp:
        sink = _Sink(tmp, kind, path.name.lower().endswith(".gz"))
        try:
            yield sink
        finally:
            sink.close()


def write_frames(parts: Iterable[pd.DataFrame | TableBuilder], path: str | Path) -> Path:
    """Write parts of the same columns (DataFrames, or builders' rows) as one table at ``path``, atomically.

    Parquet or CSV by the suffix; empty parts are passed over; without any rows the file still gets the columns.
    """
    path = Path(path)
    with _table_sink(path) as sink:
        for part in parts:
            if (part.rows if isinstance(part, TableBuilder) else len(part)) > 0:
                sink.write(part)
        if not sink.written:
            sink.write(empty_frame())
    return path


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to ``path`` (Parquet or CSV by suffix) via a temporary file renamed into place."""
    return write_frames([df], path)


@dataclass(frozen=True)
class TableWritten:
    """What `write_zonal_table` wrote: the file, its rows, and what happened to the polygons."""

    path: Path
    rows: int
    files: int
    """Outputs (NetCDF files) read."""
    polygons: int
    """Polygons in the set, and how many got values (the rest are ``outside``)."""
    with_values: int
    flagged: tuple[str, ...] = ()
    """Ids of polygons with at least one value from the nearest valid cell (or none at all: flag ``nodata``)."""
    outside: tuple[str, ...] = ()
    """Ids of polygons outside every region's grid (no rows)."""
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: what was written and what became of the polygons."""
        return (
            f"wrote {self.path}: {self.rows:,} rows from {self.files:,} outputs, {self.polygons:,} polygons "
            f"({self.with_values:,} with values, {len(self.flagged):,} flagged, {len(self.outside):,} outside "
            f"every region) in {self.seconds:.1f} s"
        )


def write_zonal_table(
    output_dir: str | Path,
    out: str | Path,
    request: ZonalRequest | None = None,
    *,
    records: list[OutputRecord] | None = None,
) -> TableWritten:
    """Aggregate ``output_dir``'s outputs as ``request`` says (default: every output, the built-in counties)
    and write the table to ``out`` (Parquet or CSV by suffix), one output set at a time."""
    start = time.perf_counter()
    table_kind(out)  # a wrong suffix fails before any work
    work = (request or ZonalRequest()).aggregation(output_dir, records)
    flagged: set[str] = set()
    rows = 0

    def counted() -> Iterator[TableBuilder]:
        nonlocal rows
        for builder in each_set(work):
            rows += builder.rows
            flagged.update(builder.flagged_ids())
            yield builder

    path = write_frames(counted(), out)
    outside = work.outside()
    return TableWritten(
        path=path,
        rows=rows,
        files=len(work.records),
        polygons=len(work.polygons),
        with_values=int(work.served.sum()),
        flagged=tuple(sorted(flagged)),
        outside=outside,
        seconds=time.perf_counter() - start,
    )
