"""A member's change file: its normal of a target against its normal of the baseline window, read from the two
output files and written beside the first as one CF-1.8 file (atomically) with the target file's time axis, grid
and attributes, and ``{name}_change`` (float32; additive in the normal's units, relative in %)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm._atomic import atomic_file
from climnorm.errors import OutputError
from climnorm.numerics.changes import DETRENDED_STD, change
from climnorm.write.digests import data_checksum
from climnorm.write.netcdf import FILL_VALUE, window_variable
from climnorm.write.orders import ChangeTask

_KEPT = ("units", "cell_methods", "coordinates", "grid_mapping", "is_dayofyear")


def change_variable(name: str) -> str:
    """The variable of a change in its file: ``tas_change``, ``tx_ge_90F_change``."""
    return f"{name}_change"


def write_change(task: ChangeTask) -> tuple[int, str]:
    """Compute and write one change file; returns (size, checksum of the change's values)."""
    with netCDF4.Dataset(task.target_path) as target, netCDF4.Dataset(task.baseline_path) as baseline:
        values = _values(target, task.target_path, task.variable)
        base = _values(baseline, task.baseline_path, task.variable)
        if values.shape != base.shape:
            raise OutputError(
                f"{task.path}: the target's normal {values.shape} and the baseline's {base.shape} differ in shape "
                f"({task.target_path}, {task.baseline_path})"
            )
        delta = change(values, base, task.kind).astype(np.float32)
        skipped = {task.variable} | {v for v in target.variables if v.startswith(window_variable(task.variable, ""))}
        with atomic_file(Path(task.path)) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as out:
            _copy_except(target, out, skipped)
            template = target.variables[task.variable]
            v = out.createVariable(
                change_variable(task.variable), "f4", template.dimensions, fill_value=FILL_VALUE,
                **task.encoding.variable(delta.shape),
            )  # fmt: skip
            v.setncatts(_attributes(template, task))
            v[:] = np.ma.masked_invalid(delta)
            _copy_sigma(baseline, out, task)
            first, last = task.baseline
            out.setncatts(
                {
                    "baseline": f"{first}-{last}",
                    "baseline_file": Path(task.baseline_path).name,
                    "change_kind": task.kind,
                }
            )
    return Path(task.path).stat().st_size, data_checksum(delta)


def _values(ds: netCDF4.Dataset, path: str, variable: str) -> np.ndarray:
    if variable not in ds.variables:
        raise OutputError(f"{path}: no variable {variable!r} (there are: {', '.join(ds.variables)})")
    var = ds.variables[variable]
    var.set_auto_maskandscale(True)
    return np.ma.filled(np.ma.asarray(var[...]).astype(np.float64), np.nan)


def _copy_except(src: netCDF4.Dataset, dst: netCDF4.Dataset, skipped: set[str]) -> None:
    """The source file's dimensions, global attributes and every variable not in ``skipped``, as they are."""
    for name, dim in src.dimensions.items():
        dst.createDimension(name, None if dim.isunlimited() else len(dim))
    dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
    for name, var in src.variables.items():
        if name in skipped:
            continue
        var.set_auto_maskandscale(False)
        fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
        copy = dst.createVariable(name, var.datatype, var.dimensions, fill_value=fill)
        copy.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
        copy.set_auto_maskandscale(False)
        copy[...] = var[...]


def _copy_sigma(baseline: netCDF4.Dataset, out: netCDF4.Dataset, task: ChangeTask) -> None:
    """The baseline's interannual variability (its ``{name}_window_detrended_std``), which the ensemble's
    significance test needs, as ``{name}_baseline_detrended_std``."""
    source = window_variable(task.variable, DETRENDED_STD)
    if source not in baseline.variables:
        return
    var = baseline.variables[source]
    var.set_auto_maskandscale(True)
    values = np.ma.filled(np.ma.asarray(var[...]).astype(np.float32), np.nan)
    sigma = out.createVariable(
        baseline_sigma_variable(task.variable), "f4", var.dimensions, fill_value=FILL_VALUE,
        **task.encoding.variable(values.shape),
    )  # fmt: skip
    attrs = {k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"}
    first, last = task.baseline
    attrs["long_name"] = f"{attrs.get('long_name', source)} ({first}-{last}, the baseline)"
    sigma.setncatts(attrs)
    sigma[:] = np.ma.masked_invalid(values)


def baseline_sigma_variable(name: str) -> str:
    """The baseline's detrended interannual standard deviation in a change file."""
    return f"{name}_baseline_{DETRENDED_STD}"


def _attributes(template: netCDF4.Variable[Any], task: ChangeTask) -> dict[str, Any]:
    """The change's attributes: the normal's units (or %), what it is a change of, and against what."""
    attrs: dict[str, Any] = {k: template.getncattr(k) for k in _KEPT if k in template.ncattrs()}
    first, last = task.baseline
    long_name = str(getattr(template, "long_name", task.variable))
    if task.kind == "relative":
        attrs["units"] = "%"
    elif "is_dayofyear" in attrs:
        attrs["units"] = "days"  # a shift of a date is a number of days
        del attrs["is_dayofyear"]
    attrs["long_name"] = f"change of {long_name} against its {first}-{last} normal" + (
        " (percent of the baseline)" if task.kind == "relative" else ""
    )
    attrs["missing_value"] = FILL_VALUE
    attrs["comment"] = (
        f"{'relative' if task.kind == 'relative' else 'additive'} change of the normal against the same model's "
        f"normal of {first}-{last}; NaN where either is missing"
        + ("; a relative change over a zero baseline is NaN" if task.kind == "relative" else "")
    )
    return attrs
