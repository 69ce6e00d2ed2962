"""Tests of climnorm.catalog.scan: discovery, chains, versions and coverage by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climnorm._ranges import format_ranges, year_ranges
from climnorm.catalog.filenames import ChainKey, parse_filename
from climnorm.catalog.scan import Catalog, build_catalog, make_chain
from climnorm.errors import CatalogError
from helpers import REAL, REAL_FILES, REAL_UNPARSED, nex, touch


def only_chain(catalog: Catalog):
    assert len(catalog.chains) == 1, list(catalog.chains)
    return next(iter(catalog.chains.values()))


def test_real_archive_catalog_lists_unparsed_with_reasons() -> None:
    catalog = build_catalog([REAL])
    assert {p.name for p in catalog.unparsed} == REAL_UNPARSED
    assert all(catalog.unparsed_reasons[p] for p in catalog.unparsed)
    assert catalog.n_files == REAL_FILES - len(REAL_UNPARSED)
    doc = json.loads(json.dumps(catalog.to_json()))
    assert {Path(u["path"]).name for u in doc["unparsed"]} == REAL_UNPARSED
    assert all(u["reason"] for u in doc["unparsed"])
    miroc = catalog.chains[ChainKey("MIROC6", "r1i1p1f1", "tas", "ssp119")]
    assert miroc.complete_years == [] and miroc.partial_years == {2015: "01-01 only"}


# ---------------------------------------------------------------------------------------------------------
# Real chains
# ---------------------------------------------------------------------------------------------------------


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
