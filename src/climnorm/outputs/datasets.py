"""One dataset per chain for analysis: the per-target files of a variable, region, scenario and product stacked
along ``target_year`` (:func:`open_normals`; :mod:`climnorm.outputs.export` writes them as stores). Outputs are found
through the manifest, never by globbing (docs/normals.md, "One dataset per chain").

A scenario's chain is its historical targets followed by its own: the historical normals are shared by every
scenario (their windows end by ``historical_end``), so they head each scenario's dataset; ``historical`` alone
is the historical targets only.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import cftime
import xarray as xr

from climnorm.errors import DatasetError, OutputNotFound
from climnorm.outputs.index import OutputIndex
from climnorm.products import product
from climnorm.records import OutputRecord, in_store
from climnorm.storage.options import StorageOptions
from climnorm.storage.urls import is_s3_url
from climnorm.types import HISTORICAL
from climnorm.write.manifest import MANIFEST_NAME
from climnorm.write.readback import open_output

#: Global attributes that differ from target to target: coordinates along ``target_year`` in the dataset.
PER_TARGET = ("period", "scenarios", "window", "source_years", "missing_years", "number_of_years")
_DROPPED = ("creation_time", "target_year", "scenario", "input_files_digest")
_EXTRA_KEYS = ("model", "variant", "window_years")


@dataclass(frozen=True)
class Chain:
    """One chain and product of an output directory: what :func:`open_normals` selects and :func:`export` writes
    as one store. ``model``, ``variant``, ``window_years`` None: the only one there is."""

    variable: str
    region: str
    scenario: str
    product: str = "daily"
    model: str | None = None
    variant: str | None = None
    window_years: int | None = None


def chain_records(index: OutputIndex, chain: Chain) -> list[OutputRecord]:
    """The records of one chain and product, by target year (a scenario's chain begins with the historical targets);
    OutputNotFound naming what exists, DatasetError when the chain is ambiguous."""
    c = chain
    try:
        product(c.product)
    except ValueError as err:
        try:
            index.select(product=c.product)  # an indicator of the run
        except OutputNotFound:
            raise DatasetError(str(err)) from None
    scenarios = (c.scenario,) if c.scenario == HISTORICAL else (c.scenario, HISTORICAL)
    index.select(variable=c.variable, region=c.region, product=c.product, scenario=c.scenario)
    chosen = index.select(variable=c.variable, region=c.region, product=c.product, scenario=scenarios)
    what = f"{c.variable} {c.region} {c.scenario} {c.product}"
    for key in _EXTRA_KEYS:
        wanted = getattr(c, key)
        if wanted is None:
            values = {r.value(key) for r in chosen}
            if len(values) > 1:
                shown = ", ".join(sorted(map(str, values)))
                raise DatasetError(f"{what}: several {key} values ({shown}); choose one with {key}=")
        else:
            chosen = [r for r in chosen if r.value(key) == wanted] or _none(chosen, key, wanted, what)
    chosen.sort(key=lambda r: r.target_year)
    years = [r.target_year for r in chosen]
    twice = sorted({y for y in years if years.count(y) > 1})
    if twice:
        paths = ", ".join(r.path for r in chosen if r.target_year in twice)
        raise DatasetError(f"{what}: several normals for target(s) {twice} ({paths})")
    return chosen


def _none(records: list[OutputRecord], key: str, wanted: object, what: str) -> list[OutputRecord]:
    shown = ", ".join(sorted({str(r.value(key)) for r in records}))
    raise OutputNotFound(f"{what}: no {key} {wanted!r} (there are: {shown})")


def lazy_available() -> bool:
    """Whether dask is installed (datasets are then opened lazily, one chunk per target)."""
    return importlib.util.find_spec("dask") is not None


def _open_target(
    path: str | Path, record: OutputRecord, lazy: bool, storage: StorageOptions | None = None
) -> xr.Dataset:
    """One per-target file, its climatological time made a coordinate along ``target_year`` (it differs per
    target) and its per-target attributes made coordinates."""
    times = xr.coders.CFDatetimeCoder(use_cftime=True)
    fetched = in_store(path) or is_s3_url(path)
    if fetched:  # a target of the zarr layout (its file, rebuilt in memory), or an object in a bucket
        with open_output(path, storage) as nc:
            ds = xr.open_dataset(xr.backends.NetCDF4DataStore(nc), decode_times=times).load()  # type: ignore[no-untyped-call]
    else:
        ds = xr.open_dataset(path, chunks=-1 if lazy else None, decode_times=times)
    if not lazy and not fetched:
        ds = ds.load()
        ds.close()
    time = ds["time"].load()
    encoding = {"units": time.encoding["units"], "calendar": time.encoding.get("calendar", "standard"), "dtype": "f8"}
    attrs = {k: v for k, v in time.attrs.items() if k != "axis"}  # no axis: a coordinate of two dimensions
    bounds = ds["climatology_bnds"]  # xarray decodes the bounds of "bounds", not of "climatology"
    dates = cftime.num2date(bounds.values, encoding["units"], encoding["calendar"], only_use_cftime_datetimes=True)
    years = [name for name, v in ds.variables.items() if "year" in v.dims]  # a baseline's yearly values: not a normal
    ds = ds.drop_vars(["time", "climatology_bnds", *years])
    ds = ds.assign_coords(climatology_time=time.variable.to_base_variable(), climatology_bnds=(bounds.dims, dates))
    ds["climatology_time"].attrs = {**attrs, "climatology": "climatology_bnds"}
    ds["climatology_time"].encoding = dict(encoding)
    ds["climatology_bnds"].encoding = dict(encoding)
    per_target = {k: ds.attrs.get(k, "") for k in PER_TARGET}
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in PER_TARGET + _DROPPED}
    ds = ds.expand_dims(target_year=[record.target_year])
    coords = {"target_year_scenario": ("target_year", [record.scenario])}
    coords.update({k: ("target_year", [v]) for k, v in per_target.items()})
    return ds.assign_coords(coords)


def open_normals(
    output_dir: Path | str,
    *,
    variable: str,
    region: str,
    scenario: str,
    product: str = "daily",
    model: str | None = None,
    variant: str | None = None,
    window_years: int | None = None,
    change: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """The chain's normals of one product as one Dataset with a ``target_year`` dimension (docs/normals.md).

    Values are the per-target files' exactly; ``period``, ``target_year_scenario`` and the other per-target
    attributes are coordinates along ``target_year``, the climatological time of each target is
    ``climatology_time`` (target_year, time). Lazy (dask, one chunk per target) when dask is installed.
    ``model``, ``variant`` and ``window_years`` need only be given when the directory holds several.
    ``change``: with each target's change against the baseline (``changes:``) as variables of their own
    (``{name}_change``, the baseline's ``{name}_baseline_detrended_std``; an ensemble's statistics, agreement,
    significance and robustness of the changes), NaN for targets without one.
    ``output_dir`` may be the ``s3://`` prefix of a run's outputs, reached with ``storage_options`` (as the
    config's; default the ``AWS_*`` environment).
    """
    chain = Chain(variable, region, scenario, product, model, variant, window_years)
    storage = None if storage_options is None else StorageOptions.from_config(storage_options)
    return open_chain(output_dir, chain, change=change, storage=storage)


def open_chain(
    output_dir: Path | str, chain: Chain, *, change: bool = False, storage: StorageOptions | None = None
) -> xr.Dataset:
    """:func:`open_normals` of a :class:`Chain`."""
    index = OutputIndex.load(output_dir, storage)
    ds = _stacked(index, chain_records(index, chain), chain)
    if change:
        changes = index.of_changes()
        stacked = _stacked(changes, chain_records(changes, chain), chain)
        names = [v for v in stacked.data_vars if "_change" in str(v) or "_baseline_" in str(v)]
        extra = stacked[names].reset_coords(drop=True)
        ds = ds.merge(extra, join="left", combine_attrs="override")
    ds.attrs.update(scenario=chain.scenario, product=chain.product)
    return ds


def _stacked(index: OutputIndex, records: list[OutputRecord], chain: Chain) -> xr.Dataset:
    """The records' per-target files along ``target_year``."""
    lazy = lazy_available()
    try:
        parts = [_open_target(index.location(r), r, lazy, index.storage) for r in records]
    except (OSError, KeyError) as err:
        raise DatasetError(f"{index.output_dir}: a normal listed in {MANIFEST_NAME} cannot be read ({err})") from None
    per_target = ["climatology_time", "climatology_bnds", "target_year_scenario", *PER_TARGET]
    try:
        return xr.concat(
            parts, dim="target_year", data_vars="all", coords=per_target, join="exact", combine_attrs="drop_conflicts"
        )
    except ValueError as err:
        raise DatasetError(f"{chain}: the targets' files differ ({err})") from None


def chains(records: Iterable[OutputRecord]) -> list[Chain]:
    """Every chain and product a store can be made of (the historical chain included)."""
    keys = {Chain(r.variable, r.region, r.scenario, r.product, r.model, r.variant, r.window_years) for r in records}
    return sorted(keys, key=lambda c: tuple(map(str, astuple(c))))
