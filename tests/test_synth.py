"""Tests of climnorm.synth: files shaped like NEX-GDDP-CMIP6 whose values match the closed form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np
import pytest
import xarray as xr

from climnorm import synth
from climnorm.synth import SynthSpec
from climnorm.synth.spec import Climate

COARSE = 10.0  # degrees: 15 x 36 cells, fast to write


def _spec(**kwargs: object) -> SynthSpec:
    """A coarse spec with one historical year unless told otherwise."""
    base: dict[str, object] = {"resolution": COARSE, "historical_years": (2000, 2000)}
    base.update(kwargs)
    return SynthSpec(**base)  # type: ignore[arg-type]


def _open(path: Path) -> xr.Dataset:
    """Open a file with cftime dates, as the engine would."""
    return xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))


def _day_dates(path: Path) -> list[cftime.datetime]:
    """The date of each step: from time_bnds starts when present, else the noon stamp."""
    with netCDF4.Dataset(path) as ds:
        time = ds["time"]
        if "time_bnds" in ds.variables:
            return list(cftime.num2date(ds["time_bnds"][:, 0], time.units, time.calendar))
        return list(cftime.num2date(time[:], time.units, time.calendar))


def _assert_values_match(path: Path, spec: SynthSpec, variable: str, version: str = "v1.0") -> None:
    """Every (non-hole) value of the file equals expected_value for its date, to float32 rounding."""
    dates = _day_dates(path)
    with _open(path) as ds:
        data = ds[variable].values
        lat = ds["lat"].values[:, None]
        lon = ds["lon"].values[None, :]
    assert data.shape[0] == len(dates)
    scale = 1e-4 if variable == "pr" else 300.0
    for i, date in enumerate(dates):
        expected = synth.expected_value(
            variable, spec.calendar, date.year, date.month, date.day, lat, lon, version=version
        )
        holes = synth.hole_codes(spec, variable, date.year, i, lat, lon) != synth.HOLE_VALID
        np.testing.assert_array_equal(np.isnan(data[i]), holes, err_msg=f"holes of {date}")
        np.testing.assert_allclose(
            data[i][~holes], expected[~holes], rtol=1e-6, atol=1e-9 * scale, err_msg=f"values of {date}"
        )


# ------------------------------------------------------------------------------------------------- grid


def test_global_grid_matches_the_real_archive() -> None:
    lat, lon = synth.grid(SynthSpec())
    assert lat.shape == (600,) and lon.shape == (1440,)
    assert lat[0] == -59.875 and lat[-1] == 89.875
    assert lon[0] == 0.125 and lon[-1] == 359.875
    assert lat.dtype == np.float64 and np.all(np.diff(lat) == 0.25) and np.all(np.diff(lon) == 0.25)
    lat5, lon5 = synth.grid(SynthSpec(resolution=5))
    assert lat5.size == 30 and lon5.size == 72
    assert lat5[0] == -57.5 and lon5[-1] == 357.5


@pytest.mark.parametrize(
    ("box", "shape"),
    [
        ((24.0, 50.0, 234.0, 294.0), (104, 240)),  # CONUS, design.md section 1
        ((50.0, 72.0, 170.0, 235.0), (88, 260)),  # AK
        ((18.92, 28.45, 181.63, 205.20), (38, 94)),  # HI
        ((17.62, 18.57, 292.03, 295.49), (4, 14)),  # PRVI
        ((13.18, 20.61, 144.58, 146.12), (29, 6)),  # GU
    ],
)
def test_box_cuts_the_regions_of_the_design(box: tuple[float, float, float, float], shape: tuple[int, int]) -> None:
    lat, lon = synth.grid(SynthSpec(box=box))
    assert (lat.size, lon.size) == shape
    assert lat.min() >= box[0] and lat.max() <= box[1] and lon.min() >= box[2] and lon.max() <= box[3]


def test_box_wrapping_across_zero_and_lon_conventions() -> None:
    box = (-10.0, 10.0, 350.0, 10.0)
    lat, lon = synth.grid(SynthSpec(resolution=5, box=box))
    np.testing.assert_array_equal(lat, [-7.5, -2.5, 2.5, 7.5])
    np.testing.assert_array_equal(lon, [2.5, 7.5, 352.5, 357.5])
    _, lon180 = synth.grid(SynthSpec(resolution=5, box=box, lon_convention="-180_180"))
    np.testing.assert_array_equal(lon180, [-7.5, -2.5, 2.5, 7.5])
    # a negative longitude in the box means the same as its 0..360 twin
    _, lon_neg = synth.grid(SynthSpec(resolution=5, box=(-10.0, 10.0, -10.0, 10.0)))
    np.testing.assert_array_equal(lon_neg, lon)


def test_lon_convention_and_descending_latitude() -> None:
    lat, lon = synth.grid(SynthSpec(resolution=5, lon_convention="-180_180", lat_descending=True))
    assert lon[0] == -177.5 and lon[-1] == 177.5 and np.all(np.diff(lon) > 0)
    assert lat[0] == 87.5 and lat[-1] == -57.5 and np.all(np.diff(lat) < 0)


# ------------------------------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("calendar", "year", "n"),
    [
        ("noleap", 2000, 365),
        ("365_day", 2000, 365),
        ("360_day", 2000, 360),
        ("standard", 2000, 366),
        ("standard", 2001, 365),
        ("gregorian", 1900, 365),
        ("proleptic_gregorian", 2004, 366),
        ("julian", 1900, 366),
        ("julian", 1901, 365),
        ("all_leap", 2001, 366),
        ("366_day", 2001, 366),
    ],
)
def test_days_in_year(calendar: str, year: int, n: int) -> None:
    assert synth.days_in_year(calendar, year) == n


def test_day_fraction_is_middle_of_the_date() -> None:
    assert synth.day_fraction("noleap", 2000, 1, 1) == 0.5 / 365
    assert synth.day_fraction("standard", 2000, 3, 1) == (61 - 0.5) / 366
    assert synth.day_fraction("360_day", 2000, 12, 30) == 359.5 / 360


@pytest.mark.parametrize(
    ("calendar", "year", "n"),
    [
        ("noleap", 2000, 365),
        ("360_day", 2001, 360),
        ("standard", 2000, 366),
        ("standard", 2001, 365),
        ("julian", 1900, 366),
    ],
)
def test_file_steps_per_calendar(tmp_path: Path, calendar: str, year: int, n: int) -> None:
    spec = _spec(calendar=calendar, historical_years=(year, year), resolution=30.0)
    path = synth.write_year(tmp_path / "f.nc", spec, "tas", "historical", year)
    with netCDF4.Dataset(path) as ds:
        assert len(ds.dimensions["time"]) == n
        assert ds.dimensions["time"].isunlimited()
        assert ds["time"].calendar == calendar
    with _open(path) as ds:
        dates = ds["time"].values
        assert (dates[0].year, dates[0].month, dates[0].day, dates[0].hour) == (year, 1, 1, 12)
        assert (dates[-1].year, dates[-1].month, dates[-1].day) == (year, 12, 30 if calendar == "360_day" else 31)
        assert ds["time"].dt.calendar == calendar


def test_time_bnds_absent_by_default_and_present_on_request(tmp_path: Path) -> None:
    plain = synth.write_year(tmp_path / "a.nc", _spec(), "tas", "historical", 2000)
    with netCDF4.Dataset(plain) as ds:
        assert "time_bnds" not in ds.variables and "bnds" not in ds.dimensions
        assert "bounds" not in ds["time"].ncattrs()
        np.testing.assert_array_equal(ds["time"][:2], [18250.5, 18251.5])  # noleap days since 1950-01-01, noon
    bounded = synth.write_year(tmp_path / "b.nc", _spec(time_bnds=True), "tas", "historical", 2000)
    with netCDF4.Dataset(bounded) as ds:
        assert ds["time"].bounds == "time_bnds"
        bnds = ds["time_bnds"][:]
        assert bnds.shape == (365, 2)
        np.testing.assert_array_equal(bnds[:, 1] - bnds[:, 0], 1.0)
        np.testing.assert_array_equal(ds["time"][:], bnds.mean(axis=1))


def test_end_of_day_stamps_with_bounds(tmp_path: Path) -> None:
    spec = _spec(calendar="standard", time_bnds=True, time_at_end_of_day=True)
    path = synth.write_year(tmp_path / "e.nc", spec, "tas", "historical", 2000)
    with _open(path) as ds:
        first, last = ds["time"].values[0], ds["time"].values[-1]
        assert (first.year, first.month, first.day, first.hour) == (2000, 1, 2, 0)
        assert (last.year, last.month, last.day, last.hour) == (2001, 1, 1, 0)
        np.testing.assert_array_equal(ds["time"].values, ds["time_bnds"].values[:, 1])
    _assert_values_match(path, spec, "tas")


def test_other_time_units(tmp_path: Path) -> None:
    spec = _spec(time_units="hours since 1850-01-01 00:00:00", calendar="360_day")
    path = synth.write_year(tmp_path / "h.nc", spec, "tas", "historical", 2000)
    with _open(path) as ds:
        d = ds["time"].values[40]
        assert (d.year, d.month, d.day, d.hour) == (2000, 2, 11, 12)
    _assert_values_match(path, spec, "tas")


# ------------------------------------------------------------------------------------------ file content


def test_file_metadata_like_nex_gddp(tmp_path: Path) -> None:
    spec = _spec(variables=("pr",), scenarios=("ssp245",), scenario_years=(2050, 2050), time_bnds=True)
    path = synth.write_year(tmp_path / "pr.nc", spec, "pr", "ssp245", 2050)
    with netCDF4.Dataset(path) as ds:
        assert ds.data_model == "NETCDF4"
        assert {k: len(v) for k, v in ds.dimensions.items()} == {"time": 365, "lat": 15, "lon": 36, "bnds": 2}
        assert ds.Conventions == "CF-1.7" and ds.frequency == "day" and ds.synthetic == "climnorm"
        assert ds.version == "v1.0" and ds.source_id == "SYNTH-ESM" and ds.scenario == "ssp245"
        assert ds.experiment_id == "ssp245" and ds.variant_label == "r1i1p1f1" and ds.title
        for name, units, axis in (("lat", "degrees_north", "Y"), ("lon", "degrees_east", "X")):
            v = ds[name]
            assert v.dtype == np.float64 and v.units == units and v.axis == axis and v.standard_name
        t = ds["time"]
        assert t.dtype == np.float64 and t.units == "days since 1950-01-01" and t.calendar == "noleap"
        assert t.axis == "T" and t.standard_name == "time"
        v = ds["pr"]
        assert v.dtype == np.float32 and v.dimensions == ("time", "lat", "lon")
        assert v.units == "kg m-2 s-1" and v.standard_name == "precipitation_flux" and v.long_name
        assert v.cell_methods
        assert v.getncattr("_FillValue") == np.float32(1e20) and v.missing_value == np.float32(1e20)
        assert v.getncattr("_FillValue").dtype == np.float32 and v.missing_value.dtype == np.float32
        assert v.chunking() == [1, 15, 36]
        filters = v.filters()
        assert filters["zlib"] and filters["shuffle"] and filters["complevel"] == 1
    with _open(path) as ds:
        assert ds["pr"].attrs["units"] == "kg m-2 s-1"


@pytest.mark.parametrize(("shuffle", "complevel"), [(False, 4), (True, 0)])
def test_compression_settings(tmp_path: Path, shuffle: bool, complevel: int) -> None:
    path = synth.write_year(tmp_path / "c.nc", _spec(shuffle=shuffle, complevel=complevel), "tas", "historical", 2000)
    with netCDF4.Dataset(path) as ds:
        filters = ds["tas"].filters()
        assert filters["zlib"] is (complevel > 0)
        if complevel:  # netCDF-C drops shuffle when nothing is compressed
            assert filters["complevel"] == complevel and filters["shuffle"] is shuffle


@pytest.mark.parametrize(
    ("calendar", "variable", "year"),
    [
        ("noleap", "tas", 2000),
        ("360_day", "pr", 2001),
        ("standard", "tasmax", 2000),
        ("proleptic_gregorian", "tasmin", 2001),
        ("julian", "tas", 2000),
        ("all_leap", "pr", 2003),
    ],
)
def test_values_equal_the_closed_form(tmp_path: Path, calendar: str, variable: str, year: int) -> None:
    spec = _spec(calendar=calendar, variables=(variable,), historical_years=(year, year))
    path = synth.write_year(tmp_path / "v.nc", spec, variable, "historical", year)
    _assert_values_match(path, spec, variable)


def test_values_with_lon_convention_descending_lat_and_box(tmp_path: Path) -> None:
    spec = _spec(resolution=5.0, lon_convention="-180_180", lat_descending=True, box=(40.0, 75.0, 170.0, 235.0))
    path = synth.write_year(tmp_path / "ak.nc", spec, "tas", "historical", 2000)
    with _open(path) as ds:
        lat, lon = ds["lat"].values, ds["lon"].values
    np.testing.assert_array_equal(lat, [72.5, 67.5, 62.5, 57.5, 52.5, 47.5, 42.5])
    np.testing.assert_array_equal(lon, [-177.5, -172.5, -167.5, -162.5, -157.5, -152.5, -147.5, -142.5, -137.5,
                                        -132.5, -127.5, 172.5, 177.5])  # fmt: skip
    _assert_values_match(path, spec, "tas")
    # the same cells of a global 0..360 file hold the same numbers
    glob = synth.write_year(tmp_path / "g.nc", _spec(resolution=5.0), "tas", "historical", 2000)
    with _open(glob) as g, _open(path) as c:
        cut = g["tas"].sel(lat=c["lat"], lon=np.mod(c["lon"].values, 360.0)).values
        np.testing.assert_allclose(cut, c["tas"].values, rtol=1e-6)


def test_physical_ordering_and_ranges(tmp_path: Path) -> None:
    spec = _spec(variables=synth.VARIABLES)
    data = {}
    for variable in synth.VARIABLES:
        path = synth.write_year(tmp_path / f"{variable}.nc", spec, variable, "historical", 2000)
        with _open(path) as ds:
            data[variable] = ds[variable].values
    assert np.all(data["tasmin"] <= data["tas"]) and np.all(data["tas"] <= data["tasmax"])
    assert np.all(data["pr"] >= 0.0) and data["pr"].max() < 3e-4 and np.any(data["pr"] > 1e-4)
    for variable in ("tas", "tasmax", "tasmin"):
        assert data[variable].min() > 210.0 and data[variable].max() < 330.0
    # over the whole grid and the whole century as well
    lat, lon = synth.grid(SynthSpec(resolution=2.0))
    years = np.array([1950.0, 2014.0, 2100.0])[:, None, None, None]
    frac = np.linspace(0.0, 1.0, 73, endpoint=False)[None, :, None, None]
    cf = {v: synth.closed_form(v, years, frac, lat[:, None], lon[None, :]) for v in synth.VARIABLES}
    assert np.all(cf["tasmin"] < cf["tas"]) and np.all(cf["tas"] < cf["tasmax"])
    assert np.all(cf["pr"] >= 0) and cf["tasmin"].min() > 220.0 and cf["tasmax"].max() < 320.0


def test_closed_form_is_deterministic_and_years_and_days_differ() -> None:
    lat, lon = synth.grid(SynthSpec(resolution=COARSE))
    a = synth.expected_value("tas", "noleap", 2000, 5, 17, lat[:, None], lon)
    b = synth.expected_value("tas", "noleap", 2000, 5, 17, lat[:, None], lon)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (lat.size, lon.size) and a.dtype == np.float64
    other_year = synth.expected_value("tas", "noleap", 2001, 5, 17, lat[:, None], lon)
    next_day = synth.expected_value("tas", "noleap", 2000, 5, 18, lat[:, None], lon)
    # not just the trend (0.03 K/yr) or the seasonal drift: the pseudo-noise moves by about a kelvin
    assert np.abs(other_year - a - 0.03).max() > 0.5
    assert np.abs(next_day - a).max() > 0.5
    # scalar in, 0-d out; lists broadcast
    assert synth.closed_form("pr", 2000, 0.5, 10.0, 20.0).shape == ()
    assert synth.closed_form("tas", [2000, 2001], 0.5, 10.0, 20.0).shape == (2,)


# ------------------------------------------------------------------------------------------------ holes


def test_holes_are_fill_or_nan_and_masked_on_read(tmp_path: Path) -> None:
    spec = _spec(holes=0.2, calendar="360_day")
    path = synth.write_year(tmp_path / "holes.nc", spec, "tas", "historical", 2000)
    lat, lon = synth.grid(spec)
    codes = synth.hole_codes(spec, "tas", 2000, np.arange(360)[:, None, None], lat[:, None], lon)
    assert 0.17 < np.mean(codes != synth.HOLE_VALID) < 0.23
    assert 0.03 < np.mean(codes == synth.HOLE_NAN) < 0.07
    with netCDF4.Dataset(path) as ds:
        masked = ds["tas"][:]  # netCDF4 masks the fill value; NaN stays NaN
        np.testing.assert_array_equal(np.ma.getmaskarray(masked), codes == synth.HOLE_FILL)
        np.testing.assert_array_equal(np.isnan(masked.data), codes == synth.HOLE_NAN)
        ds["tas"].set_auto_mask(False)
        raw = ds["tas"][:]
        assert np.all(raw[codes == synth.HOLE_FILL] == np.float32(1e20))
    _assert_values_match(path, spec, "tas")  # xarray: every hole is NaN, the rest is exact
    # holes depend on the cell, not on how the grid is cut or ordered
    cut = _spec(holes=0.2, calendar="360_day", box=(0.0, 40.0, 300.0, 60.0), lon_convention="-180_180")
    clat, clon = synth.grid(cut)
    c_codes = synth.hole_codes(cut, "tas", 2000, 7, clat[:, None], clon)
    full = codes[7][np.isin(lat, clat)][:, np.isin(lon, np.mod(clon, 360.0))]
    order = np.argsort(np.mod(clon, 360.0))
    np.testing.assert_array_equal(c_codes[:, order], full)


def test_no_holes_by_default() -> None:
    spec = _spec()
    lat, lon = synth.grid(spec)
    assert (
        synth.hole_codes(spec, "pr", 2000, np.arange(5)[:, None, None], lat[:, None], lon) == synth.HOLE_VALID
    ).all()


# --------------------------------------------------------------------------------------- archive / layout


def test_archive_var_layout_and_progress(tmp_path: Path) -> None:
    spec = _spec(
        variables=("tas", "pr"),
        scenarios=("historical", "ssp585"),
        historical_years=(2013, 2014),
        scenario_years=(2015, 2015),
        resolution=30.0,
    )
    seen: list[tuple[Path, int, int]] = []
    paths = synth.write_archive(tmp_path, spec, progress=lambda p, done, total: seen.append((p, done, total)))
    rel = sorted(str(p.relative_to(tmp_path)) for p in paths)
    expected = sorted(
        f"{v}/{s}/{v}_day_SYNTH-ESM_{s}_r1i1p1f1_gn_{y}.nc"
        for v in ("tas", "pr")
        for s, years in (("historical", (2013, 2014)), ("ssp585", (2015,)))
        for y in years
    )
    assert rel == expected
    assert all(p.is_file() for p in paths)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == expected
    assert [(done, total) for _, done, total in seen] == [(i, 6) for i in range(1, 7)]
    assert [p for p, _, _ in seen] == paths


def test_archive_s3_layout_with_version_years(tmp_path: Path) -> None:
    spec = _spec(
        model="ACCESS-CM2",
        variant="r2i1p1f1",
        grid_label="gr",
        variables=("tas", "pr"),
        historical_years=(2000, 2001),
        version_years=(2001,),
        layout="s3",
        resolution=30.0,
    )
    paths = synth.write_archive(tmp_path, spec)
    rel = {str(p.relative_to(tmp_path)) for p in paths}
    folder = "ACCESS-CM2/historical/r2i1p1f1"
    assert rel == {
        f"{folder}/{v}/{v}_day_ACCESS-CM2_historical_r2i1p1f1_gr_{y}{suffix}.nc"
        for v in ("tas", "pr")
        for y, suffix in ((2000, ""), (2001, ""), (2001, "_v1.1"))
    }
    for variable in ("tas", "pr"):
        base = tmp_path / folder / variable / f"{variable}_day_ACCESS-CM2_historical_r2i1p1f1_gr_2001.nc"
        newer = base.with_name(base.stem + "_v1.1.nc")
        with netCDF4.Dataset(newer) as ds:
            assert ds.version == "v1.1"
        with _open(base) as old, _open(newer) as new:
            a, b = old[variable].values, new[variable].values
        if variable == "tas":
            np.testing.assert_allclose(b, a + 1.0, rtol=1e-6)  # VERSION_CHANGES["v1.1"]: +1 K
        else:
            np.testing.assert_allclose(b, a * 1.5, rtol=1e-6, atol=1e-12)  # pr x 1.5
            assert np.any(b != a)
        _assert_values_match(newer, spec, variable, version="v1.1")
    assert synth.VERSION_CHANGES["v1.1"] == (1.0, 1.5)


def test_archive_plan_and_paths() -> None:
    spec = _spec(scenarios=("historical", "ssp245"), historical_years=(2013, 2014), scenario_years=(2015, 2016),
                 version_years=(2014, 2016))  # fmt: skip
    plan = synth.archive_plan(spec)
    assert len(plan) == 6
    assert [(f.scenario, f.year, f.version) for f in plan if f.version != "v1.0"] == [
        ("historical", 2014, "v1.1"),
        ("ssp245", 2016, "v1.1"),
    ]
    assert synth.scenario_years(spec, "historical") == range(2013, 2015)
    assert synth.scenario_years(spec, "ssp245") == range(2015, 2017)
    assert synth.file_path("/r", spec, "tas", "ssp245", 2016, "v1.1") == Path(
        "/r/tas/ssp245/tas_day_SYNTH-ESM_ssp245_r1i1p1f1_gn_2016_v1.1.nc"
    )


def test_archive_with_worker_processes(tmp_path: Path) -> None:
    spec = _spec(variables=("tasmin",), historical_years=(2000, 2001), resolution=30.0)
    paths = synth.write_archive(tmp_path, spec, workers=2)
    assert [p.name for p in paths] == [
        "tasmin_day_SYNTH-ESM_historical_r1i1p1f1_gn_2000.nc",
        "tasmin_day_SYNTH-ESM_historical_r1i1p1f1_gn_2001.nc",
    ]
    _assert_values_match(paths[1], spec, "tasmin")


def test_spec_accepts_lists() -> None:
    spec = SynthSpec(variables=["pr"], scenarios=["ssp245"], resolution=COARSE)  # type: ignore[arg-type]
    assert spec.variables == ("pr",) and spec.scenarios == ("ssp245",)
    hash(spec)


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variables": ("huss",)}, "unknown variable 'huss'"),
        ({"variables": ()}, "variables is empty"),
        ({"scenarios": ()}, "scenarios is empty"),
        ({"calendar": "lunar"}, "unknown calendar 'lunar'"),
        ({"layout": "flat"}, "unknown layout 'flat'"),
        ({"lon_convention": "east"}, "unknown lon_convention"),
        ({"historical_years": (2014, 1950)}, "empty range"),
        ({"scenario_years": (2100, 2015)}, "empty range"),
        ({"resolution": 0.7}, "does not divide"),
        ({"resolution": 0.0}, "resolution must be > 0"),
        ({"box": (0.1, 0.2, 10.1, 10.2)}, "holds no cell"),
        ({"holes": 1.0}, "holes must be"),
        ({"complevel": 10}, "complevel"),
        ({"version_years": (1900,)}, "version year 1900"),
    ],
)
def test_invalid_specs_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _spec(**kwargs)


def test_invalid_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown variable 'sfcWind'"):
        synth.closed_form("sfcWind", 2000, 0.5, 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown version"):
        synth.closed_form("tas", 2000, 0.5, 0.0, 0.0, version="v9")
    with pytest.raises(ValueError, match="unknown calendar"):
        synth.expected_value("tas", "mayan", 2000, 1, 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown variable"):
        synth.write_year(tmp_path / "x.nc", _spec(), "uas", "historical", 2000)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------ styles

# (variable, year, day fraction, lat, lon, version, climate) -> the value the closed form has always given
_DEFAULT_STYLE_VALUES = [
    (("tas", 2000, 0.5, 40.0, 260.0, "v1.0", Climate()), 284.2656094027576),
    (("tasmax", 1987, 0.03, 61.25, 210.5, "v1.0", Climate()), 250.75238191450043),
    (("tasmin", 2049, 0.75, 18.0, 294.0, "v1.1", Climate(0.8, 2, 0.7)), 283.2352132296277),
    (("pr", 2030, 0.6, 29.8, 264.6, "v1.0", Climate(-0.6, 3, 0.45)), 8.987270408660614e-05),
    (("pr", 2001, 0.2, 13.5, 144.8, "v1.1", Climate()), 0.00012048623391601993),
]


@pytest.mark.parametrize(("args", "value"), _DEFAULT_STYLE_VALUES)
def test_default_style_gives_the_values_it_always_gave(args: tuple[Any, ...], value: float) -> None:
    variable, year, frac, lat, lon, version, climate = args
    assert synth.closed_form(variable, year, frac, lat, lon, version=version, climate=climate) == value
    same = synth.closed_form(variable, year, frac, lat, lon, version, climate, "closed_form")
    assert same == value
    assert SynthSpec().style == "closed_form"
    assert synth.closed_form(variable, year, frac, lat, lon, version, climate, "us_normals") != value


#: Observed NOAA NCEI 1991-2020 normals: (lat, lon), coldest and warmest month's mean (°C, by the calendar month
#: of this tuple), annual precipitation (mm). Chicago's January is -3.8 °C (O'Hare), Anchorage's July 15.2 °C.
_OBSERVED = {
    "Houston": ((29.8, -95.4), (1, 11.7), (7, 29.5), 1265.0),
    "Chicago": ((41.9, -87.6), (1, -3.8), (7, 23.9), 970.0),
    "Minneapolis": ((44.9, -93.2), (1, -8.8), (7, 23.3), 800.0),
    "Anchorage": ((61.2, -149.9), (1, -8.1), (7, 15.2), 420.0),
    "Honolulu": ((21.3, -157.9), (2, 23.0), (8, 27.6), None),
    "San Juan": ((18.4, -66.1), (1, 25.3), (8, 28.4), 1450.0),
    "Guam": ((13.5, 144.8), (1, 26.7), (6, 27.9), 2490.0),
    "Salt Lake City": ((40.8, -112.0), (1, -1.1), (7, 27.4), 395.0),
    "Phoenix": ((33.4, -112.0), (1, 13.8), (7, 35.1), 183.0),
    "Seattle": ((47.4, -122.3), (1, 5.9), (7, 19.7), 1000.0),
    "New York": ((40.8, -74.0), (1, 0.9), (7, 25.3), 1257.0),
}
_MONTH_LENGTHS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_OF_DAY = np.array([m for m, n in enumerate(_MONTH_LENGTHS, 1) for _ in range(n)])


def _us_normals_days(place: str, climate: Climate | None = None, years: range = range(1991, 2021)) -> dict[str, Any]:
    """Every noleap day of ``years`` at one of _OBSERVED's places: variable -> (year, day) array, °C and mm/day."""
    (lat, lon), *_ = _OBSERVED[place]
    y = np.arange(years.start, years.stop, dtype=np.float64)[:, None]
    frac = (np.arange(365) + 0.5) / 365
    values = {
        v: synth.closed_form(v, y, frac, lat, lon, climate=climate or Climate(), style="us_normals")
        for v in synth.VARIABLES
    }
    return {v: x * 86400.0 if v == "pr" else x - 273.15 for v, x in values.items()}


@pytest.mark.parametrize("place", sorted(_OBSERVED))
def test_us_normals_follow_the_observed_normals(place: str) -> None:
    _, (cold_month, cold), (warm_month, warm), precip = _OBSERVED[place]
    days = _us_normals_days(place)
    tas = days["tas"]
    assert abs(tas[:, np.equal(_MONTH_OF_DAY, cold_month)].mean() - cold) < 3.0  # within a few kelvin
    assert abs(tas[:, np.equal(_MONTH_OF_DAY, warm_month)].mean() - warm) < 3.0
    assert abs(tas.mean() - (cold + warm) / 2.0) < 2.5
    if precip is not None:
        assert 0.65 < days["pr"].sum(axis=1).mean() / precip < 1.35  # within tens of percent


def test_us_normals_weather_days_and_diurnal_range() -> None:
    houston, chicago, phoenix, honolulu = (_us_normals_days(p) for p in ("Houston", "Chicago", "Phoenix", "Honolulu"))
    july, january = _MONTH_OF_DAY == 7, _MONTH_OF_DAY == 1
    for land in (houston, chicago, phoenix):
        assert 8.0 < (land["tasmax"] - land["tasmin"]).mean() < 15.0
        assert np.all(land["tasmin"] < land["tas"]) and np.all(land["tas"] < land["tasmax"])
    assert 4.0 < (honolulu["tasmax"] - honolulu["tasmin"]).mean() < (houston["tasmax"] - houston["tasmin"]).mean()
    # days above 90 °F (305.37 K) in the southern summer, frost days in the north, almost none in Houston
    assert (houston["tasmax"][:, july] > 32.22).mean() > 0.6 and (phoenix["tasmax"][:, july] > 32.22).mean() > 0.9
    assert (chicago["tasmin"] < 0.0).sum(axis=1).mean() > 90 and (houston["tasmin"] < 0.0).sum(axis=1).mean() < 15
    # weather: winter days in Chicago vary by several kelvin, Honolulu's by about one
    assert chicago["tas"][:, january].std() > 3.5 and honolulu["tas"][:, january].std() < 2.0
    # wet and dry days: exact zeros on most days, wet days as often as observed (a quarter to a third of days
    # in Houston and Chicago, a tenth in Phoenix), their amounts skewed
    for place, (low, high) in ((houston, (0.2, 0.4)), (chicago, (0.25, 0.45)), (phoenix, (0.04, 0.16))):
        wet = place["pr"] > 0.0
        assert low < wet.mean() < high and np.all(place["pr"] >= 0.0)
        amounts = place["pr"][wet]
        assert np.median(amounts) < amounts.mean() < amounts.max() / 4.0


def test_us_normals_land_and_sea() -> None:
    from climnorm.synth.geography import on_land

    lat = np.array([29.8, 41.9, 61.2, 26.0, 21.3, 18.4, 13.5, 36.0, 40.0])
    lon = np.array([-95.4, -87.6, -149.9, -90.0, -157.9, -66.1, 144.8, -125.0, 295.0])
    np.testing.assert_array_equal(on_land(lat, lon), [True, True, True, False, False, False, False, False, False])
    # the Gulf of Mexico in July is as warm as Houston, the Pacific off California much cooler than inland
    july = (195.5) / 365
    gulf, pacific, inland = synth.closed_form("tas", 2005, july, [26.0, 36.0, 36.0], [-90.0, -125.0, -117.0],
                                              style="us_normals")  # fmt: skip
    assert gulf > 300.0 and pacific < 292.0 < inland


def test_us_normals_members_differ_and_their_precipitation_changes_disagree() -> None:
    from climnorm.synth.demo import DEMO_MEMBERS

    frac = ((np.arange(365) + 0.5) / 365)[:, None, None]

    def normal(member: SynthSpec, scenario: str, variable: str, years: range, box: tuple[float, ...]) -> float:
        """The member's normal over ``years``, averaged over the box's points (lat0, lat1, lon0, lon1)."""
        lat, lon = np.arange(box[0], box[1], 2.0)[:, None], np.arange(box[2], box[3], 2.0)[None, :]
        climate = member.climate(scenario)
        values = [synth.closed_form(variable, y, frac, lat, lon, climate=climate, style=member.style) for y in years]
        return float(np.mean(values))

    south_west, north = (30.0, 38.0, -112.0, -100.0), (42.0, 50.0, -98.0, -86.0)
    changes = {}
    for member in DEMO_MEMBERS:
        assert member.style == "us_normals"
        for name, box in (("south_west", south_west), ("north", north)):
            past = normal(member, "historical", "pr", range(1985, 2015), box)
            changes[member.model, name] = normal(member, "ssp585", "pr", range(2020, 2050), box) / past - 1.0
        hot, warm = (normal(member, s, "tas", range(2040, 2050), north) for s in ("ssp585", "ssp245"))
        assert hot > warm + 0.3  # ssp585 warms faster than ssp245
    # one member gets drier in the Southwest and another wetter; in the North the other way round
    assert changes["SYNTH-A", "south_west"] < -0.04 and changes["SYNTH-B", "south_west"] > 0.04
    assert changes["SYNTH-A", "north"] > 0.04 and changes["SYNTH-B", "north"] < 0.0


def test_us_normals_everywhere_finite_and_ordered() -> None:
    lat, lon = synth.grid(SynthSpec(resolution=10.0))
    years = np.array([1950.0, 2100.0])[:, None, None, None]
    frac = np.linspace(0.0, 1.0, 24, endpoint=False)[None, :, None, None]
    climate = Climate(0.8, 2, 0.7)
    cf = {
        v: synth.closed_form(v, years, frac, lat[:, None], lon[None, :], climate=climate, style="us_normals")
        for v in synth.VARIABLES
    }
    assert all(np.isfinite(x).all() for x in cf.values())
    assert np.all(cf["tasmin"] < cf["tas"]) and np.all(cf["tas"] < cf["tasmax"])
    assert cf["tasmin"].min() > 200.0 and cf["tasmax"].max() < 330.0
    assert np.all(cf["pr"] >= 0.0) and np.any(cf["pr"] == 0.0) and cf["pr"].max() < 2e-3
    again = synth.closed_form("pr", years, frac, lat[:, None], lon[None, :], climate=climate, style="us_normals")
    np.testing.assert_array_equal(again, cf["pr"])


def test_us_normals_files_hold_the_style_and_its_values(tmp_path: Path) -> None:
    spec = _spec(style="us_normals", resolution=5.0, box=(15.0, 70.0, 180.0, 300.0), variables=("pr", "tasmax"))
    for variable in spec.variables:
        path = synth.write_year(tmp_path / f"{variable}.nc", spec, variable, "historical", 2000)
        with netCDF4.Dataset(path) as ds:
            assert ds.synthetic_style == "us_normals"
            lat, lon, data = ds["lat"][:], ds["lon"][:], ds[variable][:]
        for day in (10, 200):
            frac = synth.day_fraction("noleap", 2000, 1, 1) + day / 365
            expected = synth.closed_form(variable, 2000, frac, lat[:, None], lon[None, :], style="us_normals")
            np.testing.assert_allclose(data[day], expected, rtol=1e-6, atol=1e-12)
    plain = synth.write_year(tmp_path / "plain.nc", _spec(), "tas", "historical", 2000)
    with netCDF4.Dataset(plain) as ds:
        assert "synthetic_style" not in ds.ncattrs()
    with pytest.raises(ValueError, match="unknown style 'nice'"):
        _spec(style="nice")


def test_demo_config_shows_every_product_and_drops_the_county_table_without_its_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from climnorm.synth import demo

    config = yaml.safe_load(demo.demo_config_text())
    assert config["products"] == ["daily", "daily_smoothed", "monthly", "seasonal", "annual"]
    assert config["zonal"]["output"] == "tables/counties.parquet"
    monkeypatch.setattr(demo, "missing_extra_message", lambda extra, needed: f"{needed} need the {extra} extra")
    without = yaml.safe_load(demo.demo_config_text())
    assert "zonal" not in without and without["products"] == config["products"]
    assert "# zonal: left out, county tables need the zonal extra" in demo.demo_config_text()
