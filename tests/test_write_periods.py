"""The product files: monthly, seasonal and annual normals (CF-1.8 climatology steps and bounds, cell methods,
totals in mm) and the smoothed daily normal; written atomically, read by netCDF4, xarray and CDO."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cftime
import netCDF4
import numpy as np
import pytest
import xarray as xr

from climnorm._atomic import TMP_MARK
from climnorm.numerics.periods import WMO
from climnorm.numerics.smoothing import Smoothing
from climnorm.products import Periods, ProductSettings, file_product
from climnorm.products import product as product_spec
from climnorm.types import Coord, Member, Region, RegionCut, T_Aggregation, Target
from climnorm.write.digests import data_checksum
from climnorm.write.layouts import write_product
from climnorm.write.orders import Encoding, NormalMeta, WriteTask
from helpers import CDO, needs_cdo

PR_ATTRS = (("units", "kg m-2 s-1"), ("standard_name", "precipitation_flux"), ("long_name", "Precipitation"))
TAS_ATTRS = (("units", "K"), ("standard_name", "air_temperature"), ("long_name", "Near-Surface Air Temperature"))
STEPS = {"monthly": 12, "seasonal": 4, "annual": 1}
SETTINGS = ProductSettings(Smoothing("harmonic", 3), WMO, {"method": "harmonic", "harmonics": 3}, "wmo")


def grid() -> RegionCut:
    lat = Coord("lat", ("lat",), np.array([30.0, 31.0, 32.0]), (("units", "degrees_north"), ("axis", "Y")))
    lon = Coord("lon", ("lon",), np.array([250.0, 251.0]), (("units", "degrees_east"), ("axis", "X")))
    return RegionCut("BOX", (np.arange(3), np.arange(2)), None, ("lat", "lon"), (lat, lon))


def meta(
    name: str,
    *,
    variable: str = "pr",
    aggregation: T_Aggregation = "mean",
    calendar: str = "standard",
    target: int = 2014,
    window: int = 30,
) -> NormalMeta:
    years = tuple(range(target - window + 1, target + 1))
    t = Target(Member("ESM", "r1i1p1f1"), variable, "historical", "historical", target, years, years, (), 25)
    attrs = PR_ATTRS if variable == "pr" else TAS_ATTRS
    return NormalMeta(
        t,
        Region("BOX", "A box", 30, 32, 250, 251),
        years,
        ("historical",),
        calendar,
        "calendar_day",
        attrs,
        "sha256:x",
        product=file_product(product_spec(name), aggregation, SETTINGS),
    )


def write(path: Path, data: np.ndarray, about: NormalMeta) -> tuple[int, str]:
    """Write through the one entry point every product's file goes through (compressed, as runs write)."""
    return write_product(WriteTask(str(path), data, grid(), about, Encoding()))


def values(steps: int, seed: int = 0) -> np.ndarray:
    out = np.random.default_rng(seed).random((steps, 3, 2)).astype(np.float32)
    out[0, 0, 0] = np.nan
    return out


def _bounds(path: Path) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    with netCDF4.Dataset(path) as ds:
        t = ds.variables["time"]
        b = ds.variables["climatology_bnds"][:]
        dates = cftime.num2date(b, t.units, t.calendar)
    return [((lo.year, lo.month, lo.day), (hi.year, hi.month, hi.day)) for lo, hi in dates]


@pytest.mark.parametrize("calendar", ["standard", "noleap", "360_day", "julian"])
def test_climatology_bounds_say_which_months_each_step_covers(tmp_path: Path, calendar: str) -> None:
    """Window 1985-2014: DJF from 1984-12-01 to 2014-03-01, December to 2015-01-01, the year 1985-01-01 to
    2015-01-01; each step's time is inside its bounds."""
    got = {}
    for product in STEPS:
        path = tmp_path / f"{product}.nc"
        write(path, values(STEPS[product]), meta(product, calendar=calendar))
        got[product] = _bounds(path)
        with netCDF4.Dataset(path) as ds:
            t, b = ds.variables["time"][:], ds.variables["climatology_bnds"][:]
            assert ds.variables["time"].climatology == "climatology_bnds" and ds.variables["time"].calendar == calendar
        assert ((b[:, 0] < t) & (t < b[:, 1])).all() and (np.diff(t) > 0).all()
    assert got["seasonal"] == [
        ((1984, 12, 1), (2014, 3, 1)),
        ((1985, 3, 1), (2014, 6, 1)),
        ((1985, 6, 1), (2014, 9, 1)),
        ((1985, 9, 1), (2014, 12, 1)),
    ]
    assert got["monthly"][0] == ((1985, 1, 1), (2014, 2, 1)) and got["monthly"][11] == ((1985, 12, 1), (2015, 1, 1))
    assert got["annual"] == [((1985, 1, 1), (2015, 1, 1))]


@pytest.mark.parametrize(("product", "aggregation"), [(p, a) for p in STEPS for a in ("mean", "sum")])
def test_period_file_layout(tmp_path: Path, product: str, aggregation: T_Aggregation) -> None:
    path = tmp_path / "out.nc"
    data = values(STEPS[product])
    size, checksum = write(path, data, meta(product, aggregation=aggregation))
    assert size == path.stat().st_size and checksum == data_checksum(data)
    layout = product_spec(product).layout
    assert isinstance(layout, Periods) and len(layout.periods) == STEPS[product]
    with netCDF4.Dataset(path) as ds:
        v = ds.variables["pr"]
        assert v.dimensions == ("time", "lat", "lon") and len(ds.dimensions["time"]) == STEPS[product]
        assert v.cell_methods == f"time: {aggregation} within years time: mean over years"
        assert (v.units, v.standard_name) == (
            ("mm", "lwe_thickness_of_precipitation_amount")
            if aggregation == "sum"
            else ("kg m-2 s-1", "precipitation_flux")
        )
        assert ds.product == product and ds.monthly_completeness == "wmo" and ds.Conventions == "CF-1.8"
        assert ds.title == f"30-year {product} climate normal of pr for A box"
        read = np.ma.filled(v[:].astype(np.float32), np.nan)
        labels = {"monthly": "month", "seasonal": "season", "annual": None}[product]
        if labels:
            assert labels in v.coordinates.split()
    np.testing.assert_array_equal(read, data)
    with xr.open_dataset(path) as ds:
        if product == "monthly":
            assert ds["month"].values.tolist() == list(range(1, 13))
        if product == "seasonal":
            assert ds["season"].values.tolist() == ["DJF", "MAM", "JJA", "SON"]


def test_smoothed_daily_file_is_a_daily_file_that_says_so(tmp_path: Path) -> None:
    daily, smooth = tmp_path / "daily.nc", tmp_path / "smooth.nc"
    data = values(366)
    write(daily, data, meta("daily", variable="tas"))
    write(smooth, data, meta("daily_smoothed", variable="tas"))
    how = SETTINGS.smoothing.describe()
    with netCDF4.Dataset(daily) as a, netCDF4.Dataset(smooth) as b:
        assert "product" not in a.ncattrs() and "smoothing" not in a.ncattrs()
        assert a.title == "30-year daily climate normal of tas for A box"
        assert (b.product, b.smoothing) == ("daily_smoothed", how)
        assert b.title == "30-year smoothed daily climate normal of tas for A box"
        assert b.variables["tas"].comment == f"smoothed: {how}"
        assert "comment" not in a.variables["tas"].ncattrs()
        for name in ("time", "climatology_bnds", "dayofyear", "month", "day", "tas"):
            np.testing.assert_array_equal(a.variables[name][:], b.variables[name][:])


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    """A total of temperatures cannot be written (no unit for it): the temporary file goes, no file lands."""
    path = tmp_path / "out.nc"
    with pytest.raises(ValueError, match="cannot total"):
        write(path, values(12), meta("monthly", variable="tas", aggregation="sum"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="does not match"):
        write(path, values(11), meta("monthly"))
    assert not any(TMP_MARK in p.name for p in tmp_path.iterdir())


@needs_cdo
@pytest.mark.parametrize("product", ["monthly", "seasonal", "annual", "daily_smoothed"])
def test_cdo_reads_the_product_files(tmp_path: Path, product: str) -> None:
    steps = STEPS.get(product, 365)
    path = tmp_path / f"{product}.nc"
    aggregation: T_Aggregation = "sum" if product in STEPS else "mean"
    write(path, values(steps), meta(product, calendar="noleap", aggregation=aggregation))
    done = subprocess.run([str(CDO), "sinfon", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert " pr" in done.stdout and f"time : {steps} step" in " ".join(done.stdout.split())
    assert "Bounds = true" in done.stdout and "skipped variable pr" not in done.stderr


def test_the_zonal_tables_read_the_product_slots(tmp_path: Path) -> None:
    """climnorm.zonal labels a file's slots by its ``season`` or ``month`` coordinate: the product files have them."""
    from climnorm.zonal.fields import read_fields

    expected = {"monthly": ("month", "Jan"), "seasonal": ("season", "DJF")}
    for product, (kind, first) in expected.items():
        path = tmp_path / f"{product}.nc"
        data = values(STEPS[product])
        write(path, data, meta(product))
        attrs, fields = read_fields(path, "pr")
        assert attrs["product"] == product and [f.slot_kind for f in fields] == [kind]
        assert fields[0].labels[0] == first
        np.testing.assert_array_equal(fields[0].data, data)
