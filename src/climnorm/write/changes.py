"""A member's change file: its normal of a target against its normal of the baseline window, read from the two
output files and written beside the first as one CF-1.8 file (atomically) with the target file's time axis, grid
and attributes, and ``{name}_change`` (float32; additive in the normal's units, relative in %)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm._atomic import atomic_file
from climnorm.errors import OutputError
from climnorm.numerics.changes import (
    DETRENDED_STD,
    FLAG_MEANINGS,
    FLAG_VALUES,
    NO_CATEGORY,
    categories,
    change,
    robustness,
    significant,
)
from climnorm.numerics.ensemble import member_statistics
from climnorm.types import RegionCut
from climnorm.write.digests import EnsembleChecksum, data_checksum
from climnorm.write.ensemble import (
    BLOCK_BYTES,
    N_MEMBERS,
    common_grid,
    ensemble_layout,
    ensemble_variables,
    member_steps,
    read_slots,
)
from climnorm.write.netcdf import FILL_VALUE, window_variable
from climnorm.write.orders import (
    ChangeTask,
    EnsembleChangeTask,
    agree_variable,
    baseline_sigma_variable,
    change_variable,
    robustness_variable,
    significant_variable,
)
from climnorm.write.readback import open_output

_KEPT = ("units", "cell_methods", "coordinates", "grid_mapping", "is_dayofyear")


def write_change(task: ChangeTask) -> tuple[int, str]:
    """Compute and write one change file; returns (size, checksum of the change's values)."""
    with (
        open_output(task.target_path, task.storage) as target,
        open_output(task.baseline_path, task.storage) as baseline,
    ):
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
            _copy_sigma(baseline, out, task, base)
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
        var.set_auto_chartostring(False)  # labels (season) as the characters they are stored as
        fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
        copy = dst.createVariable(name, var.datatype, var.dimensions, fill_value=fill)
        copy.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
        copy.set_auto_maskandscale(False)
        copy.set_auto_chartostring(False)
        copy[...] = var[...]


def _copy_sigma(baseline: netCDF4.Dataset, out: netCDF4.Dataset, task: ChangeTask, normal: np.ndarray) -> None:
    """The baseline's interannual variability (its ``{name}_window_detrended_std``), which the ensemble's
    significance test needs, as ``{name}_baseline_detrended_std`` in the change's units: for a relative change in %
    of the baseline's normal (``normal``), so that comparing the change with it is the additive test."""
    source = window_variable(task.variable, DETRENDED_STD)
    if source not in baseline.variables:
        return
    var = baseline.variables[source]
    var.set_auto_maskandscale(True)
    values = np.ma.filled(np.ma.asarray(var[...]).astype(np.float64), np.nan)
    if task.kind == "relative":
        with np.errstate(divide="ignore", invalid="ignore"):
            values = 100.0 * values / np.where(normal == 0, np.nan, np.abs(normal))
    values = values.astype(np.float32)
    sigma = out.createVariable(
        baseline_sigma_variable(task.variable), "f4", var.dimensions, fill_value=FILL_VALUE,
        **task.encoding.variable(values.shape),
    )  # fmt: skip
    attrs = {k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"}
    if task.kind == "relative":
        attrs["units"] = "%"
        attrs.pop("standard_name", None)  # a percentage of the baseline is no longer the variable's quantity
    first, last = task.baseline
    attrs["long_name"] = f"{attrs.get('long_name', source)} ({first}-{last}, the baseline)"
    sigma.setncatts(attrs)
    sigma[:] = np.ma.masked_invalid(values)


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


def write_ensemble_change(task: EnsembleChangeTask) -> tuple[int, str]:
    """The ensemble's statistics of its members' changes and, with ``robustness``, the fraction of members agreeing
    on the sign, the fraction changing significantly (IPCC AR6 approach C, against each member's baseline
    variability) and the AR6 category, from the members' change files a block of steps at a time; returns (size,
    checksum)."""
    ens = task.ensemble
    name = ens.variable  # the members' change variable: {name}_change
    sigma_name = baseline_sigma_variable(name.removesuffix("_change"))
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open_output(m.path, ens.storage)) for m in ens.members]
        grid = common_grid(ens, files)
        slots = [member_steps(ens, f, m) for f, m in zip(files, ens.members, strict=True)]
        steps = len(slots[0])
        robust = task.robustness and all(sigma_name in f.variables for f in files)
        flags = [agree_variable(name), significant_variable(name), robustness_variable(name)] if robust else []
        check = EnsembleChecksum(ensemble_variables(name, ens.statistics) + flags)
        block = max(1, BLOCK_BYTES // (2 * len(files) * max(int(np.prod(grid.shape)), 1) * 8))
        with atomic_file(Path(task.path)) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as out:
            outputs = ensemble_layout(out, ens, grid, files[0], steps)
            if robust:
                outputs.update(_robustness_layout(out, name, grid, steps, task))
            first, last = task.baseline
            out.setncatts({"baseline": f"{first}-{last}", "change_kind": task.kind})
            for a in range(0, steps, block):
                b = min(steps, a + block)
                deltas = np.stack([read_slots(f.variables[name], i[a:b]) for f, i in zip(files, slots, strict=True)])
                stats, n = member_statistics(deltas, ens.statistics, ens.min_members)
                blocks: dict[str, np.ndarray] = {f"{name}_{k}": v.astype(np.float32) for k, v in stats.items()}
                blocks[N_MEMBERS] = n.astype(np.int16)
                if robust:
                    sigma = np.stack(
                        [read_slots(f.variables[sigma_name], i[a:b]) for f, i in zip(files, slots, strict=True)]
                    )
                    fractions = robustness(deltas, significant(deltas, sigma), ens.min_members)
                    blocks[agree_variable(name)] = fractions.agree.astype(np.float32)
                    blocks[significant_variable(name)] = fractions.changed.astype(np.float32)
                    blocks[robustness_variable(name)] = categories(fractions, task.significant, task.agreement)
                for var, values in blocks.items():
                    outputs[var][a:b] = np.ma.masked_invalid(values) if values.dtype.kind == "f" else values
                    check.update(var, values)
    return Path(task.path).stat().st_size, check.digest()


def _robustness_layout(
    ds: netCDF4.Dataset, name: str, grid: RegionCut, steps: int, task: EnsembleChangeTask
) -> dict[str, netCDF4.Variable[Any]]:
    """The agreement and significance fractions and the AR6 category (CF flags, xclim's fill 99)."""
    kwargs = task.ensemble.encoding.variable((steps, *grid.shape))
    dims = ("time", *grid.dims)
    coordinates = str(ds.variables[f"{name}_{task.ensemble.statistics[0]}"].getncattr("coordinates"))
    method = "realization: point (comment: fraction of the members with a valid change)"
    out: dict[str, netCDF4.Variable[Any]] = {}
    for var, long_name in (
        (agree_variable(name), "fraction of the members agreeing on the sign of the change (the largest of the "
                               "positive, negative and no-change fractions)"),
        (significant_variable(name), "fraction of the members whose change is significant (IPCC AR6 approach C: "
                                     "beyond sqrt(2/20) * 1.645 detrended interannual standard deviations)"),
    ):  # fmt: skip
        v = ds.createVariable(var, "f4", dims, fill_value=FILL_VALUE, **kwargs)
        v.setncatts({"long_name": long_name, "units": "1", "cell_methods": method, "coordinates": coordinates,
                     "missing_value": FILL_VALUE})  # fmt: skip
        out[var] = v
    r = ds.createVariable(robustness_variable(name), "i1", dims, fill_value=np.int8(NO_CATEGORY), **kwargs)
    r.setncatts(
        {
            "long_name": "IPCC AR6 robustness category of the ensemble's change",
            "flag_values": np.array(FLAG_VALUES, dtype=np.int8),
            "flag_meanings": FLAG_MEANINGS,
            "significant_fraction": np.float64(task.significant),  # what a county picture's categories take
            "agreement_fraction": np.float64(task.agreement),
            "coordinates": coordinates,
            "comment": (
                f"robust_signal: at least {task.significant:g} of the members change significantly and at least "
                f"{task.agreement:g} agree on the sign; no_change_or_no_signal: fewer than {task.significant:g} "
                f"change significantly; conflicting_signal: at least {task.significant:g} change significantly and "
                f"fewer than {task.agreement:g} agree; {NO_CATEGORY}: none applies (too few members)"
            ),
        }
    )
    out[robustness_variable(name)] = r
    return out
