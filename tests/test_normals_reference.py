"""climnorm's normals against an independent float64 reference (tests/reference.py) and the closed form.

Random data with NaN and 1e20 holes, every calendar x every leap_day policy, windows crossing the
historical/scenario boundary, a year missing from the archive (a short window that is still written and a
target that is skipped), regions crossing the antimeridian on grids in both longitude conventions, and
descending latitude with end-of-day time stamps plus ``time_bnds``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from climnorm import synth
from climnorm.config.model import parse_config
from climnorm.engines import SerialExecutor
from climnorm.runner.pipeline import RunSummary, run
from climnorm.write.manifest import manifest_outputs
from helpers import DISTINCT_CALENDARS, LEAP_CALENDARS
from reference import (
    Box,
    RandomArchive,
    ReferenceNormal,
    assert_close_with_same_nans,
    read_output,
    reference_normal,
    regular_grid,
    write_random_archive,
)

CALENDARS = [c for c in DISTINCT_CALENDARS if c != "all_leap"]
POLICIES = ["calendar_day", "dayofyear", "drop"]
# grid variant -> (lon convention of the file, latitude descending, time stamps)
GRIDS: dict[str, tuple[str, bool, str]] = {
    "lon0_360-asc-noon": ("0_360", False, "noon"),
    "lon180-desc-bnds": ("-180_180", True, "end_bnds"),
}

W, MIN_YEARS, HIST_END = 6, 4, 2014
HIST_YEARS = [2007, *range(2009, 2015)]  # 2008 missing: 2010 is skipped (3 years), 2011-2013 are short
SCEN_YEARS = list(range(2015, 2019))
PERIODS = {"historical": [2010, 2014], "hybrid": [2015, 2018]}
TARGETS = {"historical": list(range(2010, 2015)), "ssp245": list(range(2015, 2019))}
SKIPPED = {("historical", 2010)}

# Region config entries and the boxes the reference uses for them.
REGIONS: dict[str, tuple[str | dict[str, Any], Box]] = {
    "AK": ("AK", (50.0, 72.0, 170.0, 235.0)),
    "DATELINE": (
        {"name": "DATELINE", "lat_min": 40.0, "lat_max": 70.0, "lon_min": 170.0, "lon_max": -170.0},
        (40.0, 70.0, 170.0, -170.0),
    ),
    "DATELINE360": (
        {"name": "DATELINE360", "lat_min": 10.0, "lat_max": 40.0, "lon_min": 170.0, "lon_max": 190.0},
        (10.0, 40.0, 170.0, 190.0),
    ),
    "WEST": (
        {"name": "WEST", "lat_min": 20.0, "lat_max": 45.0, "lon_min": -100.0, "lon_max": -80.0},
        (20.0, 45.0, -100.0, -80.0),
    ),
}


@pytest.fixture(scope="session")
def random_archives(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], RandomArchive]:
    """Random archives (5 degree cells over lat 0..80, lon 140..300), written once per calendar and grid."""
    cache: dict[tuple[str, str], RandomArchive] = {}

    def get(calendar: str, grid: str) -> RandomArchive:
        if (calendar, grid) not in cache:
            convention, descending, time_mode = GRIDS[grid]
            lat, lon = regular_grid(5.0, (0.0, 80.0), (140.0, 300.0), convention=convention, descending=descending)
            root = tmp_path_factory.mktemp(f"rand-{calendar}-{grid}")
            seed = CALENDARS.index(calendar) * 10 + list(GRIDS).index(grid)
            cache[(calendar, grid)] = write_random_archive(
                root,
                calendar=calendar,
                lat=lat,
                lon=lon,
                historical_years=HIST_YEARS,
                scenario_years=SCEN_YEARS,
                holes=0.3,
                seed=seed,
                time_mode=time_mode,
            )
        return cache[(calendar, grid)]

    return get


def _output_path(out: Path, region: str, scenario: str, period: str, target: int) -> Path:
    return out / "tas" / region / scenario / f"tas_{region}_{scenario}_{period}_{target}_{W}yr_normal.nc"


def _period(target: int) -> str:
    return "historical" if target <= HIST_END else "hybrid"


def _run_climnorm(archive: RandomArchive, out: Path, policy: str) -> RunSummary:
    config = parse_config(
        {
            "input_dirs": [str(archive.root)],
            "output_dir": str(out),
            "variables": ["tas"],
            "regions": [entry for entry, _ in REGIONS.values()],
            "scenarios": ["historical", "ssp245"],
            "window_years": W,
            "min_years_for_normal": MIN_YEARS,
            "historical_end": HIST_END,
            "periods": PERIODS,
            "leap_day": policy,
            "multiprocessing_workers": 1,
            "compression": {"zlib": False},  # values do not depend on it; uncompressed is faster to write
        }
    )
    return run(config, executor=SerialExecutor())


def _check_coordinates(got: Any, ref: ReferenceNormal, policy: str, what: str) -> None:
    assert np.all(np.diff(got.lat) > 0), f"{what}: output lat not increasing: {got.lat}"
    assert np.all(np.diff(got.lon) > 0), f"{what}: output lon not increasing: {got.lon}"
    np.testing.assert_allclose(got.lat, ref.lat, atol=1e-9, err_msg=f"{what}: lat")
    assert got.lon.size == ref.lon.size, f"{what}: {got.lon} vs reference {ref.lon}"
    np.testing.assert_allclose((got.lon - ref.lon + 180.0) % 360.0 - 180.0, 0.0, atol=1e-9, err_msg=f"{what}: lon")
    assert got.lon[0] == pytest.approx(ref.lon[0]), f"{what}: first lon not in the input's convention"
    if policy == "dayofyear":
        assert got.dayofyear.tolist() == ref.keys, f"{what}: dayofyear coordinate"
    else:
        labels = list(zip(got.month.tolist(), got.day.tolist(), strict=True))
        assert labels == ref.keys, f"{what}: month/day coordinates"


# Every calendar x policy; the grid variant alternates so that each calendar and each policy meets both
# (the full product would double the runtime without exercising anything the alternation misses).
CASES = [
    pytest.param(
        calendar,
        policy,
        list(GRIDS)[(i + j) % len(GRIDS)],
    )
    for i, calendar in enumerate(CALENDARS)
    for j, policy in enumerate(POLICIES)
]


@pytest.mark.parametrize(("calendar", "policy", "grid"), CASES)
def test_normals_match_reference(
    calendar: str,
    policy: str,
    grid: str,
    random_archives: Callable[[str, str], RandomArchive],
    tmp_path: Path,
) -> None:
    archive = random_archives(calendar, grid)
    out = tmp_path / "out"
    summary = _run_climnorm(archive, out, policy)
    assert summary.failures == []
    manifest = {r["path"]: r for r in manifest_outputs(out)}

    stats = {"compared": 0, "nan": 0, "valid": 0, "short": 0, "feb29_scaled": 0}
    for scenario, targets in TARGETS.items():
        files_by_year = archive.files_by_year(scenario, HIST_END)
        for region, (_, box) in REGIONS.items():
            for target in targets:
                what = f"{calendar}/{policy}/{grid} {region} {scenario} {target}"
                ref = reference_normal(files_by_year, "tas", box, W, MIN_YEARS, policy, calendar, target=target)
                path = _output_path(out, region, scenario, _period(target), target)
                if ref is None:
                    assert (scenario, target) in SKIPPED, f"{what}: reference says skip"
                    assert not path.exists(), f"{what}: written although the window has < {MIN_YEARS} years"
                    prefix = f"tas {region} {scenario} {_period(target)} {target}: skipped"
                    assert any(s.startswith(prefix) for s in summary.skipped), f"{what}: not in {summary.skipped}"
                    continue
                assert (scenario, target) not in SKIPPED
                assert path.exists(), f"{what}: not written"
                got = read_output(path, "tas")
                assert got.dtype == np.float32
                _check_coordinates(got, ref, policy, what)
                assert_close_with_same_nans(got.values, ref.values, rtol=1e-6, what=what)
                assert int(got.attrs["target_year"]) == target
                assert int(got.attrs["number_of_years"]) == len(ref.years)
                rel = str(path.relative_to(out))
                assert manifest[rel]["years"] == ref.years, what
                stats["compared"] += 1
                stats["nan"] += int(np.isnan(ref.values).sum())
                stats["valid"] += int((~np.isnan(ref.values)).sum())
                stats["short"] += len(ref.years) < W
                if calendar in LEAP_CALENDARS and policy == "calendar_day":
                    feb29 = ref.keys.index((2, 29))
                    used = ~np.isnan(ref.values[feb29]) & (ref.counts[feb29] < MIN_YEARS)
                    stats["feb29_scaled"] += int(used.sum())
    # the comparison exercised what it claims to
    assert stats["compared"] == len(REGIONS) * (sum(map(len, TARGETS.values())) - len(SKIPPED))
    assert 0 < stats["nan"] < stats["valid"], stats
    assert stats["short"] == len(REGIONS) * 3, stats  # 2011, 2012, 2013 miss 2008
    if calendar in LEAP_CALENDARS and policy == "calendar_day":
        assert stats["feb29_scaled"] > 0, "no Feb 29 cell was valid through the scaled min-years rule"
    assert summary.written == stats["compared"]


# ------------------------------------------------------------------------------------------ closed form


@pytest.mark.parametrize("calendar", ["noleap", "standard"])
def test_closed_form_window_mean(calendar: str, tmp_path: Path) -> None:
    """Without holes, the calendar_day normal is the mean over the window's years of the closed form."""
    spec = synth.SynthSpec(
        variables=("tas",),
        scenarios=("historical", "ssp245"),
        historical_years=(2010, 2014),
        scenario_years=(2015, 2017),
        calendar=calendar,
        resolution=5.0,
        box=(30.0, 60.0, 160.0, 200.0),
    )
    synth.write_archive(tmp_path / "in", spec)
    window, min_years = 4, 3
    config = parse_config(
        {
            "input_dirs": [str(tmp_path / "in")],
            "output_dir": str(tmp_path / "out"),
            "variables": ["tas"],
            "regions": [{"name": "BOX", "lat_min": 35.0, "lat_max": 55.0, "lon_min": 170.0, "lon_max": 195.0}],
            "scenarios": ["historical", "ssp245"],
            "window_years": window,
            "min_years_for_normal": min_years,
            "historical_end": 2014,
            "periods": {"historical": [2013, 2014], "hybrid": [2015, 2017]},
            "leap_day": "calendar_day",
            "multiprocessing_workers": 1,
        }
    )
    summary = run(config, executor=SerialExecutor())
    assert summary.failures == [] and summary.skipped == []
    assert summary.written == 5
    for scenario, period, targets in (("historical", "historical", (2013, 2014)), ("ssp245", "hybrid", (2015, 2017))):
        for target in targets:
            name = f"tas_BOX_{scenario}_{period}_{target}_{window}yr_normal.nc"
            got = read_output(tmp_path / "out" / "tas" / "BOX" / scenario / name, "tas")
            assert got.values.shape[0] == (366 if calendar == "standard" else 365)
            lat, lon = got.lat[:, None], got.lon[None, :]
            years = range(target - window + 1, target + 1)
            for slot, (month, day) in enumerate(zip(got.month.tolist(), got.day.tolist(), strict=True)):
                having = [y for y in years if month != 2 or day != 29 or synth.days_in_year(calendar, y) == 366]
                expected = np.mean(
                    [synth.expected_value("tas", calendar, y, month, day, lat, lon) for y in having], axis=0
                )
                np.testing.assert_allclose(
                    got.values[slot], expected, rtol=1e-6, err_msg=f"{calendar} {target} {month:02d}-{day:02d}"
                )
