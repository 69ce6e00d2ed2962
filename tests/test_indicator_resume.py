"""Resume with indicators: a changed parameter recomputes exactly that indicator's outputs; a changed file of a base
period recomputes the outputs whose thresholds it made, even outside their windows; a base period the archive
lacks is told by the plan, before any data is read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import netCDF4

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.outputs.index import OutputIndex
from climnorm.plan.build import make_plan
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from climnorm.synth.archive import file_path
from conftest import T_Archive

SPEC = SynthSpec(variables=("tasmax",), historical_years=(2001, 2014), resolution=10.0, box=(30.0, 50.0, 250.0, 280.0))
INDICATORS = [
    {"index": "tx_days_above", "id": "hot", "thresh": "25 degC"},
    {"index": "tx_days_above", "id": "hotter", "thresh": "30 degC"},
    {"index": "tx90p", "base_period": [2001, 2005]},
]


def _config(archive: Path, out: Path, indicators: list[dict[str, Any]] = INDICATORS) -> dict[str, Any]:
    return {
        "input_dirs": [str(archive)], "output_dir": str(out), "variables": ["tasmax"], "regions": ["all"],
        "scenarios": ["historical"], "window_years": 4, "min_years_for_normal": 3,
        "periods": {"historical": [2013, 2014]}, "multiprocessing_workers": 1, "indicators": indicators,
    }  # fmt: skip


def _written(out: Path) -> dict[str, int]:
    """Outputs per product, by the number of times their files were written (their mtime_ns as a proxy)."""
    return {r.path: os.stat(out / r.path).st_mtime_ns for r in OutputIndex.load(out).records}


def test_a_changed_parameter_recomputes_exactly_its_indicator(synth_archive: T_Archive, tmp_path: Path) -> None:
    archive, out = synth_archive(SPEC), tmp_path / "out"
    first = run(parse_config(_config(archive, out)))
    assert first.written == 2 * 4 and first.failures == []  # daily and three indicators, two targets
    before = _written(out)
    changed = [dict(INDICATORS[0]), {**INDICATORS[1], "thresh": "31 degC"}, dict(INDICATORS[2])]
    second = run(parse_config(_config(archive, out, changed)))
    assert second.written == 2 and second.up_to_date == 6
    after = _written(out)
    assert {p for p in after if after[p] != before[p]} == {p for p in after if "_hotter_" in p}


def test_a_changed_base_year_recomputes_the_outputs_of_its_thresholds(synth_archive: T_Archive, tmp_path: Path) -> None:
    """2002 is in tx90p's base period, in no window (2010-2014): tx90p is recomputed, nothing else."""
    source = synth_archive(SPEC)
    archive = tmp_path / "archive"
    for path in source.rglob("*.nc"):  # a copy to change
        target = archive / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    out = tmp_path / "out"
    run(parse_config(_config(archive, out)))
    records = {r.product: r for r in OutputIndex.load(out).records if r.target_year == 2014}
    assert any("2002" in str(i["path"]) for i in records["tx90p"].inputs)  # its base period's files are inputs
    assert not any("2002" in str(i["path"]) for i in records["hot"].inputs)
    before = _written(out)
    with netCDF4.Dataset(file_path(archive, SPEC, "tasmax", "historical", 2002), "a") as ds:
        ds["tasmax"][:] = ds["tasmax"][:] + 8.0  # a much hotter base year: lower exceedance counts afterwards
    summary = run(parse_config(_config(archive, out)))
    assert summary.written == 2 and summary.up_to_date == 6
    after = _written(out)
    assert {p for p in after if after[p] != before[p]} == {p for p in after if "_tx90p_" in p}


def test_an_incomplete_base_period_is_told_by_the_plan(synth_archive: T_Archive, tmp_path: Path) -> None:
    archive = synth_archive(SPEC)
    indicators = [{"index": "tx90p", "base_period": [1995, 2004]}, INDICATORS[0]]
    config = parse_config(_config(archive, tmp_path / "out", indicators))
    plan = make_plan(config, build_catalog(config.input_dirs))
    assert len(plan.pending) == 2 * 2  # daily and hot; tx90p cannot be computed
    lines = plan.skip_lines()
    assert len(lines) == 1 and "tx90p" in lines[0] and "base period 1995-2004 is incomplete" in lines[0]
    assert "missing 1995-2000" in lines[0]
    summary = run(config)
    assert summary.failures == [] and summary.written == 4 and len(summary.skipped) == 2
