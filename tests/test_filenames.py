"""Tests of climnorm.catalog.filenames: every naming scheme the catalog reads, and the names it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from climnorm.catalog.filenames import ChainKey, FileEntry, parse_filename, unparsed_reason
from helpers import REAL, REAL_FILES, REAL_UNPARSED, nex

# ---------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "tas_day_NorESM2-LM_ssp245_r1i1p1f1_gn_2050.nc",
            dict(
                naming="nex",
                variable="tas",
                model="NorESM2-LM",
                scenario="ssp245",
                variant="r1i1p1f1",
                grid="gn",
                table="day",
                start=(2050, 1, 1),
                end=(2050, 12, 31),
                version=(),
            ),
        ),
        (
            "pr_day_ACCESS-CM2_historical_r1i1p1f1_gn_1990_v2.0.nc",
            dict(
                naming="nex",
                variable="pr",
                model="ACCESS-CM2",
                scenario="historical",
                grid="gn",
                start=(1990, 1, 1),
                end=(1990, 12, 31),
                version=(2, 0),
            ),
        ),
        (
            "tasmax_day_MPI-ESM1-2-HR_ssp585_r1i1p1f1_gn_2100_v1.1.nc",
            dict(naming="nex", model="MPI-ESM1-2-HR", version=(1, 1), start=(2100, 1, 1)),
        ),
        (
            "tasmax_day_BCSD_rcp85_r1i1p1_inmcm4_2099.nc",  # the original NEX-GDDP (CMIP5) form
            dict(naming="nex", variable="tasmax", model="inmcm4", scenario="rcp85", variant="r1i1p1", grid=None),
        ),
        (
            "tas_day_CESM2-WACCM_historical_r1i1p1f1_gn_20000101-20091231.nc",
            dict(naming="cmip6", model="CESM2-WACCM", grid="gn", start=(2000, 1, 1), end=(2009, 12, 31)),
        ),
        (
            "tas_Amon_X-1_historical_r1i1p1f1_gn_185001-201412.nc",
            None,  # monthly: cannot feed a daily normal
        ),
        (
            "tas_3hr_X-1_historical_r1i1p1f1_gn_201501010000-201512312100.nc",
            dict(naming="cmip6", table="3hr", start=(2015, 1, 1), end=(2015, 12, 31)),
        ),
        (
            "tas_day_X-1_historical_r1i1p1f1_gr1_195001-195312.nc",
            dict(grid="gr1", start=(1950, 1, 1), end=(1953, 12, 31)),
        ),
        (
            "tas_day_X-1_historical_r1i1p1f1_gn_2000-2001.nc",
            dict(naming="cmip6", start=(2000, 1, 1), end=(2001, 12, 31)),
        ),
        (
            "tas_day_X-1_piControl_r1i1p1f1_gn_199602-199602.nc",  # Feb of a leap year
            dict(start=(1996, 2, 1), end=(1996, 2, 29)),
        ),
    ],
)
def test_parse_synthetic_names(name: str, expected: dict | None) -> None:
    entry = parse_filename(name)
    if expected is None:
        assert entry is None
        assert unparsed_reason(name)
        return
    assert entry is not None, unparsed_reason(name)
    for attr, value in expected.items():
        assert getattr(entry, attr) == value, attr
    assert entry.size == 0 and entry.mtime == 0.0  # pure function of the name


@pytest.mark.parametrize(
    "name",
    [
        "tas_day_X-1_historical_r1i1p1f1_gn_20091331-20101231.nc",  # month 13
        "tas_day_X-1_historical_r1i1p1f1_gn_20090431-20101231.nc",  # April 31 exists in no calendar
        "tas_day_X-1_historical_r1i1p1f1_gn_20090100-20101231.nc",  # day 0
        "tas_day_X-1_historical_r1i1p1f1_gn_20101231-20090101.nc",  # ends before it starts
        "tas_day_X-1_historical_r1i1p1f1_gn_201001012500-201012312100.nc",  # hour 25
        "tas_day_X-1_historical_r1i1p1f1_gn_2010123-2011.nc",  # 7 digits
        "tas_day_X-1_historical_r1i1p1f1_gn.nc",  # no dates
        "tas_day_X-1_historical_r1i1p1f1_20100101-20101231.nc",  # CMIP6 variant without a grid label
        "tas_day_X_1_historical_r1i1p1f1_gn_2010.nc",  # underscore in the model name
        "tas__X-1_historical_r1i1p1f1_gn_2010.nc",  # empty field
        "._tas_day_X-1_historical_r1i1p1f1_gn_2010.nc",  # macOS resource fork
        "tas_day_X-1_historical_r1i1p1f1_gn_2010_v1.1.nc.tmp",  # not a NetCDF name at all
    ],
)
def test_near_misses_do_not_parse(name: str) -> None:
    assert parse_filename(name) is None
    reason = unparsed_reason(name)
    assert reason and "\n" not in reason


def test_360_day_dates_are_valid() -> None:
    entry = parse_filename("tas_day_HadGEM2-ES_rcp45_r1i1p1_20990201-20990230.nc")
    assert entry is not None and entry.end == (2099, 2, 30)


def test_cordex_rcm_version_is_not_a_data_version() -> None:
    name = "pr_NAM-22_NOAA-GFDL-GFDL-ESM2M_rcp45_r1i1p1_OURANOS-CRCM5_v1_day_20510101-20551231.nc"
    entry = parse_filename(Path("/nowhere") / name)
    assert entry is not None
    assert entry.naming == "cordex"
    assert entry.model == "NOAA-GFDL-GFDL-ESM2M_OURANOS-CRCM5"
    assert (entry.grid, entry.table, entry.variant, entry.scenario) == ("NAM-22", "day", "r1i1p1", "rcp45")
    assert entry.version == () and entry.rcm_version == "v1"
    assert entry.key == ChainKey("NOAA-GFDL-GFDL-ESM2M_OURANOS-CRCM5", "r1i1p1", "pr", "rcp45")
    assert entry.years == range(2051, 2056)


def test_parse_every_real_file_name() -> None:
    names = {p.name: p for p in REAL.rglob("*.nc")}
    assert len(names) == REAL_FILES
    parsed = {name: parse_filename(path) for name, path in names.items()}
    assert {n for n, e in parsed.items() if e is None} == REAL_UNPARSED

    def check(name: str, **fields: object) -> None:
        entry = parsed[name]
        assert entry is not None
        for attr, value in fields.items():
            assert getattr(entry, attr) == value, (name, attr)

    check(
        "tas_day_EC-EARTH_historical_r1i1p1_18500101-18591231.nc",
        naming="cmip5",
        variable="tas",
        model="EC-EARTH",
        scenario="historical",
        variant="r1i1p1",
        grid=None,
        table="day",
        start=(1850, 1, 1),
        end=(1859, 12, 31),
        version=(),
    )
    check(
        "mrsos_day_HadGEM2-ES_rcp45_r1i1p1_20051201-20151130.nc",
        naming="cmip5",
        variable="mrsos",
        model="HadGEM2-ES",
        scenario="rcp45",
        start=(2005, 12, 1),
        end=(2015, 11, 30),
    )
    check("mrsos_day_HadGEM2-ES_rcp45_r1i1p1_20991101-20991230.nc", start=(2099, 11, 1), end=(2099, 12, 30))
    check(
        "tas_day_CESM2-WACCM_historical_r1i1p1f1_gn_20000101-20091231.nc",
        naming="cmip6",
        model="CESM2-WACCM",
        variant="r1i1p1f1",
        grid="gn",
        start=(2000, 1, 1),
        end=(2009, 12, 31),
    )
    check(
        "prsn_day_CanESM5_historical_r1i1p1f1_gn_19910101-20101231.nc", naming="cmip6", variable="prsn", model="CanESM5"
    )
    check(
        "pr_day_EC-Earth3_dcppA-hindcast_s1961-r6i2p1f1_gr_19611101-19611231.nc",
        naming="cmip6",
        model="EC-Earth3",
        scenario="dcppA-hindcast",
        variant="s1961-r6i2p1f1",
        grid="gr",
        start=(1961, 11, 1),
        end=(1961, 12, 31),
    )
    check(
        "tasmin_day_HadGEM3-GC31-MM_dcppA-hindcast_s1960-r2i1p1f2_gn_19601101-19601230.nc",
        variant="s1960-r2i1p1f2",
        end=(1960, 12, 30),
    )
    check(
        "tas_day_MIROC6_ssp119_r1i1p1f1_gn_20150101.nc",
        naming="cmip6",
        model="MIROC6",
        scenario="ssp119",
        start=(2015, 1, 1),
        end=(2015, 1, 1),
    )
    check(
        "pr_NAM-22_NOAA-GFDL-GFDL-ESM2M_rcp45_r1i1p1_OURANOS-CRCM5_v1_day_20560101-20601231.nc",
        naming="cordex",
        model="NOAA-GFDL-GFDL-ESM2M_OURANOS-CRCM5",
        grid="NAM-22",
        version=(),
        rcm_version="v1",
        start=(2056, 1, 1),
        end=(2060, 12, 31),
    )
    check(
        "psl_EUR-11_MOHC-HadGEM2-ES_rcp85_r1i1p1_IPSL-WRF381P_v1_day_20310101-20401231.nc",
        naming="cordex",
        variable="psl",
        model="MOHC-HadGEM2-ES_IPSL-WRF381P",
        grid="EUR-11",
        scenario="rcp85",
    )
    check(
        "tas_AFR-22_MPI-M-MPI-ESM-LR_historical_r1i1p1_GERICS-REMO2015_v1_day_19960101-20001231.nc",
        naming="cordex",
        model="MPI-M-MPI-ESM-LR_GERICS-REMO2015",
        grid="AFR-22",
    )
    check(
        "pr_day_CanESM2_rcp85_r1i1p1_na10kgrid_qm-moving-50bins-detrend_2095.nc",
        naming="nex",
        variable="pr",
        model="CanESM2",
        scenario="rcp85",
        variant="r1i1p1",
        grid="na10kgrid_qm-moving-50bins-detrend",
        start=(2095, 1, 1),
        end=(2095, 12, 31),
    )
    assert "CMIP3" in (unparsed_reason("tas.sresb1.giss_model_e_r.run1.atm.da.nc") or "")


def test_file_entry_roundtrip_fields() -> None:
    entry = parse_filename("tas_day_NorESM2-LM_ssp245_r1i1p1f1_gn_2050_v1.1.nc")
    assert isinstance(entry, FileEntry)
    assert entry.years == range(2050, 2051)
    assert entry.version_label == "v1.1"
    assert entry.key == ChainKey("NorESM2-LM", "r1i1p1f1", "tas", "ssp245")


def test_fast_path_agrees_with_the_general_parser() -> None:
    from climnorm.catalog.filenames import _parse_any, _parse_fast

    names = [
        nex("tas", 2050),
        nex("pr", 1990, "v2.0", "ACCESS-CM2", "historical"),
        nex("tasmin", 2100, "v1.1", "MPI-ESM1-2-HR"),
        "tas_day_MIROC6_ssp119_r1i1p1f1_gn_20150101.nc",
        "pr_day_EC-Earth3_dcppA-hindcast_s1961-r6i2p1f1_gr_19611101-19611231.nc",
        "tas_3hr_X-1_historical_r1i1p1f1_gn_201501010000-201512312100.nc4",
        "tas_day_X-1_historical_r1i1p1f1_gn_195001-195312.nc",
    ]
    names += [p.name for p in REAL.rglob("*.nc")]
    fast_count = 0
    for name in names:
        fast = _parse_fast(Path(name), name, 7, 1.5)
        if fast is not None:
            fast_count += 1
            assert fast == _parse_any(Path(name), name, 7, 1.5), name
    assert fast_count >= 7
    for name in ("tas_Amon_X-1_historical_r1i1p1f1_gn_185001-201412.nc", "tas_day_X-1_h_r1i1p1f1_gn_20091301.nc"):
        assert _parse_fast(Path(name), name, 0, 0.0) is None
        assert isinstance(_parse_any(Path(name), name, 0, 0.0), str)
