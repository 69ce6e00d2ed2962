"""Every kind of output passes the CF checker (`cfchecks`, the CF community's checker, version 4.1) against the
current standard-name table, offline: 0 errors.

The kinds: the daily, smoothed daily, monthly, seasonal and annual normals of a member, its indicators (every
kind of units and cell method, with window statistics), and the ensemble outputs
of each, for a temperature and for precipitation (whose period products are totals in mm). The checker needs the
UDUNITS-2 library (Debian's libudunits2-dev; CI installs it): without it the test is skipped, saying so.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from climnorm.config.model import parse_config
from climnorm.outputs.index import OutputIndex
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from conftest import T_Archive
from helpers import link_archives

DATA = Path(__file__).resolve().parent / "data" / "cf"
PRODUCTS = ["daily", "daily_smoothed", "monthly", "seasonal", "annual"]
SPEC = SynthSpec(
    variables=("tas", "pr"),
    historical_years=(2010, 2014),
    resolution=5.0,
    box=(20.0, 55.0, 230.0, 300.0),
    holes=0.01,
)
MEMBERS = (replace(SPEC, model="CF-A"), replace(SPEC, model="CF-B", calendar="360_day", noise=1))


def _checker(tmp: Path) -> Callable[[str], dict[str, Any]]:
    """cfchecks with the standard-name table of tests/data/cf and empty area-type and region tables."""
    try:
        from cfchecker.cfchecks import CFChecker
    except (ImportError, OSError, AttributeError) as err:  # cfunits loads UDUNITS-2 when imported
        pytest.skip(f"the CF checker cannot load (it needs UDUNITS-2: apt-get install libudunits2-dev): {err}")
    names = tmp / "cf-standard-name-table.xml"
    names.write_bytes(gzip.decompress((DATA / "cf-standard-name-table-v93.xml.gz").read_bytes()))
    empty = "<version_number>0</version_number><date>none</date>"
    (tmp / "areas.xml").write_text(f"<area_type_table>{empty}</area_type_table>")
    (tmp / "regions.xml").write_text(f"<standardized_region_list>{empty}</standardized_region_list>")
    checker = CFChecker(
        cfStandardNamesXML=str(names),
        cfAreaTypesXML=str(tmp / "areas.xml"),
        cfRegionNamesXML=str(tmp / "regions.xml"),
        silent=True,
    )
    return checker.checker  # type: ignore[no-any-return]


def _errors(result: dict[str, Any]) -> list[str]:
    """Every error and fatal error the checker reported, of the file and of each variable."""
    parts = [("global", result["global"]), *result["variables"].items()]
    return [f"{where}: {msg}" for where, found in parts for kind in ("FATAL", "ERROR") for msg in found[kind]]


def test_every_output_kind_passes_the_cf_checker(synth_archive: T_Archive, tmp_path: Path) -> None:
    check = _checker(tmp_path)
    root = link_archives(tmp_path / "archive", [synth_archive(spec) for spec in MEMBERS])  # both members
    data = {
        "input_dirs": [str(root)], "output_dir": str(tmp_path / "out"), "models": "all", "variables": ["tas", "pr"],
        "regions": ["CONUS"], "scenarios": ["historical"], "window_years": 3, "min_years_for_normal": 2,
        "periods": {"historical": [2014, 2014]}, "products": PRODUCTS, "multiprocessing_workers": 1,
        "ensemble": {"statistics": ["mean", "median", "p10", "p90", "min", "max", "std"]},
    }  # fmt: skip
    summary = run(parse_config(data))
    assert summary.failures == [] and summary.written == 2 * 5 * 3
    index = OutputIndex.load(tmp_path / "out")
    kinds = {(r.variable, r.product, r.is_ensemble): r for r in index.records}
    assert len(kinds) == 2 * 5 * 2
    found = {f"{r.path}: {e}" for r in kinds.values() for e in _errors(check(str(index.path(r))))}
    assert found == set()


INDICATOR_SPEC = replace(SPEC, variables=("tas", "tasmin", "pr"))
INDICATORS = [
    {"index": "frost_days"},  # days, summed within years
    {"index": "tn_min", "freq": "MS"},  # K, a minimum within months
    {"index": "last_spring_frost"},  # a day of year: 1, a point within years
    {"index": "frost_free_season_length"},
    {"index": "tn10p", "base_period": [2010, 2012], "freq": "QS-DEC"},  # seasons
    {"index": "heating_degree_days", "thresh": "65 degF"},  # K days
    {"index": "prcptot"},  # mm
    {"index": "max_1day_precipitation_amount"},  # mm/day
    {"index": "fraction_over_precip_doy_thresh", "base_period": [2010, 2012]},  # a fraction: 1
]


def test_every_indicator_output_kind_passes_the_cf_checker(synth_archive: T_Archive, tmp_path: Path) -> None:
    """Indicators of every kind of units and cell method, with window statistics, and their ensemble statistics."""
    check = _checker(tmp_path)
    members = (replace(INDICATOR_SPEC, model="CF-A"), replace(INDICATOR_SPEC, model="CF-B", noise=1))
    root = link_archives(tmp_path / "archive", [synth_archive(spec) for spec in members])
    data = {
        "input_dirs": [str(root)], "output_dir": str(tmp_path / "out"), "models": "all",
        "variables": ["tas", "tasmin", "pr"], "regions": ["CONUS"], "scenarios": ["historical"], "window_years": 3,
        "min_years_for_normal": 2, "periods": {"historical": [2014, 2014]}, "products": ["annual"],
        "multiprocessing_workers": 1, "ensemble": {"statistics": ["mean", "p90"]}, "indicators": INDICATORS,
        "window_statistics": ["mean", "std", "median", "p10"],
    }  # fmt: skip
    summary = run(parse_config(data))
    assert summary.failures == [] and summary.written == 3 * (3 + len(INDICATORS))
    index = OutputIndex.load(tmp_path / "out")
    records = [r for r in index.records if r.indicator is not None]
    assert {r.product for r in records} == {i["index"] for i in INDICATORS}
    found = {f"{r.path}: {e}" for r in records for e in _errors(check(str(index.path(r))))}
    assert found == set()
