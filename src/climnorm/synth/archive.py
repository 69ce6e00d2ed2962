"""Writing a synthetic archive: NEX-GDDP-CMIP6 file names and layouts, one file per variable, scenario and year,
encoded like the real archive (float32, ``_FillValue = missing_value = 1e20``, zlib, one time step per chunk)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm import __version__
from climnorm._atomic import atomic_file
from climnorm.synth.spec import (
    FILL_VALUE,
    HOLE_FILL,
    HOLE_NAN,
    VARIABLE_ATTRS,
    VERSION_CHANGES,
    VERSIONS,
    SynthSpec,
    check_variable,
    grid,
    scenario_years,
    time_axis,
)
from climnorm.synth.values import closed_form, hole_codes

log = logging.getLogger(__name__)

T_Path = str | os.PathLike[str]

#: Called after each file of :func:`write_archive` with (path written, files done, files in total).
ProgressCallback = Callable[[Path, int, int], None]

_BLOCK_VALUES = 8_000_000  # values computed per block when writing (~64 MB of float64)


def file_name(spec: SynthSpec, variable: str, scenario: str, year: int, version: str = "v1.0") -> str:
    """NEX-GDDP-CMIP6 file name; versions other than v1.0 get the ``_{version}`` suffix."""
    suffix = "" if version == "v1.0" else f"_{version}"
    return f"{variable}_day_{spec.model}_{scenario}_{spec.variant}_{spec.grid_label}_{int(year)}{suffix}.nc"


def file_path(out_dir: T_Path, spec: SynthSpec, variable: str, scenario: str, year: int, version: str = "v1.0") -> Path:
    """Where the file goes under ``out_dir`` in the spec's layout."""
    root = Path(out_dir)
    if spec.layout == "var":
        folder = root / variable / scenario
    else:
        folder = root / spec.model / scenario / spec.variant / variable
    return folder / file_name(spec, variable, scenario, year, version)


@dataclass(frozen=True)
class ArchiveFile:
    """One file of a synthetic archive: what it holds (the path comes from :func:`file_path`)."""

    variable: str
    scenario: str
    year: int
    version: str = "v1.0"


def archive_plan(spec: SynthSpec) -> list[ArchiveFile]:
    """Every file of the archive: variable x scenario x year, plus a v1.1 file for each version year."""
    plan: list[ArchiveFile] = []
    for variable in spec.variables:
        for scenario in spec.scenarios:
            for year in scenario_years(spec, scenario):
                plan.append(ArchiveFile(variable, scenario, year))
                if year in spec.version_years:
                    plan.append(ArchiveFile(variable, scenario, year, "v1.1"))
    return plan


def _blocks(n_steps: int, n_cells: int) -> Iterator[tuple[int, int]]:
    """Step ranges [start, stop) of about _BLOCK_VALUES values each, bounding memory when writing."""
    size = max(1, _BLOCK_VALUES // max(1, n_cells))
    for start in range(0, n_steps, size):
        yield start, min(n_steps, start + size)


def _block_values(
    spec: SynthSpec, item: ArchiveFile, steps: tuple[int, int], n_steps: int, lat: np.ndarray, lon: np.ndarray
) -> np.ndarray:
    """float32 data of steps [start, stop) of a file, holes written as 1e20 or NaN."""
    index = np.arange(steps[0], steps[1])[:, None, None]
    frac = (index + 0.5) / n_steps
    climate = spec.climate(item.scenario)
    grid_lat, grid_lon = lat[None, :, None], lon[None, None, :]
    values = closed_form(item.variable, float(item.year), frac, grid_lat, grid_lon, item.version, climate, spec.style)
    data = values.astype(np.float32)
    if spec.holes > 0.0:
        codes = hole_codes(spec, item.variable, item.year, index, grid_lat, grid_lon)
        data[codes == HOLE_FILL] = FILL_VALUE
        data[codes == HOLE_NAN] = np.nan
    return data


def _global_attrs(spec: SynthSpec, variable: str, scenario: str, year: int, version: str) -> dict[str, str]:
    """Global attributes like the real archive's, plus the ``synthetic = "climnorm"`` marker (and the style's
    name when it is not the default, so that default archives stay as they were)."""
    style = {} if spec.style == "closed_form" else {"synthetic_style": spec.style}
    return {
        "Conventions": "CF-1.7",
        "title": f"Synthetic NEX-GDDP-CMIP6-like {variable} for {spec.model} {scenario} {year}",
        "activity": "NEX-GDDP-CMIP6 (synthetic)",
        "institution": "climnorm synthetic data generator",
        "source": "climnorm.synth closed-form values",
        "source_id": spec.model,
        "model_id": spec.model,
        "cmip6_source_id": spec.model,
        "scenario": scenario,
        "experiment_id": scenario,
        "variant_label": spec.variant,
        "grid_label": spec.grid_label,
        "variable_id": variable,
        "frequency": "day",
        "resolution_id": f"{spec.resolution:g} degree",
        "version": version,
        "synthetic": "climnorm",
        "synthetic_calendar": spec.calendar,
        "synthetic_time_argument": "closed_form(variable, year, (dayofyear - 0.5) / days_in_year, lat, lon)",
        "history": f"written by climnorm {__version__} climnorm.synth.write_year",
    } | style


def write_year(path: T_Path, spec: SynthSpec, variable: str, scenario: str, year: int, version: str = "v1.0") -> Path:
    """Write one year of ``variable`` to ``path`` (via a temporary file and rename) and return the path."""
    check_variable(variable)
    if version not in VERSION_CHANGES:
        raise ValueError(f"unknown version {version!r}; expected one of {', '.join(VERSIONS)}")
    path = Path(path)
    lat, lon = grid(spec)
    _, stamps, bounds = time_axis(spec, year)
    with atomic_file(path, durable=False) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        ds.set_fill_off()
        ds.setncatts(_global_attrs(spec, variable, scenario, year, version))
        _write_axes(ds, spec, stamps, bounds, lat, lon)
        encoding: dict[str, Any] = {
            "zlib": spec.complevel > 0,
            "complevel": max(spec.complevel, 1),
            "shuffle": spec.shuffle,
            "chunksizes": (1, lat.size, lon.size),
            "fill_value": FILL_VALUE,
        }
        var = ds.createVariable(variable, "f4", ("time", "lat", "lon"), **encoding)
        var.missing_value = FILL_VALUE
        var.setncatts(VARIABLE_ATTRS[variable])
        var.set_auto_maskandscale(False)
        _write_data(var, spec, ArchiveFile(variable, scenario, year, version), stamps.size, lat, lon)
    log.debug("wrote %s (%d steps, %d x %d cells)", path, stamps.size, lat.size, lon.size)
    return path


def _write_axes(
    ds: netCDF4.Dataset, spec: SynthSpec, stamps: np.ndarray, bounds: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> None:
    """The time axis (with bounds if the spec asks) and the lat/lon coordinates."""
    ds.createDimension("time", None)
    ds.createDimension("lat", lat.size)
    ds.createDimension("lon", lon.size)
    tvar = ds.createVariable("time", "f8", ("time",))
    tvar.setncatts({"units": spec.time_units, "calendar": spec.calendar, "axis": "T", "standard_name": "time"})
    tvar.long_name = "time"
    if spec.time_bnds:
        ds.createDimension("bnds", 2)
        tvar.bounds = "time_bnds"
        ds.createVariable("time_bnds", "f8", ("time", "bnds"))[:] = bounds
    tvar[:] = stamps
    for name, values, units, standard_name, axis, long_name in (
        ("lat", lat, "degrees_north", "latitude", "Y", "latitude"),
        ("lon", lon, "degrees_east", "longitude", "X", "longitude"),
    ):
        cvar = ds.createVariable(name, "f8", (name,))
        cvar.setncatts({"units": units, "standard_name": standard_name, "axis": axis, "long_name": long_name})
        cvar[:] = values


def _write_data(
    var: netCDF4.Variable[Any], spec: SynthSpec, item: ArchiveFile, n_steps: int, lat: np.ndarray, lon: np.ndarray
) -> None:
    """Compute blocks of steps in a helper thread while the previous block is compressed and written."""
    blocks = list(_blocks(n_steps, lat.size * lon.size))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[np.ndarray] = pool.submit(_block_values, spec, item, blocks[0], n_steps, lat, lon)
        for i, (start, stop) in enumerate(blocks):
            data = pending.result()
            if i + 1 < len(blocks):
                pending = pool.submit(_block_values, spec, item, blocks[i + 1], n_steps, lat, lon)
            var[start:stop, :, :] = data


def _write_one(out_dir: Path, spec: SynthSpec, item: ArchiveFile) -> Path:
    """Write one planned file (a top-level function so process pools can run it)."""
    path = file_path(out_dir, spec, item.variable, item.scenario, item.year, item.version)
    return write_year(path, spec, item.variable, item.scenario, item.year, version=item.version)


def write_archive(
    out_dir: T_Path,
    spec: SynthSpec,
    progress: ProgressCallback | None = None,
    workers: int = 1,
) -> list[Path]:
    """Write every file of :func:`archive_plan` under ``out_dir``; ``workers`` > 1 writes in processes."""
    root = Path(out_dir)
    plan = archive_plan(spec)
    log.info("writing %d synthetic files under %s", len(plan), root)
    paths: list[Path] = []
    if workers <= 1:
        for done, item in enumerate(plan, start=1):
            paths.append(_write_one(root, spec, item))
            if progress is not None:
                progress(paths[-1], done, len(plan))
        return paths
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_write_one, root, spec, item) for item in plan]
        for done, future in enumerate(futures, start=1):
            paths.append(future.result())
            if progress is not None:
                progress(paths[-1], done, len(plan))
    return paths
