"""A NetCDF4 object opened through h5netcdf over a file-like view, with attributes as netCDF4 gives them.

netCDF4 (libnetcdf) decodes text attributes to `str`; h5netcdf hands fixed-length ones back as bytes. The reader
(`climnorm.read.extract`) reads an object's metadata this way when its data go through the fast path, so attributes must
read exactly as from a local file for the outputs to be the same to the bit.
"""

from __future__ import annotations

from typing import IO, Any

import h5netcdf.legacyapi
import numpy as np


def _as_netcdf4(value: Any) -> Any:
    """An attribute value as netCDF4 returns it: text as `str`."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":
        texts = [v.decode("utf-8", "replace") for v in value.ravel()]
        return texts[0] if len(texts) == 1 else texts
    return value


class Variable(h5netcdf.legacyapi.Variable):  # type: ignore[misc]
    """An h5netcdf variable whose attributes read as netCDF4's."""

    def getncattr(self, name: str) -> Any:
        return _as_netcdf4(super().getncattr(name))

    def __getattr__(self, name: str) -> Any:
        return _as_netcdf4(super().__getattr__(name))


class Dataset(h5netcdf.legacyapi.Dataset):  # type: ignore[misc]
    """`h5netcdf.legacyapi.Dataset` with `Variable`s whose attributes read as netCDF4's."""

    _variable_cls = Variable

    def getncattr(self, name: str) -> Any:
        return _as_netcdf4(super().getncattr(name))

    def __getattr__(self, name: str) -> Any:
        return _as_netcdf4(super().__getattr__(name))


def open_object(file: IO[bytes]) -> Dataset:
    """Open a NetCDF4/HDF5 file-like object read-only."""
    return Dataset(file, "r")
