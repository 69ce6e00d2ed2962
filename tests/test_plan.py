"""Tests of the plan (plan.build, plan.planned, plan.resume): reads names only, so a catalog of empty files.

What a product changes in the plan comes from its spec: its path, what shapes it for resume, whether it reads
the year before the window."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import Config, parse_config
from climnorm.plan.build import Plan, make_plan
from climnorm.plan.planned import OutputPlan
from climnorm.plan.resume import LocalFolders, up_to_date
from climnorm.records import OutputRecord
from climnorm.regions import BUILTIN_REGIONS
from helpers import nex, touch


def _config(tmp_path: Path, **extra: object) -> Config:
    for year in range(2009, 2015):
        touch(tmp_path / "in" / nex("pr", year, scenario="historical"))
    data = {
        "input_dirs": [str(tmp_path / "in")], "output_dir": str(tmp_path / "out"), "variables": ["pr"],
        "regions": ["CONUS"], "scenarios": ["historical"], "window_years": 3, "min_years_for_normal": 3,
        "periods": {"historical": [2013, 2014]}, "products": ["daily", "daily_smoothed", "monthly", "seasonal"],
        **extra,
    }  # fmt: skip
    return parse_config(data)


def _plan(config: Config) -> Plan:
    return make_plan(config, build_catalog(config.input_dirs))


def _one(plan: Plan, product: str, year: int = 2014) -> OutputPlan:
    (out,) = [o for o in plan.outputs if o.product == product and o.target.year == year]
    return out


def test_fingerprints_are_what_shapes_each_product(tmp_path: Path) -> None:
    config = _config(tmp_path)
    plan = _plan(config)
    common = {
        "format": 1, "model": "NorESM2-LM", "variant": "r1i1p1f1", "region": BUILTIN_REGIONS["CONUS"].as_dict(),
        "window_years": 3, "min_years_for_normal": 3, "historical_end": 2014, "leap_day": "calendar_day",
        "lon_convention": "input", "compression": {"zlib": True, "complevel": 1, "shuffle": True},
    }  # fmt: skip

    def digest(shaping: dict[str, object]) -> str:
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]

    assert _one(plan, "daily").fingerprint == digest(common)  # as before products: the daily normal's resume
    smoothing = {"method": "harmonic", "harmonics": 3}
    assert _one(plan, "daily_smoothed").fingerprint == digest(
        {**common, "product": "daily_smoothed", "smoothing": smoothing}
    )
    assert _one(plan, "monthly").fingerprint == digest({**common, "product": "monthly", "monthly_completeness": "wmo"})
    # a changed rule changes the fingerprints of the products it shapes, and only those
    strict = _plan(_config(tmp_path, monthly_completeness="strict"))
    assert _one(strict, "daily_smoothed").fingerprint == _one(plan, "daily_smoothed").fingerprint
    assert _one(strict, "seasonal").fingerprint != _one(plan, "seasonal").fingerprint


def test_paths_and_reads_come_from_the_products(tmp_path: Path) -> None:
    plan = _plan(_config(tmp_path))
    daily, seasonal, monthly = _one(plan, "daily"), _one(plan, "seasonal"), _one(plan, "monthly")
    assert daily.path == "pr/CONUS/historical/pr_CONUS_historical_historical_2014_3yr_normal.nc"
    assert seasonal.path == "pr/CONUS/historical/pr_CONUS_historical_historical_2014_3yr_seasonal_normal.nc"
    assert (daily.label, seasonal.label) == (
        "pr CONUS historical historical 2014",
        "pr CONUS historical historical 2014 seasonal",
    )
    assert monthly.reads == daily.reads == (2012, 2013, 2014)
    assert seasonal.reads == (2011, 2012, 2013, 2014)  # December 2011 begins DJF 2012
    assert [e.path.name[-7:-3] for e in seasonal.inputs] == ["2011", "2012", "2013", "2014"]


def test_an_output_is_up_to_date_when_nothing_that_shaped_it_changed(tmp_path: Path) -> None:
    plan = _plan(_config(tmp_path))
    out = _one(plan, "monthly")
    file = plan.config.output_dir / out.path
    file.parent.mkdir(parents=True)
    file.write_bytes(b"x" * 10)
    inputs = [e.record for e in out.inputs]
    record = OutputRecord(
        out.path, "pr", "CONUS", "historical", "historical", 2014, 3, "NorESM2-LM", "r1i1p1f1", "noleap",
        "calendar_day", out.fingerprint, inputs=tuple(inputs), product="monthly", size=10, checksum="sha256:m",
    )  # fmt: skip
    assert up_to_date(record, out.fingerprint, inputs, LocalFolders(plan.config.output_dir))
    # the recorded size is trusted (a file not as recorded is `verify`'s to find); a record without one never landed
    assert up_to_date(replace(record, size=11), out.fingerprint, inputs, LocalFolders(plan.config.output_dir))
    assert not up_to_date(replace(record, size=None), out.fingerprint, inputs, LocalFolders(plan.config.output_dir))
    assert not up_to_date(record, "0" * 16, inputs, LocalFolders(plan.config.output_dir))
    touched = [{**inputs[0], "mtime": inputs[0]["mtime"] + 1}, *inputs[1:]]
    assert not up_to_date(record, out.fingerprint, touched, LocalFolders(plan.config.output_dir))
    assert not up_to_date(None, out.fingerprint, inputs, LocalFolders(plan.config.output_dir))
    again = make_plan(plan.config, plan.catalog, {out.path: record})
    assert [o.up_to_date for o in again.outputs if o.path == out.path] == [True]
    file.unlink()
    assert not up_to_date(record, out.fingerprint, inputs, LocalFolders(plan.config.output_dir))
