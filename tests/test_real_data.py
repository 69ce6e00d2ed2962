"""climnorm on real archives (issue 8): CMIP3/5/6, CORDEX and station files as their producers wrote them.

The files are in ``tests/data/real`` (its MANIFEST.md lists them, its README.md names each file's source, commit
and licence), so every test here runs on a fresh clone.

Two references:

- CDO's ``ydaymean`` (``cdo -s ydaymean -selyear,A/B -selname,VAR -mergetime files out.nc``) for gridded sets;
  with ``-shifttime,-12hour`` for CESM2's end-of-day stamps (00:00 at the END of the day, so the shifted stamp
  is the midpoint of ``time_bnds``, which is what climnorm uses); CORDEX rotated-pole sets with region ``all``.
- :func:`reference.reference_normals`, the tests' float64 reference (netCDF4 + cftime, Python loops, nothing
  from climnorm) for the point series (a ``location`` dimension), where CDO does not apply.

Every compared window is made of complete years only (CDO's ``selyear`` would also take the days of a partial
year), and in these files a cell is either always missing (the HadGEM2-ES ocean cell, the NaN frame of the
na10kgrid files) or never, so CDO having no min-years rule changes nothing: the match must be exact up to
float32 rounding (rtol 1e-6) with identical NaN masks.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np
import pytest

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.engines import SerialExecutor
from climnorm.runner.pipeline import RunSummary, run
from climnorm.write.manifest import manifest_outputs
from helpers import cdo_ydaymean, needs_cdo
from reference import Field, assert_same_normal, filled, reference_normals
from reference import read_field as read_normal

HERE = Path(__file__).resolve().parent
RTOL = 1e-6
LOCAL = HERE / "data" / "real"

M = "mini-esgf-data"
X = "xclim-testdata"
EC_EARTH_2000S = f"{M}/tas_day_EC-EARTH_historical_r1i1p1_20000101-20091130.nc"
EC_EARTH = (
    *(f"{M}/tas_day_EC-EARTH_historical_r1i1p1_{y}0101-{y + 9}1231.nc" for y in range(1960, 2000, 10)),
    EC_EARTH_2000S,
)
EC_EARTH_ALL = (
    *(f"{M}/tas_day_EC-EARTH_historical_r1i1p1_{y}0101-{y + 9}1231.nc" for y in range(1850, 2000, 10)),
    EC_EARTH_2000S,
)
MRSOS_RUNS = ("20051201-20151130", "20151201-20251130", "20951201-20991030", "20991101-20991230")
MRSOS = tuple(f"{M}/mrsos_day_HadGEM2-ES_rcp45_r1i1p1_{r}.nc" for r in MRSOS_RUNS)
MRSOS_ALL = (
    tuple(f"{M}/mrsos_day_HadGEM2-ES_rcp45_r1i1p1_{y}1201-{y + 10}1130.nc" for y in range(2005, 2095, 10)) + MRSOS[2:]
)
CESM2 = f"{M}/tas_day_CESM2-WACCM_historical_r1i1p1f1_gn_20000101-20091231.nc"
NAM22 = tuple(
    f"{M}/pr_NAM-22_NOAA-GFDL-GFDL-ESM2M_rcp45_r1i1p1_OURANOS-CRCM5_v1_day_{r}.nc"
    for r in ("20510101-20551231", "20560101-20601231")
)
NAM22_MODEL = "NOAA-GFDL-GFDL-ESM2M_OURANOS-CRCM5"
CANESM2_POINTS = f"{X}/CanESM2_1950-2100.nc"


# ---------------------------------------------------------------------------------------------------- files


def need(rels: Iterable[str]) -> list[Path]:
    """The real files by their paths under tests/data/real (each must be there)."""
    found = [LOCAL / r for r in rels]
    missing = [str(p) for p in found if not p.is_file()]
    assert not missing, f"missing from tests/data/real: {', '.join(missing)}"
    return found


def copy_without(src: Path, dst: Path, drop: Sequence[str]) -> None:
    """Copy a NetCDF file variable by variable, leaving out ``drop`` (values, attributes and types kept)."""
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w", format="NETCDF4") as b:
        for name, dim in a.dimensions.items():
            b.createDimension(name, None if dim.isunlimited() else len(dim))
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        for name, var in a.variables.items():
            if name in drop:
                continue
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
            out = b.createVariable(name, var.dtype, var.dimensions, fill_value=fill)
            out.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            var.set_auto_maskandscale(False)
            out.set_auto_maskandscale(False)
            out[...] = var[...]


def stage(
    tmp: Path, files: Sequence[Path], names: Sequence[str] = (), drop: Sequence[str] = ()
) -> tuple[Path, list[Path]]:
    """Put the files in ``tmp/in`` (symbolic links; copies under ``names`` or without ``drop``); returns the
    folder and the staged paths, in the order given."""
    folder = tmp / "in"
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    for i, src in enumerate(files):
        dst = folder / (names[i] if names else src.name)
        if drop:
            copy_without(src, dst, drop)
        elif names:
            shutil.copyfile(src, dst)
        else:
            os.symlink(src, dst)
        staged.append(dst)
    return folder, staged


def climnorm_run(
    input_dir: Path, output_dir: Path, *, serial: bool = True, **settings: Any
) -> tuple[RunSummary, list[dict[str, Any]]]:
    """Run climnorm with a generated config; returns the summary and the manifest's outputs."""
    data: dict[str, Any] = {
        "input_dirs": [str(input_dir)],
        "output_dir": str(output_dir),
        "regions": ["all"],
        "multiprocessing_workers": 2,
    }
    data.update(settings)
    summary = run(parse_config(data), executor=SerialExecutor() if serial else None)
    outputs = manifest_outputs(output_dir)
    return summary, outputs


def by_target(outputs: list[dict[str, Any]], variable: str, region: str = "all") -> dict[int, dict[str, Any]]:
    return {o["target_year"]: o for o in outputs if o["variable"] == variable and o["region"] == region}


# ------------------------------------------------------------------------------------------------- reading


def assert_matches_cdo(
    tmp: Path,
    output: Path,
    files: Sequence[Path],
    variable: str,
    years: Sequence[int],
    shift: str = "",
    box: str = "",
) -> None:
    """climnorm's output equals CDO's ydaymean of the same files and years: coordinates, values, NaN mask."""
    ours = read_normal(output, variable)
    ref = cdo_ydaymean(files, variable, years[0], years[-1], tmp / f"cdo_{output.stem}.nc", shift, box)
    for name, values in ref.coords.items():
        np.testing.assert_allclose(ours.coords[name], values, rtol=0, atol=1e-5, err_msg=f"{output.name}: {name}")
    assert_same_normal(ours, ref, output.name)


# ------------------------------------------------------------------------------------------ the local copy


def test_local_copy_is_documented_and_small() -> None:
    """Every copied file is named in the README with its source; both licence files are kept; 25 MB at most."""
    readme = (LOCAL / "README.md").read_text()
    files = sorted(p for p in LOCAL.rglob("*") if p.is_file() and p.name not in ("README.md", "MANIFEST.md"))
    assert (LOCAL / M / "LICENSE.mini-esgf-data").is_file()
    assert (LOCAL / X / "LICENSE.xclim-testdata").is_file()
    for path in files:
        assert path.name in readme, f"{path.name} is not named in tests/data/real/README.md"
    for needed in (*EC_EARTH, *MRSOS, CESM2, *NAM22, CANESM2_POINTS):
        assert (LOCAL / needed).is_file(), f"{needed} missing from tests/data/real"
    for commit in ("77efda8f1cf5717ac9ad0545b8a1a80399b2578c", "e9097a8d5167d5c0f48c772a14f63f0362f569d3"):
        assert commit in readme
    total = sum(p.stat().st_size for p in files)
    assert total < 25e6, f"tests/data/real holds {total / 1e6:.1f} MB"


# ------------------------------------------------------------------------------------------------ key sets


@needs_cdo
def test_ec_earth_1961_1990_and_1971_2000_normals_match_cdo(tmp_path: Path) -> None:
    """EC-EARTH tas: NETCDF3 decade files whose time units change from file to file ('days since 1960-01-01',
    'days since 1970-01-01' ...), standard calendar with Feb 29, 30-year windows (run on the process pool)."""
    files = need(EC_EARTH)
    units = set()
    for path in files:
        with netCDF4.Dataset(path) as ds:
            assert ds.data_model == "NETCDF3_CLASSIC"
            units.add(ds.variables["time"].units)
    assert len(units) == len(files), "each file has its own time reference"
    folder, staged = stage(tmp_path, files)
    box = {"name": "BOX", "lat_min": 0.0, "lat_max": 30.0, "lon_min": 100.0, "lon_max": 230.0}
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        serial=False,
        variables=["tas"],
        regions=["all", box],
        scenarios=["historical"],
        window_years=30,
        min_years_for_normal=30,
        historical_end=2014,
        periods={"historical": [1990, 2000]},
    )
    assert summary.failures == [] and summary.skipped == []
    assert summary.written == 22
    for region, lonlatbox in (("all", ""), ("BOX", "100,230,0,30")):
        outs = by_target(outputs, "tas", region)
        for target, first in ((1990, 1961), (2000, 1971)):
            out = outs[target]
            assert out["years"] == list(range(first, target + 1))
            path = tmp_path / "out" / out["path"]
            ours = read_normal(path, "tas")
            assert ours.attrs["source_years"] == f"{first}-{target}"
            assert ours.attrs["number_of_years"] == 30 and ours.attrs["calendar"] == "standard"
            assert ours.values.shape[0] == 366 and not np.isnan(ours.values).any()  # Feb 29: 7 or 8 leap years
            used = [folder / Path(p["path"]).name for p in out["inputs"]]
            assert used == (staged[:4] if target == 1990 else staged[1:])  # the 1960s-1990s or 1970s-2000s files
            assert_matches_cdo(tmp_path, path, used, "tas", out["years"], box=lonlatbox)
            if lonlatbox:
                assert ours.coords["lat"].tolist() == pytest.approx([22.99054])
                assert ours.coords["lon"].tolist() == [112.5, 225.0]


@needs_cdo
def test_hadgem2_es_mrsos_360_day_dec_nov_files_keep_the_ocean_cell_masked(tmp_path: Path) -> None:
    """HadGEM2-ES mrsos: 360_day, files split Dec-Nov (2015 assembled from two files, 2099 from a file ending
    Oct 30 and one starting Nov 1), a land-only variable whose ocean cell is missing in every step, a scalar
    `depth` coordinate. The partial years (Dec 2005 only; 2025 to Nov 30 in this copy) count as missing."""
    files = need(MRSOS)
    folder, staged = stage(tmp_path, files)
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        variables=["mrsos"],
        scenarios=["rcp45"],
        window_years=4,
        min_years_for_normal=4,
        historical_end=2000,
        periods={"early": [2008, 2025], "late": [2099, 2099]},
    )
    assert summary.failures == []
    outs = by_target(outputs, "mrsos")
    assert sorted(outs) == [*range(2009, 2025), 2099]
    skipped = {int(s.split(":")[0].split()[-1]): s for s in summary.skipped}
    assert sorted(skipped) == [2008, 2025]
    assert "missing 2005" in skipped[2008] and "missing 2025" in skipped[2025]
    for target in (2009, 2015, 2099):
        out = outs[target]
        path = tmp_path / "out" / out["path"]
        used = [folder / Path(p["path"]).name for p in out["inputs"]]
        assert_matches_cdo(tmp_path, path, used, "mrsos", out["years"])
    assert [Path(p["path"]).name for p in outs[2015]["inputs"]] == [s.name for s in staged[:2]]
    assert [Path(p["path"]).name for p in outs[2099]["inputs"]] == [s.name for s in staged[2:]]
    for out in outs.values():
        path = tmp_path / "out" / out["path"]
        ours = read_normal(path, "mrsos")
        assert ours.values.shape == (360, 2, 2) and ours.attrs["calendar"] == "360_day"
        assert ours.month.tolist() == np.repeat(np.arange(1, 13), 30).tolist()
        assert ours.day.tolist() == np.tile(np.arange(1, 31), 12).tolist()  # Feb 29 and Feb 30 exist
        assert ours.coords["lat"].tolist() == [-90.0, 35.0] and ours.coords["lon"].tolist() == [0.0, 187.5]
        assert np.isnan(ours.values[:, 1, 1]).all(), f"{path.name}: the ocean cell has values"
        assert not np.isnan(ours.values[:, [0, 0, 1], [0, 1, 0]]).any(), f"{path.name}: a land cell is masked"
        with netCDF4.Dataset(path) as ds:
            assert float(ds.variables["depth"][...]) == 0.05
            assert "depth" in ds.variables["mrsos"].coordinates.split()
            assert ds.variables["mrsos"].units == "kg m-2"


@needs_cdo
def test_cesm2_end_of_day_stamps_put_each_value_on_its_true_day(tmp_path: Path) -> None:
    """CESM2-WACCM stamps 00:00 at the END of each day (the step stamped 2000-01-02 00:00 has bounds Jan 1 ->
    Jan 2): the true days run 1999-12-31 .. 2009-12-30, so 2009 lacks Dec 31 and is not used."""
    (src,) = need([CESM2])
    folder, (staged,) = stage(tmp_path, [src])
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        variables=["tas"],
        scenarios=["historical"],
        window_years=5,
        min_years_for_normal=5,
        historical_end=2014,
        periods={"historical": [2004, 2009]},
    )
    outs = by_target(outputs, "tas")
    assert sorted(outs) == [2004, 2005, 2006, 2007, 2008]
    assert any(str(staged) in p and "year 2009 incomplete" in p for p in summary.problems), summary.problems
    assert any("2009" in s for s in summary.skipped + summary.failures)

    with netCDF4.Dataset(src) as ds:
        t = ds.variables["time"]
        stamps = cftime.num2date(t[:], t.units, t.calendar)
        bounds = cftime.num2date(ds.variables["time_bnds"][:], t.units, t.calendar)
        raw = filled(ds.variables["tas"])
    index = {(d.year, d.month, d.day, d.hour): i for i, d in enumerate(stamps)}
    i = index[(2000, 1, 2, 0)]
    assert (bounds[i][0].month, bounds[i][0].day, bounds[i][1].day) == (1, 1, 2)
    for target in outs:
        ours = read_normal(tmp_path / "out" / outs[target]["path"], "tas")
        assert ours.values.shape[0] == 365
        for (month, day), (smonth, sday, dyear) in {(1, 1): (1, 2, 0), (6, 30): (7, 1, 0), (12, 31): (1, 1, 1)}.items():
            slot = int(np.nonzero((ours.month == month) & (ours.day == day))[0][0])
            steps = [index[(y + dyear, smonth, sday, 0)] for y in range(target - 4, target + 1)]
            expected = raw[steps].mean(axis=0)
            np.testing.assert_allclose(ours.values[slot], expected, rtol=RTOL, err_msg=f"{target} {month}-{day}")
        if target in (2004, 2008):
            out = outs[target]
            assert_matches_cdo(tmp_path, tmp_path / "out" / out["path"], [staged], "tas", out["years"], "-12hour")


@needs_cdo
def test_cordex_rotated_pole_keeps_the_native_grid(tmp_path: Path) -> None:
    """CORDEX NAM-22 (5-year files, 365_day, 2-D lat/lon in -180..180 on a rotated pole): region `all` equals
    CDO on the native grid; a box keeps the native grid cut to the rectangle around the cells whose centres
    are inside, with the others masked, and the 2-D coordinates and the grid mapping travel along."""
    files = need(NAM22)
    folder, staged = stage(tmp_path, files)
    box = {"name": "SW", "lat_min": 10.0, "lat_max": 40.0, "lon_min": -130.0, "lon_max": -80.0}
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        model=NAM22_MODEL,
        variables=["pr"],
        regions=["all", "CONUS", box],
        scenarios=["rcp45"],
        window_years=5,
        min_years_for_normal=5,
        historical_end=2040,
        periods={"future": [2055, 2060]},
    )
    assert summary.failures == [] and summary.skipped == []
    assert summary.written == 18
    with netCDF4.Dataset(staged[0]) as ds:
        lat2d = np.asarray(ds.variables["lat"][:])
        lon2d = np.asarray(ds.variables["lon"][:])
        rlat, rlon = np.asarray(ds.variables["rlat"][:]), np.asarray(ds.variables["rlon"][:])
    whole = by_target(outputs, "pr")
    for target in (2055, 2060):
        out = whole[target]
        assert_matches_cdo(tmp_path, tmp_path / "out" / out["path"], staged, "pr", out["years"])
    for key, (lat_min, lat_max, lon_min, lon_max) in (
        ("CONUS", (24.0, 50.0, 234.0, 294.0)),
        ("SW", (10.0, 40.0, -130.0, -80.0)),
    ):
        inside = (lat2d >= lat_min) & (lat2d <= lat_max) & ((lon2d - lon_min) % 360.0 <= (lon_max - lon_min) % 360.0)
        rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        rr, cc = np.arange(rows[0], rows[-1] + 1), np.arange(cols[0], cols[-1] + 1)
        sub = inside[np.ix_(rr, cc)]
        if key == "SW":
            assert not sub.all(), "the SW box is meant to leave a masked cell in its rectangle"
        for target, out in by_target(outputs, "pr", key).items():
            path = tmp_path / "out" / out["path"]
            ours = read_normal(path, "pr")
            full = read_normal(tmp_path / "out" / whole[target]["path"], "pr")
            assert ours.dims == ("time", "rlat", "rlon")
            np.testing.assert_array_equal(ours.coords["lat"], lat2d[np.ix_(rr, cc)])
            np.testing.assert_array_equal(ours.coords["lon"], lon2d[np.ix_(rr, cc)])
            np.testing.assert_array_equal(ours.coords["rlat"], rlat[rr])
            np.testing.assert_array_equal(ours.coords["rlon"], rlon[cc])
            expected = np.where(sub, full.values[:, rr][:, :, cc], np.nan)
            np.testing.assert_array_equal(ours.values, expected)
            with netCDF4.Dataset(path) as ds:
                assert ds.variables["pr"].grid_mapping == "rotated_pole"
                assert ds.variables["rotated_pole"].grid_north_pole_latitude == pytest.approx(42.5)
                assert {"lat", "lon"} <= set(ds.variables["pr"].coordinates.split())


# ----------------------------------------------------------------------------------------------- point series

CANESM2_NAMES = (
    "pr_day_CanESM2_rcp85_r1i1p1_19500101-21001231.nc",
    "tasmax_day_CanESM2_rcp85_r1i1p1_19500101-21001231.nc",
)


def _check_points(tmp_path: Path, drop: Sequence[str]) -> None:
    """CanESM2_1950-2100.nc (pr and tasmax at 3 towns, (time, location), noleap, 1950-2100): its name does not
    parse, so it is staged under CMIP5 names, once per variable; compared with the float64 reference."""
    (src,) = need([CANESM2_POINTS])
    folder, staged = stage(tmp_path, [src, src], CANESM2_NAMES, drop)
    west = {"name": "WEST", "lat_min": 40.0, "lat_max": 70.0, "lon_min": -130.0, "lon_max": -100.0}
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        serial=False,
        variables=["pr", "tasmax"],
        regions=["all", west],
        scenarios=["rcp85"],
        window_years=30,
        min_years_for_normal=25,
        historical_end=1949,
        periods={"early": [1979, 1980], "late": [2100, 2100]},
    )
    assert summary.failures == [], summary.failures[:3]
    assert summary.written == 12
    for variable, path in zip(("pr", "tasmax"), staged, strict=True):
        refs = reference_normals([path], variable, 30, 25, (1979, 1980, 2100))
        for region, locations in (("all", [0, 1, 2]), ("WEST", [0, 1])):
            for target, out in by_target(outputs, variable, region).items():
                ours = read_normal(tmp_path / "out" / out["path"], variable)
                assert ours.dims == ("time", "location")
                assert ours.coords["lat"].tolist() == [[49.1, 67.8, 48.8][i] for i in locations]
                assert ours.coords["lon"].tolist() == [[-123.1, -115.1, -78.2][i] for i in locations]
                ref = refs[target]
                assert out["years"] == ref.attrs["years"]
                ref_region = Field(ref.values[:, locations], ref.month, ref.day)
                assert_same_normal(ours, ref_region, f"{variable} {region} {target}")
                if not drop:
                    with netCDF4.Dataset(tmp_path / "out" / out["path"]) as ds:
                        names = ["Vancouver", "Kugluktuk", "Amos"]
                        assert list(ds.variables["location"][:]) == [names[i] for i in locations]


def test_point_series_canesm2_matches_reference(tmp_path: Path) -> None:
    _check_points(tmp_path, drop=())


def test_point_series_canesm2_without_its_string_coordinate_matches_reference(tmp_path: Path) -> None:
    """The same file with the `location` names variable left out (so the rest of the point path is tested
    while the string-coordinate bug stands): values and lat/lon along `location` as the reference says."""
    _check_points(tmp_path, drop=("location",))


# --------------------------------------------------------------------------- every set of ../shared vs CDO


@dataclass(frozen=True)
class RealSet:
    """A file set of data/real, how to run it, and which of its normals to compare with CDO."""

    id: str
    files: tuple[str, ...]
    variables: tuple[str, ...]
    scenario: str
    window: int
    targets: tuple[int, ...]  # each target's window holds complete years only; all compared with CDO
    model: str | None = None
    variant: str | None = None
    names: tuple[str, ...] = ()  # staged under these names (originals whose names climnorm does not parse)
    shift: str = ""  # cdo -shifttime for end-of-day stamps
    bug: str | None = None

    @property
    def historical_end(self) -> int:
        """Every window year from the set's own run: historical ones end late, the others begin after it."""
        return max(self.targets) if self.scenario == "historical" else min(self.targets) - self.window


def _mini(*names: str) -> tuple[str, ...]:
    return tuple(f"{M}/{n}" for n in names)


def _na10k(model: str) -> tuple[str, ...]:
    return tuple(f"{X}/{v}_day_{model}_rcp85_r1i1p1_na10kgrid_qm-moving-50bins-detrend_2095.nc" for v in _NA10K_VARS)


_NA10K_VARS = ("pr", "tasmax", "tasmin")
_LR = "tasmax_day_MPI-ESM1-2-LR_dcppA-hindcast_s1980-{}_gn_19801101-19901231.nc"
SETS = (
    RealSet("EC-EARTH-tas-1850-2009", EC_EARTH_ALL, ("tas",), "historical", 30, (1879, 1950, 2008)),
    RealSet("HadGEM2-ES-mrsos-2005-2099", MRSOS_ALL, ("mrsos",), "rcp45", 30, (2035, 2070, 2099)),
    RealSet(
        "CMCC-CM2-SR5-tas-dcpp-365day",
        _mini("tas_day_CMCC-CM2-SR5_dcppA-hindcast_s1960-r1i1p1f1_gn_19601101-19701231.nc"),
        ("tas",),
        "dcppA-hindcast",
        5,
        (1965, 1970),
    ),
    RealSet(
        "MPI-ESM1-2-HR-pr-dcpp",
        _mini("pr_day_MPI-ESM1-2-HR_dcppA-hindcast_s1960-r2i1p1f1_gn_19601101-19701231.nc"),
        ("pr",),
        "dcppA-hindcast",
        5,
        (1965, 1970),
    ),
    *(
        RealSet(
            f"MPI-ESM1-2-LR-tasmax-dcpp-{member}-of-3",
            _mini(*(_LR.format(m) for m in ("r1i1p1f1", "r2i1p1f1", "r3i1p1f1"))),
            ("tasmax",),
            "dcppA-hindcast",
            5,
            (1985, 1990),
            variant=f"s1980-{member}",
        )
        for member in ("r1i1p1f1", "r3i1p1f1")
    ),
    RealSet(
        "EC-Earth3-pr-dcpp",
        _mini(
            "pr_day_EC-Earth3_dcppA-hindcast_s1961-r6i2p1f1_gr_19611101-19611231.nc",
            "pr_day_EC-Earth3_dcppA-hindcast_s1961-r6i2p1f1_gr_19620101-19621231.nc",
        ),
        ("pr",),
        "dcppA-hindcast",
        1,
        (1962,),
    ),
    RealSet(
        "HadGEM3-GC31-MM-tasmin-dcpp-360day",
        _mini(
            "tasmin_day_HadGEM3-GC31-MM_dcppA-hindcast_s1960-r2i1p1f2_gn_19601101-19601230.nc",
            "tasmin_day_HadGEM3-GC31-MM_dcppA-hindcast_s1960-r2i1p1f2_gn_19610101-19611230.nc",
        ),
        ("tasmin",),
        "dcppA-hindcast",
        1,
        (1961,),
    ),
    RealSet("CanESM2-na10kgrid-2095", _na10k("CanESM2"), _NA10K_VARS, "rcp85", 1, (2095,)),
    RealSet("HadGEM2-CC-na10kgrid-2095-360day", _na10k("HadGEM2-CC"), _NA10K_VARS, "rcp85", 1, (2095,)),
    RealSet(
        "CanESM5-prsn-10yr",
        (f"{X}/prsn_day_CanESM5_historical_r1i1p1f1_gn_19910101-20101231.nc",),
        ("prsn",),
        "historical",
        10,
        (2000, 2010),
    ),
    RealSet(
        "CORDEX-EUR-11-psl",
        _mini(
            *(
                f"psl_EUR-11_MOHC-HadGEM2-ES_rcp85_r1i1p1_IPSL-WRF381P_v1_day_{y}0101-{y + 9}1231.nc"
                for y in (2011, 2021, 2031)
            )
        ),
        ("psl",),
        "rcp85",
        10,
        (2020, 2040),
    ),
    RealSet(
        "CORDEX-AFR-22-tas",
        _mini(
            "tas_AFR-22_MPI-M-MPI-ESM-LR_historical_r1i1p1_GERICS-REMO2015_v1_day_19960101-20001231.nc",
            "tas_AFR-22_MPI-M-MPI-ESM-LR_historical_r1i1p1_GERICS-REMO2015_v1_day_20010101-20051231.nc",
        ),
        ("tas",),
        "historical",
        5,
        (2000, 2005),
    ),
    RealSet(
        "CMIP3-GISS-model-E-R-tas-renamed",
        (f"{X}/tas.sresb1.giss_model_e_r.run1.atm.da.nc",),
        ("tas",),
        "sresb1",
        10,
        (2055, 2065),
        names=("tas_day_GISS-E-R_sresb1_r1i1p1_20460101-20651231.nc",),
    ),
)


def _params(sets: Iterable[Any]) -> list[Any]:
    return [
        pytest.param(s, id=s.id, marks=[pytest.mark.xfail(strict=True, reason=s.bug)] if s.bug else []) for s in sets
    ]


@needs_cdo
@pytest.mark.parametrize("real", _params(SETS))
def test_real_set_matches_cdo(real: RealSet, tmp_path: Path) -> None:
    """climnorm over one file set, region `all`, a few targets whose windows are complete years; each normal
    compared with CDO over the files the manifest says were used."""
    files = need(real.files)
    folder, _ = stage(tmp_path, files, real.names)
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        model=real.model,
        variant=real.variant,
        variables=list(real.variables),
        scenarios=[real.scenario],
        window_years=real.window,
        min_years_for_normal=real.window,
        historical_end=real.historical_end,
        periods={f"t{y}": [y, y] for y in real.targets},
    )
    assert summary.failures == [] and summary.skipped == []
    assert summary.written == len(real.targets) * len(real.variables)
    for variable in real.variables:
        outs = by_target(outputs, variable)
        assert sorted(outs) == sorted(real.targets)
        for target, out in outs.items():
            assert out["years"] == list(range(target - real.window + 1, target + 1))
            used = [folder / Path(p["path"]).name for p in out["inputs"]]
            if real.variant:
                assert all(real.variant in p.name for p in used)
            assert_matches_cdo(tmp_path, tmp_path / "out" / out["path"], used, variable, out["years"], real.shift)


# ------------------------------------------------------------ station series of ../shared vs the reference


@dataclass(frozen=True)
class PointSet:
    """A point-series file (a `location` dimension) whose name does not parse: staged once per variable."""

    id: str
    file: str
    variables: tuple[str, ...]
    model: str
    years: tuple[int, int]
    window: int
    min_years: int
    targets: tuple[int, ...]

    def names(self) -> tuple[str, ...]:
        first, last = self.years
        return tuple(f"{v}_day_{self.model}_obs_r1i1p1_{first}0101-{last}1231.nc" for v in self.variables)


POINT_SETS = (
    # (location, time) order, degC and mm day-1, NaN fill, gaps in the station record
    PointSet("AHCCD-stations", f"{X}/ahccd_1950-2013.nc", ("tasmax", "pr"), "AHCCD", (1950, 2013), 10, 8, (1959, 2013)),
    # (time, location) order, K and mm s-1 (the layout of NRCan's gridded-at-stations file, which may not be
    # redistributed): the AHCCD stations written that way by `time_first`
    PointSet(
        "AHCCD-time-first", f"{X}/ahccd_1950-2013.nc", ("tasmax", "pr"), "NRCANLIKE", (1950, 2013), 10, 8, (1959, 2013)
    ),
    # proleptic_gregorian with a leap year, 24 variables (units '' and '1' among them)
    PointSet(
        "ERA5-cancities",
        f"{X}/daily_surface_cancities_1990-1993.nc",
        ("tas", "pr", "psl", "hurs"),
        "ERA5",
        (1990, 1993),
        2,
        2,
        (1991, 1993),
    ),
)


def time_first(src: Path, dst: Path) -> Path:
    """A station file stored (time, location), in K and mm s-1, from one stored (location, time) in degC and
    mm day-1: the same values, the other layout and units (converted here in float64, stored as float32)."""
    scale = {"tasmax": (1.0, 273.15, "K"), "pr": (1.0 / 86400.0, 0.0, "mm s-1")}
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w", format="NETCDF4") as b:
        b.createDimension("time", len(a.dimensions["time"]))
        b.createDimension("location", len(a.dimensions["location"]))
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        for name, var in a.variables.items():
            dims = ("time", "location") if name in scale else var.dimensions
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
            out = b.createVariable(name, var.dtype, dims, fill_value=fill)
            out.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            if name in scale:
                factor, offset, units = scale[name]
                values = np.asarray(var[:].filled(np.nan), dtype=np.float64).T * factor + offset
                out[:] = values.astype(np.float32)
                out.units = units
            else:
                out[:] = var[:]
    return dst


@pytest.mark.parametrize(
    "drop",
    [(), ("location",)],
    ids=["as-is", "without-location-names"],
)
@pytest.mark.parametrize("real", [pytest.param(s, id=s.id) for s in POINT_SETS])
def test_station_series_match_reference(real: PointSet, drop: tuple[str, ...], tmp_path: Path) -> None:
    """Station and point files staged under CMIP-style names, one per variable, compared with the float64
    reference (CDO has no notion of a `location` dimension)."""
    (src,) = need([real.file])
    if real.id == "AHCCD-time-first":
        src = time_first(src, tmp_path / "time-first.nc")
    names = real.names()
    folder, staged = stage(tmp_path, [src] * len(names), names, drop)
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        variables=list(real.variables),
        scenarios=["obs"],
        window_years=real.window,
        min_years_for_normal=real.min_years,
        historical_end=min(real.targets) - real.window,
        periods={f"t{y}": [y, y] for y in real.targets},
    )
    assert summary.failures == [], summary.failures[:3]
    assert summary.written == len(real.targets) * len(real.variables)
    with netCDF4.Dataset(src) as ds:
        lat, lon = np.asarray(ds.variables["lat"][:]), np.asarray(ds.variables["lon"][:])
        units = {v: ds.variables[v].units for v in real.variables}
    for variable, path in zip(real.variables, staged, strict=True):
        refs = reference_normals([path], variable, real.window, real.min_years, real.targets)
        for target, out in by_target(outputs, variable).items():
            ours = read_normal(tmp_path / "out" / out["path"], variable)
            assert ours.dims == ("time", "location")
            np.testing.assert_array_equal(ours.coords["lat"], lat)
            np.testing.assert_array_equal(ours.coords["lon"], lon)
            assert out["years"] == refs[target].attrs["years"]
            assert_same_normal(ours, refs[target], f"{real.id} {variable} {target}")
            with netCDF4.Dataset(tmp_path / "out" / out["path"]) as ds:
                assert ds.variables[variable].units == units[variable]


# ---------------------------------------------------------------------------- the whole folder, every file


def _longest_run(years: Iterable[int]) -> int:
    best = run_length = 0
    previous = None
    for y in sorted(years):
        run_length = run_length + 1 if previous is not None and y == previous + 1 else 1
        best, previous = max(best, run_length), y
    return best


@pytest.mark.slow
def test_every_real_file_is_used_or_refused(tmp_path: Path) -> None:
    """climnorm over the whole of tests/data/real, once per (model, variant, experiment) it finds: region
    `all`, every variable, windows of at most 5 years (1 for one-year sets), targets whose windows together
    cover every year a file touches. No run raises; every file ends up in exactly one of: used by a written
    normal, refused by name (with the reason), failed (a one-line message naming it), or holding only partial
    years (which the catalog describes and the run skips, naming the missing years)."""
    catalog = build_catalog([LOCAL])
    files = sorted(LOCAL.rglob("*.nc"))
    assert len(files) == 56, "MANIFEST.md lists 57 files, one of which may not be redistributed (README.md)"
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for key, chain in catalog.chains.items():
        groups[(key.model, key.variant, key.scenario)].append(chain)

    used: set[Path] = set()
    messages: list[str] = []
    failures: list[str] = []
    for n, ((model, variant, scenario), chains) in enumerate(sorted(groups.items())):
        window = max(1, min(5, *(_longest_run(c.complete_years) for c in chains)))
        first = min(c.first_year for c in chains)
        last = max(c.last_year for c in chains)
        targets = sorted({*range(first + window - 1, last + 1, window), last})
        summary, outputs = climnorm_run(
            LOCAL,
            tmp_path / f"out{n}",
            model=model,
            variant=variant,
            variables=sorted({c.key.variable for c in chains}),
            scenarios=[scenario],
            window_years=window,
            min_years_for_normal=window,
            historical_end=last if scenario == "historical" else first - 1,
            periods={f"t{y}": [y, y] for y in targets},
        )
        assert summary.written > 0 or all(not c.complete_years for c in chains), f"{model} {variant}: nothing"
        used.update(Path(i["path"]) for o in outputs for i in o["inputs"])
        messages += summary.skipped + summary.problems + summary.failures
        failures += summary.failures

    for line in messages:
        assert "\n" not in line, f"a message spans several lines: {line!r}"
    entries = {e.path: (chain, e) for chain in catalog.chains.values() for e in chain.files}
    verdicts: dict[str, list[str]] = defaultdict(list)
    for path in files:
        if path in catalog.unparsed_reasons:
            assert catalog.unparsed_reasons[path], f"{path.name}: refused by name without a reason"
            verdicts["refused by name"].append(path.name)
        elif path in used:
            verdicts["used"].append(path.name)
        elif any(str(path) in m for m in failures):
            verdicts["failed"].append(path.name)
        else:
            chain, entry = entries[path]
            partial = [y for y in entry.years if y in chain.partial_years]
            assert partial == list(entry.years), f"{path.name}: neither used, refused nor failed"
            for year in partial:
                assert any(f"missing {year}" in m or f", {year}" in m for m in _skips_of(messages, entry)), (
                    f"{path.name}: no skip names its partial year {year}"
                )
            verdicts["partial years only"].append(path.name)
    assert sum(len(v) for v in verdicts.values()) == len(files)
    assert len(verdicts["used"]) >= 45, dict(verdicts)


def _skips_of(messages: list[str], entry: Any) -> list[str]:
    """The skip messages of an entry's variable and experiment."""
    return [m for m in messages if m.startswith(f"{entry.variable} all {entry.scenario} ")]


# ------------------------------------------------------------------------------- known bugs, as issues


@pytest.mark.parametrize("layout", ["curvilinear", "points", "regular-all"])
def test_lon_convention_applies_to_every_grid_layout(layout: str, tmp_path: Path) -> None:
    """`lon_convention: 0_360` on inputs whose longitudes are -180..180: the output's lon is in 0..360."""
    if layout == "curvilinear":
        folder, _ = stage(tmp_path, need(NAM22))
        settings: dict[str, Any] = {"variables": ["pr"], "scenarios": ["rcp45"], "periods": {"p": [2055, 2055]}}
    elif layout == "points":
        (src,) = need([CANESM2_POINTS])
        folder, _ = stage(tmp_path, [src], CANESM2_NAMES[:1], drop=("location",))
        settings = {"variables": ["pr"], "scenarios": ["rcp85"], "periods": {"p": [1954, 1954]}}
    else:  # a regional regular grid in -180..180 (a box on it does come out in 0..360)
        folder, _ = stage(tmp_path, need(_na10k("CanESM2")[:1]))
        settings = {"variables": ["pr"], "scenarios": ["rcp85"], "periods": {"p": [2095, 2095]}, "window_years": 1}
    settings = {"window_years": 5, **settings}
    summary, outputs = climnorm_run(
        folder,
        tmp_path / "out",
        min_years_for_normal=1,
        historical_end=1900,
        lon_convention="0_360",
        **settings,
    )
    assert summary.written == 1 and summary.failures == []
    ours = read_normal(tmp_path / "out" / outputs[0]["path"], "pr")
    assert (ours.coords["lon"] >= 0).all() and (ours.coords["lon"] < 360).all(), ours.coords["lon"]


def test_a_year_found_incomplete_when_read_skips_its_targets_without_failing_the_run(tmp_path: Path) -> None:
    """CESM2-WACCM's name claims 2000-01-01 .. 2009-12-31, its bounds end 2009-12-30: target 2009 (window
    2005-2009, minimum 5 years) cannot be computed. That is a property of the data, not a failure of the run."""
    folder, _ = stage(tmp_path, need([CESM2]))
    summary, _ = climnorm_run(
        folder,
        tmp_path / "out",
        variables=["tas"],
        scenarios=["historical"],
        window_years=5,
        min_years_for_normal=5,
        historical_end=2014,
        periods={"historical": [2008, 2009]},
    )
    assert summary.written == 1
    assert any("2009" in s for s in summary.skipped), summary.skipped
    assert summary.failures == [] and summary.exit_code == 0, summary.failures


def test_rolling_window_keeps_float32_precision_when_a_wet_year_leaves() -> None:
    """The MPI-ESM1-2-HR pr case in miniature (no ../shared needed): Jan 1 at 4.2N, 0E is 1.0e-6 kg m-2 s-1 in
    1965 and ~1.4e-18 in 1966-1970; the 1966-1970 normal (target 1970, 1965 has just left the window) must be
    the plain mean of the five small values to float32 rounding."""
    from climnorm.numerics.sums import WindowSums

    wet = np.float32(1.0087242e-06)
    small = np.array([1.3833157e-18, 1.3622632e-18, 1.3591983e-18, 1.4139621e-18, 1.4071209e-18], np.float32)
    window = WindowSums((1,))
    window.add(1965, np.array([wet]))
    for year, value in zip(range(1966, 1971), small, strict=True):
        window.drop_before(year - 4)
        window.add(year, np.array([value]))
    expected = small.astype(np.float64).mean()
    np.testing.assert_allclose(window.mean(np.array([5]))[0], expected, rtol=RTOL)
