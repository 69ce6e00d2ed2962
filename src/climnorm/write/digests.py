"""The digests the manifest records: of an output's values (its checksum) and of the input files it came from."""

from __future__ import annotations

import hashlib

import numpy as np


def _canonical(values: np.ndarray) -> bytes:
    """float32 little-endian bytes, NaNs made canonical so masked cells compare equal."""
    data = np.ascontiguousarray(values, dtype="<f4").copy()
    data[np.isnan(data)] = np.nan
    return data.tobytes()


def data_checksum(values: np.ndarray) -> str:
    """sha256 of a normal's values as float32 with canonical NaNs."""
    return "sha256:" + hashlib.sha256(_canonical(values)).hexdigest()


class EnsembleChecksum:
    """An ensemble file's checksum: sha256 per variable over its values in slot order (float32 with canonical
    NaN; n_members as int16), fed block by block, then of those digests in file order."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.parts = {n: hashlib.sha256() for n in names}

    def update(self, name: str, block: np.ndarray) -> None:
        data = _canonical(block) if block.dtype.kind == "f" else np.ascontiguousarray(block, dtype="<i2").tobytes()
        self.parts[name].update(data)

    def digest(self) -> str:
        text = "\n".join(f"{n} {self.parts[n].hexdigest()}" for n in self.names)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def ensemble_checksum(arrays: dict[str, np.ndarray]) -> str:
    """The checksum of an ensemble file's data, from its variables (in file order)."""
    check = EnsembleChecksum(list(arrays))
    for name, values in arrays.items():
        check.update(name, values)
    return check.digest()


def inputs_digest(records: list[dict[str, object]]) -> str:
    """sha256 of the inputs' paths, sizes and modification times, in order."""
    text = "\n".join(f"{r['path']}|{r['size']}|{r['mtime']}" for r in records)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
