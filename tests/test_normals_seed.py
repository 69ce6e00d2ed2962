"""climnorm against the seed's algorithm (tests/reference.py:seed_normal) on noleap data, ``leap_day: dayofyear``.

The seed opens each window file per target, cuts the region with ``.sel``, averages with
``groupby('time.dayofyear').mean()``, concatenates and takes the NaN-skipping ``.mean('year')``. On noleap
data that is exactly the dayofyear policy. The seed has no min-years rule: with ``min_years_for_normal: 1``
ours keeps every cell-day that has at least one valid year, which is what the seed's NaN-skipping mean does,
so the archive can have holes and the NaN patterns must agree too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from climnorm import synth
from climnorm.config.model import parse_config
from climnorm.engines import SerialExecutor
from climnorm.regions import BUILTIN_REGIONS
from climnorm.runner.pipeline import run
from reference import assert_close_with_same_nans, read_output, seed_normal

W, HIST_END = 3, 2014
# One target, its window crossing the historical/scenario boundary: the seed's xarray groupby costs ~0.5 s per
# file and region, so more targets would make this test slow without testing anything new.
TARGETS = {2016: ("ssp245", "hybrid")}
HOLES = 0.4  # with 3 years, ~6 % of cell-days have no valid year: NaN in both


def test_dayofyear_matches_seed_algorithm(tmp_path: Path) -> None:
    spec = synth.SynthSpec(
        variables=("tas",),
        scenarios=("historical", "ssp245"),
        historical_years=(2012, 2014),
        scenario_years=(2015, 2016),
        calendar="noleap",
        resolution=1.0,
        box=(10.0, 75.0, 140.0, 300.0),
        holes=HOLES,
    )
    synth.write_archive(tmp_path / "in", spec)
    config = parse_config(
        {
            "input_dirs": [str(tmp_path / "in")],
            "output_dir": str(tmp_path / "out"),
            "variables": ["tas"],
            "regions": list(BUILTIN_REGIONS),
            "scenarios": ["historical", "ssp245"],
            "window_years": W,
            "min_years_for_normal": 1,
            "historical_end": HIST_END,
            "periods": {"hybrid": [2016, 2016]},
            "leap_day": "dayofyear",
            "multiprocessing_workers": 1,
            "compression": {"zlib": False},
        }
    )
    summary = run(config, executor=SerialExecutor())
    assert summary.failures == [] and summary.skipped == []
    assert summary.written == len(TARGETS) * len(BUILTIN_REGIONS)

    nan_seen = 0
    for target, (scenario, period) in TARGETS.items():
        files_by_year = {
            y: [synth.file_path(tmp_path / "in", spec, "tas", "historical" if y <= HIST_END else scenario, y)]
            for y in range(target - W + 1, target + 1)
        }
        for key, region in BUILTIN_REGIONS.items():
            what = f"{key} {target}"
            box = (region.lat_min, region.lat_max, region.lon_min, region.lon_max)
            seed = seed_normal(files_by_year, "tas", box, W, target=target)
            name = f"tas_{key}_{scenario}_{period}_{target}_{W}yr_normal.nc"
            got = read_output(tmp_path / "out" / "tas" / key / scenario / name, "tas")
            assert seed.sizes["lat"] > 0 and seed.sizes["lon"] > 0, f"{what}: the seed found no cells"
            assert got.dayofyear.tolist() == seed["dayofyear"].values.tolist() == list(range(1, 366)), what
            np.testing.assert_allclose(got.lat, seed["lat"].values, atol=1e-9, err_msg=what)
            np.testing.assert_allclose(got.lon, seed["lon"].values, atol=1e-9, err_msg=what)
            expected = seed.transpose("dayofyear", "lat", "lon").values.astype(np.float64)
            assert_close_with_same_nans(got.values, expected, rtol=1e-6, what=what)
            nan_seen += int(np.isnan(expected).sum())
    assert nan_seen > 0, "no cell-day without valid years: the NaN comparison tested nothing"
