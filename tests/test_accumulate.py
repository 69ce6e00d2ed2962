"""Tests of runner.accumulate: a chain's state fed year by year, by hand-made reads (no files, no engine).

Every normal is compared with numpy over the same yearly fields; the historical state stays as it is when a
scenario forks it; a year only carried (before every window) leaves nothing but its December.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from climnorm.calendars import SlotScheme
from climnorm.catalog.filenames import FileEntry, parse_filename
from climnorm.config.model import Config, parse_config
from climnorm.plan.build import make_plan
from climnorm.plan.planned import OutputPlan
from climnorm.runner.accumulate import ChainAccumulator, Computed, Skipped
from climnorm.types import Coord, FileResult, RegionCut, YearPiece
from helpers import nex

SCHEME = SlotScheme("noleap", "calendar_day")
CUT = RegionCut(
    "CONUS", (np.arange(2), np.arange(3)), None, ("lat", "lon"),
    (Coord("lat", ("lat",), np.array([30.0, 31.0])), Coord("lon", ("lon",), np.array([250.0, 251.0, 252.0]))),
)  # fmt: skip


def _config(tmp_path: Path, **extra: object) -> Config:
    data = {
        "input_dirs": [str(tmp_path)],
        "variables": ["tas"],
        "regions": ["CONUS"],
        "scenarios": ["historical", "ssp245"],
        "window_years": 3,
        "min_years_for_normal": 2,
        "historical_end": 2014,
        "periods": {"historical": [2013, 2014], "hybrid": [2015, 2016]},
        "products": ["daily", "monthly", "seasonal"],
        **extra,
    }
    return parse_config(data)


def _field(year: int, seed: int) -> np.ndarray:
    values = np.random.default_rng(year * 10 + seed).normal(280.0, 5.0, (365, 2, 3)).astype(np.float32)
    values[year % 7 :: 50, 0, 1] = np.nan  # a few missing days
    return values


def _read(year: int, field: np.ndarray, scenario: str = "historical") -> tuple[FileEntry, FileResult]:
    entry = parse_filename(Path("/in") / nex("tas", year, scenario=scenario))
    assert entry is not None
    steps = np.ones(365, dtype=np.int32)
    result = FileResult(
        str(entry.path), "noleap", "K", {"units": "K"}, {"CONUS": CUT}, {(year, "CONUS"): YearPiece(field, steps)}
    )
    return entry, result


def _outputs(config: Config, tmp_path: Path, scenario: str, year: int) -> list[OutputPlan]:
    for y in range(2010, 2017):
        (tmp_path / nex("tas", y, scenario="historical" if y <= 2014 else "ssp245")).touch()
    from climnorm.catalog.scan import build_catalog

    plan = make_plan(config, build_catalog(config.input_dirs))
    return [o for o in plan.outputs if (o.target.scenario, o.target.year) == (scenario, year)]


def _by_product(outcomes: list[Computed | Skipped]) -> dict[str, Computed]:
    computed = {o.out.product: o for o in outcomes if isinstance(o, Computed)}
    assert len(computed) == len(outcomes), [o for o in outcomes if isinstance(o, Skipped)]
    return computed


def test_normals_are_the_means_of_the_window_years_and_a_fork_leaves_the_history(tmp_path: Path) -> None:
    config = _config(tmp_path)
    fields = {y: _field(y, 1) for y in range(2011, 2017)}
    acc = ChainAccumulator("tas", config)
    for year in range(2011, 2015):
        assert acc.add_year("historical", year, [_read(year, fields[year])]) == []
    hist = _by_product(list(acc.normals(_outputs(config, tmp_path, "historical", 2014))))
    expected = np.nanmean(np.stack([fields[y] for y in (2012, 2013, 2014)]).astype(np.float64), axis=0)
    np.testing.assert_allclose(hist["daily"].normal, expected, rtol=1e-6)
    assert hist["daily"].years == (2012, 2013, 2014) and hist["daily"].aggregation == "mean"
    assert hist["monthly"].normal.shape == (12, 2, 3) and hist["seasonal"].normal.shape == (4, 2, 3)
    january = np.stack([np.nanmean(fields[y][:31].astype(np.float64), axis=0) for y in (2012, 2013, 2014)])
    np.testing.assert_allclose(hist["monthly"].normal[0], january.mean(axis=0), rtol=1e-6)
    # DJF 2012 takes December 2011 (added, then dropped from the window): 2011 is an input of the seasonal normal
    assert hist["seasonal"].input_years == (2011, 2012, 2013, 2014) and hist["daily"].input_years == (2012, 2013, 2014)

    acc.fork()
    for year in (2015, 2016):
        acc.add_year("ssp245", year, [_read(year, fields[year], "ssp245")])
    future = _by_product(list(acc.normals(_outputs(config, tmp_path, "ssp245", 2016))))
    expected = np.nanmean(np.stack([fields[y] for y in (2014, 2015, 2016)]).astype(np.float64), axis=0)
    np.testing.assert_allclose(future["daily"].normal, expected, rtol=1e-6)
    assert acc.historical.windows[("CONUS", "daily")].years == [2012, 2013, 2014]  # untouched by the fork


def test_a_carried_year_leaves_only_its_december(tmp_path: Path) -> None:
    config = _config(tmp_path, products=["seasonal"])
    acc = ChainAccumulator("tas", config)
    acc.add_year("historical", 2011, [_read(2011, _field(2011, 2))], carry=True)
    assert acc.state.windows == {}
    for year in (2012, 2013):
        acc.add_year("historical", year, [_read(year, _field(year, 2))])
    assert acc.state.windows[("CONUS", "seasonal")].years == [2012, 2013]
    assert acc.state.sources[("CONUS", "periods")].previous_years((2012, 2013)) == (2011,)


def test_a_failed_file_loses_its_year_and_too_few_years_are_skipped_with_the_reason(tmp_path: Path) -> None:
    config = _config(tmp_path, products=["daily"])
    acc = ChainAccumulator("tas", config)
    entry, _ = _read(2012, _field(2012, 3))
    problems = acc.add_year("historical", 2012, [(entry, None)])
    assert [p.message for p in problems] == ["year 2012 not used (a file of it failed)"]
    acc.add_year("historical", 2013, [_read(2013, _field(2013, 3))])
    (outcome,) = acc.normals(_outputs(config, tmp_path, "historical", 2013))
    assert isinstance(outcome, Skipped) and outcome.fail
    assert outcome.reason == "only 1 readable years in window 2011-2013 (minimum 2); missing 2011-2012"
