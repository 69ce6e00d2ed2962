"""climnorm's calendar_day normals against CDO's ``ydaymean``.

``cdo -s ydaymean -selyear,A/B -sellonlatbox,lon1,lon2,lat1,lat2 -mergetime <files> out.nc`` computes the
plain mean per (month, day) over the window, Feb 29 over the leap years only. CDO has no min-years rule, so
the archives have no holes (then every cell-slot has all its years and our rule never masks anything).
Box edges fall between cell centres (the grid's centres are odd degrees, the edges even) so CDO's and our
edge rules cannot disagree; time stamps are at noon, so every step's calendar day is unambiguous.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from climnorm import synth
from climnorm.config.model import parse_config
from climnorm.engines import SerialExecutor
from climnorm.runner.pipeline import run
from helpers import cdo_ydaymean, needs_cdo
from reference import read_output

W, MIN_YEARS, HIST_END = 4, 3, 2014
# target -> scenario whose windows it belongs to; 2017 takes 2014 from the historical run
TARGETS = {2014: "historical", 2017: "ssp245"}
# region config entries and the matching sellonlatbox arguments
REGIONS: dict[str, tuple[str | dict[str, Any], str]] = {
    "CONUS": ("CONUS", "234,294,24,50"),
    "PAC": ({"name": "PAC", "lat_min": 10.0, "lat_max": 30.0, "lon_min": 150.0, "lon_max": 200.0}, "150,200,10,30"),
    "DATELINE": (
        {"name": "DATELINE", "lat_min": 36.0, "lat_max": 56.0, "lon_min": 170.0, "lon_max": -170.0},
        "170,-170,36,56",
    ),
}
# archive name -> (calendar, lon convention, latitude descending)
ARCHIVES = {
    "standard": ("standard", "0_360", False),
    "standard-lon180-desc": ("standard", "-180_180", True),
    "360_day": ("360_day", "0_360", False),
}


def _spec(calendar: str, convention: str, descending: bool) -> synth.SynthSpec:
    return synth.SynthSpec(
        variables=("tas",),
        scenarios=("historical", "ssp245"),
        historical_years=(2011, 2014),
        scenario_years=(2015, 2017),
        calendar=calendar,
        resolution=2.0,
        box=(0.0, 60.0, 140.0, 300.0),
        lon_convention=convention,
        lat_descending=descending,
    )


@needs_cdo
@pytest.mark.parametrize("archive", list(ARCHIVES))
def test_calendar_day_matches_cdo_ydaymean(archive: str, tmp_path: Path) -> None:
    calendar, convention, descending = ARCHIVES[archive]
    spec = _spec(calendar, convention, descending)
    synth.write_archive(tmp_path / "in", spec)
    config = parse_config(
        {
            "input_dirs": [str(tmp_path / "in")],
            "output_dir": str(tmp_path / "out"),
            "variables": ["tas"],
            "regions": [entry for entry, _ in REGIONS.values()],
            "scenarios": ["historical", "ssp245"],
            "window_years": W,
            "min_years_for_normal": MIN_YEARS,
            "historical_end": HIST_END,
            "periods": {"historical": [2014, 2014], "hybrid": [2017, 2017]},
            "leap_day": "calendar_day",
            "multiprocessing_workers": 1,
        }
    )
    summary = run(config, executor=SerialExecutor())
    assert summary.failures == [] and summary.skipped == []
    assert summary.written == len(TARGETS) * len(REGIONS)
    nslots = 360 if calendar == "360_day" else 366

    for target, scenario in TARGETS.items():
        first = target - W + 1
        files = [
            synth.file_path(tmp_path / "in", spec, "tas", "historical" if y <= HIST_END else scenario, y)
            for y in range(first, target + 1)
        ]
        period = "historical" if target <= HIST_END else "hybrid"
        for region, (_, lonlatbox) in REGIONS.items():
            what = f"{archive} {region} {target}"
            cdo = cdo_ydaymean(
                files, "tas", first, target, tmp_path / f"cdo_{region}_{target}.nc", box=lonlatbox, sort_lon=False
            )
            name = f"tas_{region}_{scenario}_{period}_{target}_{W}yr_normal.nc"
            got = read_output(tmp_path / "out" / "tas" / region / scenario / name, "tas")

            assert cdo.attrs["hours"] == {12}, f"{what}: CDO stamps {cdo.attrs['hours']}"
            assert cdo.month.size == nslots == got.values.shape[0], f"{what}: number of time steps"
            ours = list(zip(got.month.tolist(), got.day.tolist(), strict=True))
            keys = list(zip(cdo.month.tolist(), cdo.day.tolist(), strict=True))
            assert keys == ours, f"{what}: CDO's days differ from the output's month/day coordinates"
            np.testing.assert_allclose(got.lat, cdo.coords["lat"], atol=1e-9, err_msg=what)
            assert got.lon.size == cdo.coords["lon"].size, f"{what}: lon {got.lon} vs CDO {cdo.coords['lon']}"
            np.testing.assert_allclose((got.lon - cdo.coords["lon"]) % 360.0, 0.0, atol=1e-9, err_msg=what)
            assert not np.isnan(cdo.values).any() and not np.isnan(got.values).any(), what
            np.testing.assert_allclose(got.values, cdo.values, rtol=1e-6, atol=0, err_msg=what)
