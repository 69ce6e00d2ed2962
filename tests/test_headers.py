"""Tests of climnorm.read.headers: each unusable file reported in one line, real files pass."""

from __future__ import annotations

import os
from pathlib import Path

import netCDF4
import numpy as np

from climnorm.catalog.scan import build_catalog
from climnorm.read.headers import check_files
from helpers import REAL, nex, touch

# ---------------------------------------------------------------------------------------------------------
# check_files
# ---------------------------------------------------------------------------------------------------------


def write_nc(path: Path, variable: str, fmt: str = "NETCDF4", ntime: int = 50) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", 8)
        ds.createDimension("lon", 8)
        var = ds.createVariable(variable, "f4", ("time", "lat", "lon"), zlib=fmt.startswith("NETCDF4"))
        var[:] = np.random.default_rng(0).random((ntime, 8, 8), dtype=np.float32)
    return path


def cut(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_check_files_reports_each_problem_in_one_line(tmp_path: Path) -> None:
    good = write_nc(tmp_path / nex("tas", 2050), "tas")
    good3 = write_nc(tmp_path / nex("tas", 2051), "tas", fmt="NETCDF3_CLASSIC")
    zero = touch(tmp_path / nex("tas", 2052))
    text = touch(tmp_path / nex("tas", 2053), b"<html>404 Not Found</html>\n")
    truncated4 = cut(write_nc(tmp_path / nex("tas", 2054), "tas"))
    truncated3 = cut(write_nc(tmp_path / nex("tas", 2055), "tas", fmt="NETCDF3_64BIT_OFFSET"))
    wrong_var = write_nc(tmp_path / nex("tas", 2056), "pr")

    catalog = build_catalog([tmp_path])
    for workers in (1, 4):
        problems = {p.path: p for p in check_files(catalog, workers=workers)}
        assert good not in problems and good3 not in problems
        assert set(problems) == {zero, text, truncated4, truncated3, wrong_var}
        assert problems[zero].problem == "zero-byte file"
        assert problems[text].problem.startswith("not a NetCDF/HDF5 file")
        assert "cannot open with netCDF4" in problems[truncated4].problem
        assert problems[truncated3].problem.startswith("truncated")
        assert problems[wrong_var].problem == "variable 'tas' not found; variables present: pr"
        for p in problems.values():
            message = str(p)
            assert "\n" not in message and message.startswith(str(p.path))


def test_check_real_files_finds_no_problem() -> None:
    catalog = build_catalog([REAL / "mini-esgf-data"])
    assert check_files(catalog, workers=4) == []


def test_check_files_on_a_vanished_file(tmp_path: Path) -> None:
    path = write_nc(tmp_path / nex("tas", 2050), "tas")
    catalog = build_catalog([tmp_path])
    os.remove(path)
    assert [p.problem for p in check_files(catalog)] == ["file not found"]
