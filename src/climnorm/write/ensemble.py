"""Ensemble output files: the members' output files read a block of slots at a time, aligned as the product's layout
says (day slots on the noleap axis, periods as they are), combined by `numerics.ensemble` in float64, and written
as one CF-1.8 file of float32 statistics (atomically).

Every member file is read once; memory holds one block of slots of every member, never whole normals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm import __version__
from climnorm._atomic import atomic_file
from climnorm.errors import OutputError
from climnorm.numerics.ensemble import member_statistics, percentile_of
from climnorm.types import Coord, RegionCut
from climnorm.write.digests import EnsembleChecksum
from climnorm.write.layouts import TIME_LABELS, write_time_axis
from climnorm.write.netcdf import FILL_VALUE, statistic_method, window_variable, write_grid
from climnorm.write.orders import EnsembleMember, EnsembleTask
from climnorm.write.readback import open_output

_KEPT = ("standard_name", "units", "is_dayofyear")  # the members' variable attributes an ensemble's statistics keep
BLOCK_BYTES = 128 * 2**20  # float64 members x slots x cells read and combined at a time
N_MEMBERS = "n_members"


def ensemble_variables(variable: str, statistics: Iterable[str], window: Iterable[str] = ()) -> list[str]:
    """The data variables of an ensemble file, in order (the checksum follows this order): each statistic of the
    members' normals, then of each of their window statistics (``tx_ge_90F_window_p80_mean``), then n_members."""
    names = list(statistics)
    return [f"{source}_{s}" for source in sources(variable, window) for s in names] + [N_MEMBERS]


def sources(variable: str, window: Iterable[str]) -> list[str]:
    """The member files' variables an ensemble combines: the normal and its window statistics."""
    return [variable] + [window_variable(variable, s) for s in window]


def write_ensemble(task: EnsembleTask) -> tuple[int, str]:
    """Compute and write one ensemble output; returns (size, checksum)."""
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open_output(m.path, task.storage)) for m in task.members]
        grid = common_grid(task, files)
        slots = [member_steps(task, f, m) for f, m in zip(files, task.members, strict=True)]
        steps = len(slots[0])
        cells = int(np.prod(grid.shape))
        block = max(1, BLOCK_BYTES // (len(files) * max(cells, 1) * 8))
        check = EnsembleChecksum(ensemble_variables(task.variable, task.statistics, task.window_statistics))
        with atomic_file(Path(task.path)) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as out:
            outputs = ensemble_layout(out, task, grid, files[0], steps)
            for a in range(0, steps, block):
                b = min(steps, a + block)
                for source in sources(task.variable, task.window_statistics):
                    data = np.stack(
                        [read_slots(f.variables[source], idx[a:b]) for f, idx in zip(files, slots, strict=True)]
                    )
                    stats, n = member_statistics(data, task.statistics, task.min_members)
                    for name, values in stats.items():
                        block_f4 = values.astype(np.float32)
                        outputs[f"{source}_{name}"][a:b] = np.ma.masked_invalid(block_f4)
                        check.update(f"{source}_{name}", block_f4)
                    if source == task.variable:
                        outputs[N_MEMBERS][a:b] = n.astype(np.int16)
                        check.update(N_MEMBERS, n)
    return Path(task.path).stat().st_size, check.digest()


def member_steps(task: EnsembleTask, ds: netCDF4.Dataset, member: EnsembleMember) -> np.ndarray:
    """For each step of the ensemble, the member file's step that stands for it (its product's alignment)."""
    try:
        return task.product.layout.member_steps(len(ds.dimensions["time"]), member.leap_day)
    except ValueError as err:
        raise OutputError(f"{member.path}: {err} of a {task.product.name} normal") from None


def read_slots(var: netCDF4.Variable[Any], index: np.ndarray) -> np.ndarray:
    """The member's values at the given slots (one contiguous read of their span), float64 with NaN for missing."""
    lo, hi = int(index.min()), int(index.max()) + 1
    var.set_auto_maskandscale(True)
    span = np.ma.filled(np.ma.asarray(var[lo:hi]).astype(np.float64), np.nan)
    return span[index - lo]


def grid_of(ds: netCDF4.Dataset, variable: str) -> RegionCut:
    """The horizontal (and extra) coordinates of an output file's normal, as a region cut to write them again."""
    var = ds.variables[variable]
    names = [d for d in var.dimensions if d != "time" and d in ds.variables]
    names += [n for n in str(getattr(var, "coordinates", "")).split() if n not in TIME_LABELS and n in ds.variables]
    mapping = getattr(var, "grid_mapping", None)
    if mapping and mapping in ds.variables:
        names.append(mapping)
    coords = []
    for name in dict.fromkeys(names):
        c = ds.variables[name]
        c.set_auto_maskandscale(False)
        values = np.asarray(c[...])
        attrs = tuple((k, c.getncattr(k)) for k in c.ncattrs() if k not in ("_FillValue",))
        coords.append(Coord(name, tuple(c.dimensions), values, attrs))
    return RegionCut("", (), None, tuple(d for d in var.dimensions if d != "time"), tuple(coords))


def common_grid(task: EnsembleTask, files: list[netCDF4.Dataset]) -> RegionCut:
    """The members' grid; members on different grids cannot be combined (regridding is not climnorm's)."""
    first = grid_of(files[0], task.variable)
    for member, ds in zip(task.members[1:], files[1:], strict=True):
        grid = grid_of(ds, task.variable)
        if not grid.same_as(first):
            raise OutputError(
                f"{task.path}: members on different grids: {task.members[0].label} ({first.describe()}) and "
                f"{member.label} ({grid.describe()}); an ensemble needs one grid (regrid the members first)"
            )
    return first


def ensemble_layout(
    ds: netCDF4.Dataset, task: EnsembleTask, grid: RegionCut, first_member: netCDF4.Dataset, steps: int
) -> dict[str, netCDF4.Variable[Any]]:
    """Dimensions, the noleap climatological time axis, coordinates and the (empty) data variables."""
    ds.createDimension("time", steps)
    ds.createDimension("nv", 2)
    for dim, size in zip(grid.dims, grid.shape, strict=True):
        ds.createDimension(dim, size)
    first, last = task.window
    labels = write_time_axis(ds, task.product.layout, range(first, last + 1), "noleap", "calendar_day")
    aux, mapping = write_grid(ds, grid)
    kwargs = task.encoding.variable((steps, *grid.shape))
    out: dict[str, netCDF4.Variable[Any]] = {}
    coordinates = " ".join([*labels, *aux])
    for source in sources(task.variable, task.window_statistics):
        template = first_member.variables[source]
        base: dict[str, Any] = {k: template.getncattr(k) for k in _KEPT if k in template.ncattrs()}
        long_name = str(getattr(template, "long_name", source))
        within = str(getattr(template, "cell_methods", "time: mean within years time: mean over years"))
        for name in task.statistics:
            v = ds.createVariable(f"{source}_{name}", "f4", ("time", *grid.dims), fill_value=FILL_VALUE, **kwargs)
            attrs: dict[str, Any] = {**base, "long_name": f"ensemble {name} of {long_name}", "coordinates": coordinates}
            attrs["missing_value"] = FILL_VALUE
            attrs["cell_methods"] = f"{within} realization: {statistic_method(name, 'the members')}"
            if (q := percentile_of(name)) is not None and name != "median":
                attrs["percentile"] = np.float32(q)
            if mapping:
                attrs["grid_mapping"] = mapping
            v.setncatts(attrs)
            out[f"{source}_{name}"] = v
    n = ds.createVariable(N_MEMBERS, "i2", ("time", *grid.dims), **kwargs)
    n.setncatts({"long_name": "members with a valid normal in the cell-slot", "units": "1", "coordinates": coordinates})
    out[N_MEMBERS] = n
    ds.setncatts(_global_attributes(task))
    ds.setncatts(dict(task.product.attrs))
    return out


def _global_attributes(task: EnsembleTask) -> dict[str, Any]:
    first, last = task.window
    return {
        "Conventions": "CF-1.8",
        **dict(task.attrs),
        "window": f"{first}-{last}",
        "model": "ensemble",
        "ensemble_members": ", ".join(m.label for m in task.members),
        "number_of_members": np.int32(len(task.members)),
        "ensemble_statistics": " ".join(task.statistics),
        "min_members": np.int32(task.min_members),
        "calendar": "noleap",
        "ensemble_calendar_alignment": task.product.layout.alignment,
        "software": "climnorm",
        "software_version": __version__,
        "creation_time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
