"""Tests of climnorm.catalog: file names, chains and coverage by name, discovery, header checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from climnorm._ranges import format_ranges, year_ranges
from climnorm.catalog import Catalog, build_catalog, make_chain
from climnorm.errors import CatalogError
from climnorm.filenames import ChainKey, FileEntry, parse_filename, unparsed_reason
from climnorm.headers import check_files

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real data folder {REAL} is absent")

REAL_UNPARSED = {
    "CanESM2_1950-2100.nc",
    "ahccd_1950-2013.nc",
    "nrcan_1950-2013.nc",
    "daily_surface_cancities_1990-1993.nc",
    "tas.sresb1.giss_model_e_r.run1.atm.da.nc",
}


def touch(path: Path, content: bytes = b"") -> Path:
    """Create a file (and its folders); the catalog works by name, so empty files are enough."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def nex(var: str, year: int, version: str = "", model: str = "NorESM2-LM", scenario: str = "ssp245") -> str:
    """A NEX-GDDP-CMIP6 file name."""
    suffix = f"_{version}" if version else ""
    return f"{var}_day_{model}_{scenario}_r1i1p1f1_gn_{year}{suffix}.nc"


def only_chain(catalog: Catalog):
    assert len(catalog.chains) == 1, list(catalog.chains)
    return next(iter(catalog.chains.values()))


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


@needs_real
def test_parse_every_real_file_name() -> None:
    names = {p.name: p for p in REAL.rglob("*.nc")}
    assert len(names) == 57
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


@needs_real
def test_real_archive_catalog_lists_unparsed_with_reasons() -> None:
    catalog = build_catalog([REAL])
    assert {p.name for p in catalog.unparsed} == REAL_UNPARSED
    assert all(catalog.unparsed_reasons[p] for p in catalog.unparsed)
    assert catalog.n_files == 57 - len(REAL_UNPARSED)
    doc = json.loads(json.dumps(catalog.to_json()))
    assert {Path(u["path"]).name for u in doc["unparsed"]} == REAL_UNPARSED
    assert all(u["reason"] for u in doc["unparsed"])
    miroc = catalog.chains[ChainKey("MIROC6", "r1i1p1f1", "tas", "ssp119")]
    assert miroc.complete_years == [] and miroc.partial_years == {2015: "01-01 only"}


# ---------------------------------------------------------------------------------------------------------
# Real chains
# ---------------------------------------------------------------------------------------------------------


@needs_real
def test_mini_esgf_chains() -> None:
    catalog = build_catalog([REAL / "mini-esgf-data"])
    assert catalog.unparsed == []

    ec = catalog.chains[ChainKey("EC-EARTH", "r1i1p1", "tas", "historical")]
    assert len(ec.files) == 16
    assert ec.complete_years == list(range(1850, 2009))
    assert ec.partial_years == {2009: "to 11-30"}
    assert ec.gaps == [] and ec.duplicates == [] and ec.shadowed == []
    assert [f.path.name for f in ec.files_for_year(2009)] == ["tas_day_EC-EARTH_historical_r1i1p1_20000101-20091130.nc"]

    # Eleven 360_day files split Dec-Nov; the last two split at 2099-10-30 / 2099-11-01, contiguous in a
    # 360_day calendar, and end on Dec 30: 2099 is complete by name, 2005 holds only December.
    mrsos = catalog.chains[ChainKey("HadGEM2-ES", "r1i1p1", "mrsos", "rcp45")]
    assert len(mrsos.files) == 11
    assert mrsos.complete_years == list(range(2006, 2100))
    assert mrsos.partial_years == {2005: "from 12-01"}
    assert mrsos.gaps == []
    assert [f.start for f in mrsos.files_for_year(2015)] == [(2005, 12, 1), (2015, 12, 1)]
    assert len(mrsos.files_for_year(2099)) == 2

    lr = [k for k in catalog.chains if k.model == "MPI-ESM1-2-LR" and k.variable == "tasmax"]
    assert [k.variant for k in lr] == ["s1980-r1i1p1f1", "s1980-r2i1p1f1", "s1980-r3i1p1f1"]
    for key in lr:
        assert catalog.chains[key].complete_years == list(range(1981, 1991))
        assert catalog.chains[key].partial_years == {1980: "from 11-01"}

    hadgem3 = catalog.chains[ChainKey("HadGEM3-GC31-MM", "s1960-r2i1p1f2", "tasmin", "dcppA-hindcast")]
    assert hadgem3.complete_years == [1961]  # ends 12-30: a 360_day year
    assert hadgem3.partial_years == {1960: "from 11-01"}

    cordex = catalog.chains[ChainKey("NOAA-GFDL-GFDL-ESM2M_OURANOS-CRCM5", "r1i1p1", "pr", "rcp45")]
    assert cordex.complete_years == list(range(2051, 2061))

    assert list(catalog.chains) == sorted(catalog.chains)
    doc = json.loads(json.dumps(catalog.to_json()))
    ec_doc = next(c for c in doc["chains"] if c["model"] == "EC-EARTH")
    assert ec_doc["complete_years"] == "1850-2008"
    assert ec_doc["partial_years"] == {"2009": "to 11-30"}
    assert ec_doc["files"] == 16


# ---------------------------------------------------------------------------------------------------------
# NEX archives in a temporary folder
# ---------------------------------------------------------------------------------------------------------


def test_highest_version_wins(tmp_path: Path) -> None:
    for year in range(1990, 1995):
        touch(tmp_path / "pr" / "historical" / nex("pr", year, model="ACCESS-CM2", scenario="historical"))
    touch(tmp_path / "pr" / "historical" / nex("pr", 1991, "v1.1", model="ACCESS-CM2", scenario="historical"))
    touch(tmp_path / "pr" / "historical" / nex("pr", 1991, "v2.0", model="ACCESS-CM2", scenario="historical"))
    touch(tmp_path / "pr" / "historical" / nex("pr", 1993, "v1.1", model="ACCESS-CM2", scenario="historical"))

    chain = only_chain(build_catalog([tmp_path]))
    assert chain.complete_years == list(range(1990, 1995))
    assert chain.duplicates == []
    by_year = {f.start[0]: f.version for f in chain.files}
    assert by_year == {1990: (), 1991: (2, 0), 1992: (), 1993: (1, 1), 1994: ()}
    shadowed = {(a.path.name, b.path.name) for a, b in chain.shadowed}
    assert shadowed == {
        (nex("pr", 1991, model="ACCESS-CM2", scenario="historical"),
         nex("pr", 1991, "v2.0", model="ACCESS-CM2", scenario="historical")),
        (nex("pr", 1991, "v1.1", model="ACCESS-CM2", scenario="historical"),
         nex("pr", 1991, "v2.0", model="ACCESS-CM2", scenario="historical")),
        (nex("pr", 1993, model="ACCESS-CM2", scenario="historical"),
         nex("pr", 1993, "v1.1", model="ACCESS-CM2", scenario="historical")),
    }  # fmt: skip
    assert [f.path.name for f in chain.files_for_year(1991)] == [
        nex("pr", 1991, "v2.0", model="ACCESS-CM2", scenario="historical")
    ]
    doc = chain.to_json()
    assert len(doc["shadowed"]) == 3 and doc["shadowed"][0]["by"].endswith("_v2.0.nc")


def test_gaps_are_year_ranges(tmp_path: Path) -> None:
    for year in [*range(1950, 1980), 1981, *range(1985, 2015)]:
        touch(tmp_path / nex("tas", year, scenario="historical"))
    chain = only_chain(build_catalog([tmp_path]))
    assert chain.gaps == [(1980, 1980), (1982, 1984)]
    assert format_ranges(chain.complete_years) == "1950-1979, 1981, 1985-2014"
    assert chain.to_json()["gaps"] == ["1980", "1982-1984"]


def test_same_version_duplicates_are_refused(tmp_path: Path) -> None:
    for year in (2050, 2051, 2052):
        touch(tmp_path / "a" / nex("tas", year))
    touch(tmp_path / "b" / nex("tas", 2051))  # same name, another folder, another file
    touch(tmp_path / "a" / nex("tas", 2052, "v1.1"))
    touch(tmp_path / "b" / nex("tas", 2052, "v1.1"))  # the winning version is duplicated: still refused

    catalog = build_catalog([tmp_path])
    chain = only_chain(catalog)
    assert chain.complete_years == [2050]
    assert chain.duplicate_years == [2051, 2052]
    assert 2051 not in chain.partial_years and chain.gaps == []
    pairs = {frozenset((a.path.relative_to(tmp_path).as_posix(), b.path.relative_to(tmp_path).as_posix()))
             for a, b in chain.duplicates}  # fmt: skip
    assert pairs == {
        frozenset({f"a/{nex('tas', 2051)}", f"b/{nex('tas', 2051)}"}),
        frozenset({f"a/{nex('tas', 2052, 'v1.1')}", f"b/{nex('tas', 2052, 'v1.1')}"}),
    }
    assert len(chain.shadowed) == 1  # the unversioned 2052 file
    assert catalog.to_json()["n_duplicates"] == 2


def test_overlapping_ranges_are_duplicates() -> None:
    files = [parse_filename(f"tas_day_M-1_historical_r1i1p1_{d}.nc") for d in
             ("18500101-18591231", "18550101-18641231", "18650101-18701231")]  # fmt: skip
    entries = [f for f in files if f is not None]
    chain = make_chain(entries[0].key, entries)
    assert chain.duplicate_years == list(range(1855, 1860))
    assert chain.complete_years == [*range(1850, 1855), *range(1860, 1871)]


def test_same_file_reached_twice_is_counted_once(tmp_path: Path) -> None:
    real = tmp_path / "data"
    for year in (2050, 2051):
        touch(real / nex("tas", year))
    (tmp_path / "latest").symlink_to(real, target_is_directory=True)
    (real / "loop").symlink_to(real, target_is_directory=True)  # a symlink loop must not hang
    (real / nex("tas", 2052)).symlink_to(real / nex("tas", 2051))  # file symlink: followed
    (real / nex("tas", 2053)).symlink_to(real / "missing.nc")  # broken symlink: reported, skipped

    catalog = build_catalog([tmp_path, real])
    chain = only_chain(catalog)
    assert chain.duplicates == []
    assert chain.complete_years == [2050, 2051]  # 2052 is the same file as 2051: found once
    assert list(catalog.skipped.values()) == ["broken symbolic link"]


def test_unparsed_names_are_listed_and_other_files_ignored(tmp_path: Path) -> None:
    touch(tmp_path / nex("tas", 2050))
    touch(tmp_path / "CanESM2_1950-2100.nc")
    touch(tmp_path / "sub" / "tas_day_X-1_ssp245_r1i1p1f1_gn_20501301-20501231.nc")
    touch(tmp_path / "sub" / "weird.NC4")
    touch(tmp_path / "LICENSE")
    touch(tmp_path / "README.md")
    touch(tmp_path / "tas_day_X-1_ssp245_r1i1p1f1_gn_2050.nc.part")

    catalog = build_catalog([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in catalog.unparsed] == [
        "CanESM2_1950-2100.nc",
        "sub/tas_day_X-1_ssp245_r1i1p1f1_gn_20501301-20501231.nc",
        "sub/weird.NC4",
    ]
    assert "invalid date" in catalog.unparsed_reasons[catalog.unparsed[1]]
    assert catalog.n_files == 1


def test_both_layouts_and_filters(tmp_path: Path) -> None:
    seed = tmp_path / "seed"  # {root}/{var}/{scenario}/file
    s3 = tmp_path / "s3"  # {root}/{model}/{scenario}/{variant}/{var}/file
    for var in ("pr", "tas"):
        for year in (2013, 2014):
            touch(seed / var / "historical" / nex(var, year, scenario="historical"))
        for year in (2015, 2016):
            touch(seed / var / "ssp245" / nex(var, year))
            touch(s3 / "ACCESS-CM2" / "ssp585" / "r1i1p1f1" / var / nex(var, year, "v2.0", "ACCESS-CM2", "ssp585"))

    catalog = build_catalog([seed, s3])
    assert len(catalog.chains) == 2 * 3
    assert catalog.filtered_out == {}
    key = ChainKey("ACCESS-CM2", "r1i1p1f1", "tas", "ssp585")
    assert catalog.chains[key].complete_years == [2015, 2016]
    assert catalog.chains[ChainKey("NorESM2-LM", "r1i1p1f1", "pr", "historical")].complete_years == [2013, 2014]

    only = build_catalog([seed, s3], model="NorESM2-LM", variables=["tas"], scenarios=["historical", "ssp245"])
    assert list(only.chains) == [
        ChainKey("NorESM2-LM", "r1i1p1f1", "tas", "historical"),
        ChainKey("NorESM2-LM", "r1i1p1f1", "tas", "ssp245"),
    ]
    assert only.filtered_out == {"model": 4, "variable": 4}
    assert build_catalog([seed], variables="pr", scenarios="ssp245").filtered_out == {"variable": 4, "scenario": 2}


def test_missing_input_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CatalogError, match="nope"):
        build_catalog([missing])
    with pytest.raises(CatalogError, match="not a directory"):
        build_catalog([touch(tmp_path / nex("tas", 2050))])


def test_many_files_are_discovered(tmp_path: Path) -> None:
    models = [f"MODEL-{i}" for i in range(8)]
    variables = ("pr", "tas", "tasmax", "tasmin")
    runs = (("historical", range(1950, 2015)), ("ssp245", range(2015, 2101)), ("ssp585", range(2015, 2101)))
    n = 0
    for model in models:
        for scenario, years in runs:
            for var in variables:
                folder = tmp_path / model / scenario / "r1i1p1f1" / var
                folder.mkdir(parents=True)
                for year in years:
                    for version in ("", "v1.1", "v2.0"):
                        (folder / nex(var, year, version, model, scenario)).touch()
                        n += 1
    assert n > 20_000
    catalog = build_catalog([tmp_path])
    assert len(catalog.chains) == len(models) * len(variables) * len(runs)
    assert catalog.n_files == n // 3 and catalog.unparsed == []
    chain = catalog.chains[ChainKey("MODEL-3", "r1i1p1f1", "tas", "ssp245")]
    assert chain.complete_years == list(range(2015, 2101))
    assert {f.version for f in chain.files} == {(2, 0)}
    assert len(chain.shadowed) == 2 * 86 and chain.duplicates == []


def test_year_ranges_helpers() -> None:
    assert year_ranges([]) == []
    assert year_ranges([1952, 1950, 1951, 1951, 1960]) == [(1950, 1952), (1960, 1960)]
    assert format_ranges([*range(1950, 1980), *range(1981, 2015)]) == "1950-1979, 1981-2014"
    assert format_ranges(range(1950, 2015)) == "1950-2014"
    assert format_ranges([]) == ""


def test_partial_year_descriptions() -> None:
    names = [
        "tas_day_M-1_historical_r1i1p1_20000301-20000630.nc",
        "tas_day_M-1_historical_r1i1p1_20000801-20000815.nc",
        "tas_day_M-1_historical_r1i1p1_20011201-20021130.nc",
        "tas_day_M-1_historical_r1i1p1_20021201-20031130.nc",
        "tas_day_M-1_historical_r1i1p1_20050101-20050227.nc",  # not through Feb 28: March 1 is a new piece
        "tas_day_M-1_historical_r1i1p1_20050301-20051231.nc",
        "tas_day_M-1_historical_r1i1p1_20060101-20060228.nc",  # noleap-style: Feb 28 joins Mar 1
        "tas_day_M-1_historical_r1i1p1_20060301-20061231.nc",
    ]
    entries = [e for e in map(parse_filename, names) if e is not None]
    chain = make_chain(entries[0].key, entries)
    assert chain.complete_years == [2002, 2006]
    assert chain.partial_years == {
        2000: "03-01 to 06-30, 08-01 to 08-15",
        2001: "from 12-01",
        2003: "to 11-30",
        2005: "to 02-27, from 03-01",
    }
    assert chain.gaps == [(2004, 2004)]


def test_file_entry_roundtrip_fields() -> None:
    entry = parse_filename("tas_day_NorESM2-LM_ssp245_r1i1p1f1_gn_2050_v1.1.nc")
    assert isinstance(entry, FileEntry)
    assert entry.years == range(2050, 2051)
    assert entry.version_label == "v1.1"
    assert entry.key == ChainKey("NorESM2-LM", "r1i1p1f1", "tas", "ssp245")


# ---------------------------------------------------------------------------------------------------------
# check_files
# ---------------------------------------------------------------------------------------------------------


def write_nc(path: Path, variable: str, fmt: str = "NETCDF4", ntime: int = 50) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", 8)
        ds.createDimension("lon", 8)
        var = ds.createVariable(variable, "f4", ("time", "lat", "lon"), zlib=fmt.startswith("NETCDF4"))
        var[:] = np.random.default_rng(0).random((ntime, 8, 8), dtype=np.float32)
    return path


def cut(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_check_files_reports_each_problem_in_one_line(tmp_path: Path) -> None:
    good = write_nc(tmp_path / nex("tas", 2050), "tas")
    good3 = write_nc(tmp_path / nex("tas", 2051), "tas", fmt="NETCDF3_CLASSIC")
    zero = touch(tmp_path / nex("tas", 2052))
    text = touch(tmp_path / nex("tas", 2053), b"<html>404 Not Found</html>\n")
    truncated4 = cut(write_nc(tmp_path / nex("tas", 2054), "tas"))
    truncated3 = cut(write_nc(tmp_path / nex("tas", 2055), "tas", fmt="NETCDF3_64BIT_OFFSET"))
    wrong_var = write_nc(tmp_path / nex("tas", 2056), "pr")

    catalog = build_catalog([tmp_path])
    for workers in (1, 4):
        problems = {p.path: p for p in check_files(catalog, workers=workers)}
        assert good not in problems and good3 not in problems
        assert set(problems) == {zero, text, truncated4, truncated3, wrong_var}
        assert problems[zero].problem == "zero-byte file"
        assert problems[text].problem.startswith("not a NetCDF/HDF5 file")
        assert "cannot open with netCDF4" in problems[truncated4].problem
        assert problems[truncated3].problem.startswith("truncated")
        assert problems[wrong_var].problem == "variable 'tas' not found; variables present: pr"
        for p in problems.values():
            message = str(p)
            assert "\n" not in message and message.startswith(str(p.path))


@needs_real
def test_check_real_files_finds_no_problem() -> None:
    catalog = build_catalog([REAL / "mini-esgf-data"])
    assert check_files(catalog, workers=4) == []


def test_check_files_on_a_vanished_file(tmp_path: Path) -> None:
    path = write_nc(tmp_path / nex("tas", 2050), "tas")
    catalog = build_catalog([tmp_path])
    os.remove(path)
    assert [p.problem for p in check_files(catalog)] == ["file not found"]


def test_fast_path_agrees_with_the_general_parser() -> None:
    from climnorm.filenames import _parse_any, _parse_fast

    names = [
        nex("tas", 2050),
        nex("pr", 1990, "v2.0", "ACCESS-CM2", "historical"),
        nex("tasmin", 2100, "v1.1", "MPI-ESM1-2-HR"),
        "tas_day_MIROC6_ssp119_r1i1p1f1_gn_20150101.nc",
        "pr_day_EC-Earth3_dcppA-hindcast_s1961-r6i2p1f1_gr_19611101-19611231.nc",
        "tas_3hr_X-1_historical_r1i1p1f1_gn_201501010000-201512312100.nc4",
        "tas_day_X-1_historical_r1i1p1f1_gn_195001-195312.nc",
    ]
    if REAL.is_dir():
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
