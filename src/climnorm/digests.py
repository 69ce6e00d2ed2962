"""The digests the manifest records: of a normal's values (its checksum) and of the input files it came from."""

from __future__ import annotations

import hashlib

import numpy as np


def data_checksum(values: np.ndarray) -> str:
    """sha256 of the float32 little-endian values, NaNs made canonical so masked cells compare equal."""
    data = np.ascontiguousarray(values, dtype="<f4").copy()
    data[np.isnan(data)] = np.nan
    return "sha256:" + hashlib.sha256(data.tobytes()).hexdigest()


def inputs_digest(records: list[dict[str, object]]) -> str:
    """sha256 of the inputs' paths, sizes and modification times, in order."""
    text = "\n".join(f"{r['path']}|{r['size']}|{r['mtime']}" for r in records)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
