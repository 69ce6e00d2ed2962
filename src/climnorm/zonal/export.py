"""Writing the zonal table: Parquet (pyarrow) or CSV chosen by the file's suffix, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from climnorm.zonal.errors import ZonalError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise ZonalError(f"{path}: unknown table format; use a name ending in .parquet, .pq, .csv or .csv.gz")


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to ``path`` (Parquet or CSV by suffix) via a temporary file renamed into place."""
    path = Path(path)
    kind = _kind(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if path.name.lower().endswith(".gz") else path.suffix
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        if kind == "parquet":
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp, compression="zstd")
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
