"""Check every output a manifest lists: it opens, its layout and attributes are right, its checksum matches, and
its file is as large as recorded (the plan trusts the recorded size: this is where a file that differs is found)."""

from __future__ import annotations

import contextlib
import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm.calendars import SlotScheme
from climnorm.errors import OutputError, OutputNotFound
from climnorm.outputs.index import OutputIndex
from climnorm.products import DaySlots, Periods, ProductSpec, T_Layout, spec_of
from climnorm.records import OutputRecord
from climnorm.storage.options import StorageOptions
from climnorm.storage.retry import scrub
from climnorm.storage.urls import is_s3_url
from climnorm.write.digests import data_checksum, ensemble_checksum
from climnorm.write.ensemble import ensemble_variables
from climnorm.write.layouts import normal_checksum
from climnorm.write.manifest import Manifest
from climnorm.write.netcdf import CELL_METHODS, window_variable
from climnorm.write.orders import agree_variable, change_variable, robustness_variable, significant_variable
from climnorm.write.readback import Fetched, fetch_output, opened, output_size

_ATTRS_FROM_RECORD = ("variable", "region", "scenario", "period", "target_year", "window_years", "calendar", "leap_day")


def verify_outputs(output_dir: Path | str, storage: StorageOptions | None = None) -> tuple[int, list[str]]:
    """Return (number of outputs checked, one line per problem); ``output_dir`` may be an ``s3://`` prefix (reached
    with ``storage``, else the ``AWS_*`` environment), whose run published its manifest there."""
    if not is_s3_url(output_dir) and not Manifest.exists(Path(output_dir)):
        raise OutputError(f"{output_dir}: no manifest here; is this a climnorm output directory?")
    try:
        index = OutputIndex.load(output_dir, storage)
    except OutputNotFound as err:
        if is_s3_url(output_dir) and "no manifest" in str(err):
            raise OutputError(str(err)) from None
        return 0, []
    problems: list[str] = []
    checked = 0
    records = index.each()  # one at a time: a manifest of the whole ensemble is never held at once
    with ThreadPoolExecutor(_THREADS) as pool, contextlib.ExitStack() as stack:
        while batch := list(itertools.islice(records, _THREADS if index.storage is not None else 1)):
            fetched = list(pool.map(lambda r: _fetch(stack, index, r), batch))  # a bucket's: several at once
            for record, (size, got) in zip(batch, fetched, strict=True):
                problems.extend(f"{record.path}: {p}" for p in _problems(record, size, got))
                checked += 1
            stack.close()
    return checked, problems


_THREADS = 4


def _fetch(stack: contextlib.ExitStack, index: OutputIndex, record: OutputRecord) -> tuple[int | None, Any]:
    """An output's size and its bytes brought here (the error that stopped it, if so), for :func:`_problems`."""
    path, storage = index.location(record), index.storage
    try:
        size = output_size(path, storage)
        if size is None:
            return None, None
        return size, stack.enter_context(fetch_output(path, storage))
    except Exception as err:  # a request that failed for good (the client's own error): this output's problem
        said = scrub(str(err), storage.secrets()) if storage is not None else str(err)
        return 0, OSError(said)


def _problems(record: OutputRecord, size: int | None, fetched: Fetched | OSError) -> list[str]:
    """What is wrong with one output: missing (nothing else is checked), else its contents, else its size."""
    if size is None:
        return ["missing"]
    if isinstance(fetched, OSError):
        return [f"cannot open ({fetched})"]
    check = _check_change if record.is_change else _check
    return check(fetched, record) or _size_problems(size, record)


def _size_problems(size: int, record: OutputRecord) -> list[str]:
    """An output whose contents check out but whose size is not the recorded one (grown or cut since it was
    written): resume trusts the recorded size, so `verify` is what finds it."""
    if record.size is None or size == record.size:
        return []
    return [f"{size:,} bytes, the manifest recorded {record.size:,} (changed since it was written)"]


def _check_change(fetched: Fetched, record: OutputRecord) -> list[str]:
    """A change file: its variables there, its baseline and kind as the manifest says, the data checksum."""
    try:
        with opened(fetched) as ds:
            name = change_variable(record.data_name)
            if record.is_ensemble:
                names = ensemble_variables(name, record.statistics)
                names += [v for v in (agree_variable(name), significant_variable(name), robustness_variable(name))
                          if v in ds.variables]  # fmt: skip
            else:
                names = [name]
            if absent := [n for n in names if n not in ds.variables]:
                return [f"variable(s) {', '.join(absent)} not in the file"]
            problems = []
            baseline = "-".join(map(str, record.baseline))
            if str(getattr(ds, "baseline", "")) != baseline:
                problems.append(f"baseline {getattr(ds, 'baseline', None)!r} differs from the manifest's {baseline!r}")
            if not record.is_ensemble and str(getattr(ds, "change_kind", "")) != record.change:
                problems.append(f"change_kind differs from the manifest's {record.change!r}")
            values = {n: _values(ds.variables[n]) for n in names}
            digest = ensemble_checksum(values) if record.is_ensemble else data_checksum(values[name])
            if digest != record.checksum:
                problems.append("data checksum does not match the manifest")
            return problems
    except (OSError, RuntimeError, KeyError, ValueError) as err:
        return [f"unreadable: {err}"]


def _check(fetched: Fetched, record: OutputRecord) -> list[str]:
    with contextlib.ExitStack() as stack:
        try:
            ds = stack.enter_context(opened(fetched))
        except OSError as err:
            return [f"cannot open ({err})"]
        return _normal_problems(ds, record)


def _normal_problems(ds: netCDF4.Dataset, record: OutputRecord) -> list[str]:
    """A normal's (a member's or an ensemble's): its product's layout, its attributes, its data checksum."""
    problems: list[str] = []
    try:
        if record.is_ensemble:
            return _ensemble_problems(ds, record)
        variable = record.data_name
        if variable not in ds.variables:
            return [f"variable {variable!r} not in the file"]
        var = ds.variables[variable]
        problems += _product_problems(ds, var, record, SlotScheme(record.calendar, record.leap_day), False)  # type: ignore[arg-type]
        problems += _attribute_problems(ds, record)
        names = [window_variable(variable, s) for s in record.window_statistics]
        if absent := [n for n in names if n not in ds.variables]:
            return [*problems, f"variable(s) {', '.join(absent)} not in the file"]
        extras = tuple((s, _values(ds.variables[n])) for s, n in zip(record.window_statistics, names, strict=True))
        if normal_checksum(variable, _values(var), extras) != record.checksum:
            problems.append("data checksum does not match the manifest")
    except (OSError, RuntimeError, KeyError, ValueError) as err:
        problems.append(f"unreadable: {err}")
    return problems


def _values(var: netCDF4.Variable[Any]) -> np.ndarray:
    var.set_auto_maskandscale(True)
    if var.dtype.kind == "f":
        return np.ma.filled(np.ma.asarray(var[:]).astype(np.float32), np.nan)
    return np.asarray(var[:])


def _ensemble_problems(ds: netCDF4.Dataset, record: OutputRecord) -> list[str]:
    """An ensemble output: every statistic and n_members there, the noleap layout, the members and the checksum."""
    names = ensemble_variables(record.data_name, record.statistics, record.window_statistics)
    absent = [n for n in names if n not in ds.variables]
    if absent:
        return [f"variable(s) {', '.join(absent)} not in the file"]
    problems: list[str] = []
    scheme = SlotScheme("noleap", "calendar_day")
    for name in names[:-1]:
        problems += _product_problems(ds, ds.variables[name], record, scheme, True)
    problems += _attribute_problems(ds, record, years=False)
    members = str(getattr(ds, "ensemble_members", ""))
    if members != ", ".join(record.members):
        problems.append(f"ensemble_members {members!r} differ from the manifest's {list(record.members)}")
    if ensemble_checksum({n: _values(ds.variables[n]) for n in names}) != record.checksum:
        problems.append("data checksum does not match the manifest")
    return problems


def _product_problems(
    ds: netCDF4.Dataset, var: netCDF4.Variable[Any], record: OutputRecord, scheme: SlotScheme, ensemble: bool
) -> list[str]:
    """The layout of the record's product (as its spec says) and the file's product attribute."""
    try:
        spec: ProductSpec = spec_of(record.product, record.indicator)
    except ValueError as err:
        return [str(err)]
    layout = spec.layout
    problems = LAYOUT_CHECKS[type(layout)](ds, var, layout, scheme, ensemble)
    if spec.named and getattr(ds, "product", None) != spec.name:
        problems.append(f"attribute product={getattr(ds, 'product', None)!r}, manifest says {spec.name!r}")
    return problems


def _day_problems(
    ds: netCDF4.Dataset, var: netCDF4.Variable[Any], layout: T_Layout, scheme: SlotScheme, ensemble: bool
) -> list[str]:
    return _layout_problems(ds, var, scheme, None if ensemble else CELL_METHODS)


def _layout_problems(
    ds: netCDF4.Dataset, var: netCDF4.Variable[Any], scheme: SlotScheme, cell_methods: str | None
) -> list[str]:
    """Dimensions, day slots, monotonic coordinates and the CF climatology encoding."""
    problems: list[str] = []
    if not var.dimensions or var.dimensions[0] != "time":
        problems.append(f"dimensions {var.dimensions}: the first should be 'time'")
    if len(ds.dimensions["time"]) != scheme.nslots:
        problems.append(f"{len(ds.dimensions['time'])} day slots, expected {scheme.nslots}")
    for name in ("lat", "lon"):
        coord = ds.variables.get(name)
        if coord is not None and coord.dimensions == (name,) and name in var.dimensions:
            values = np.asarray(coord[:])
            if values.size > 1 and not np.all(np.diff(values) > 0):
                problems.append(f"{name} is not monotonic increasing")
    doy = np.asarray(ds.variables["dayofyear"][:])
    if not np.array_equal(doy, np.arange(1, scheme.nslots + 1)):
        problems.append("dayofyear coordinate is not 1..n")
    if getattr(ds.variables["time"], "climatology", None) != "climatology_bnds":
        problems.append("time has no climatology bounds")
    if cell_methods is not None and getattr(var, "cell_methods", None) != cell_methods:
        problems.append(f"cell_methods is {getattr(var, 'cell_methods', None)!r}")
    return problems


def _period_layout_problems(
    ds: netCDF4.Dataset, var: netCDF4.Variable[Any], layout: T_Layout, scheme: SlotScheme, ensemble: bool
) -> list[str]:
    """A normal of whole months: its steps, labels, climatology bounds and cell methods."""
    assert isinstance(layout, Periods)
    problems: list[str] = []
    steps = len(layout.periods)
    if var.dimensions[:1] != ("time",) or len(ds.dimensions["time"]) != steps:
        problems.append(f"{var.dimensions} with {len(ds.dimensions.get('time', ()))} steps, expected {steps}")
    if layout.coordinate is not None and layout.coordinate not in ds.variables:
        problems.append(f"no {layout.coordinate} coordinate")
    if getattr(ds.variables["time"], "climatology", None) != "climatology_bnds":
        problems.append("time has no climatology bounds")
    said = str(getattr(var, "cell_methods", None))
    within = said.split(" time: ")[0]
    over = said.removeprefix(within).split(" realization: ")[0] if ensemble else said.removeprefix(within)
    if within not in {f"time: {how} within years" for how in WITHIN_YEARS} or not _over_years(over):
        problems.append(f"cell_methods is {getattr(var, 'cell_methods', None)!r}")
    return problems


#: The CF methods a period normal's steps may have within years: means and totals of days, an indicator's counts,
#: extremes and dates.
WITHIN_YEARS = ("mean", "sum", "maximum", "minimum", "point")


def _over_years(method: str) -> bool:
    """A normal's method over years: the mean, or a window statistic's (``time: point over years (comment: …)``)."""
    return method == " time: mean over years" or (method.startswith(" time: ") and " over years" in method)


#: Per layout, what its files' time axis and data variable must look like.
LAYOUT_CHECKS = {DaySlots: _day_problems, Periods: _period_layout_problems}


def _attribute_problems(ds: netCDF4.Dataset, record: OutputRecord, *, years: bool = True) -> list[str]:
    """Global attributes that disagree with the manifest's record."""
    problems: list[str] = []
    for key in _ATTRS_FROM_RECORD:
        have = ds.getncattr(key) if key in ds.ncattrs() else None
        want = record.value(key)
        if have is None or str(have) != str(want):
            problems.append(f"attribute {key}={have!r}, manifest says {want!r}")
    if years and int(getattr(ds, "number_of_years", -1)) != len(record.years):
        problems.append("number_of_years differs from the manifest's years")
    return problems
