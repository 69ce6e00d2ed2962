"""One entry point for every product's file: the normal's time axis as its product's layout says (day slots or
periods of whole months), then what every file shares (`climnorm.write.netcdf`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import netCDF4
import numpy as np

from climnorm._atomic import atomic_file
from climnorm.calendars import SlotScheme
from climnorm.products import DaySlots, Periods, T_Layout
from climnorm.write.days import write_day_slots
from climnorm.write.digests import data_checksum, ensemble_checksum
from climnorm.write.netcdf import create_dimensions, variable_attributes, window_variable, write_data
from climnorm.write.orders import NormalMeta, WriteTask
from climnorm.write.periods import write_period_steps


def _day_axis(ds: netCDF4.Dataset, layout: T_Layout, window: range, calendar: str, leap_day: str) -> list[str]:
    write_day_slots(ds, SlotScheme(calendar, leap_day), window, leap_day)  # type: ignore[arg-type]
    return list(layout.labels)


def _period_axis(ds: netCDF4.Dataset, layout: T_Layout, window: range, calendar: str, leap_day: str) -> list[str]:
    assert isinstance(layout, Periods)
    return write_period_steps(ds, layout, window, calendar)


#: Per layout, how a file's time axis is written: its steps, their climatology bounds and label coordinates.
TIME_AXES: dict[type, Callable[[netCDF4.Dataset, T_Layout, range, str, str], list[str]]] = {
    DaySlots: _day_axis,
    Periods: _period_axis,
}
#: The label coordinates the time axes write (never a grid coordinate).
TIME_LABELS = frozenset({"dayofyear", "month", "day", "season"})


def write_time_axis(ds: netCDF4.Dataset, layout: T_Layout, window: range, calendar: str, leap_day: str) -> list[str]:
    """The time axis of a normal of ``layout`` over ``window`` (dimensions ``time`` and ``nv`` must exist);
    returns the label coordinates' names."""
    return TIME_AXES[type(layout)](ds, layout, window, calendar, leap_day)


def steps_of(meta: NormalMeta) -> int:
    """How many time steps a normal of ``meta`` has."""
    return meta.product.layout.steps(SlotScheme(meta.calendar, meta.leap_day))


def normal_checksum(name: str, normal: np.ndarray, extras: tuple[tuple[str, np.ndarray], ...]) -> str:
    """A member file's checksum: of its normal alone, or with its window statistics, variable by variable."""
    if not extras:
        return data_checksum(normal)
    return ensemble_checksum({name: normal, **{window_variable(name, s): v for s, v in extras}})


def write_product(task: WriteTask) -> tuple[int, str]:
    """Write a (steps, *grid) normal of any product via a temporary file and rename; returns (size, checksum)."""
    path, normal, grid, meta = Path(task.path), task.normal, task.grid, task.meta
    steps = steps_of(meta)
    if normal.shape[0] != steps or normal.ndim != 1 + len(grid.dims):
        raise ValueError(f"{meta.product.name} normal shape {normal.shape} does not match {steps} steps x {grid.dims}")
    with atomic_file(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        create_dimensions(ds, steps, grid, normal)
        labels = write_time_axis(ds, meta.product.layout, meta.window, meta.calendar, meta.leap_day)
        write_data(ds, normal, grid, meta, variable_attributes(meta), labels, task.encoding, task.extras)
    return path.stat().st_size, normal_checksum(meta.variable, np.asarray(normal), task.extras)
