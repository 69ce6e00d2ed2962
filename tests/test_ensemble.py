"""Ensembles: several members in one run, their outputs as one-member runs make them, and the multi-model
statistics against an independent float64 computation from the member outputs.

Four synthetic members that differ the way real ones do (their own offset, weather and warming), in three
calendars (noleap, 360_day, standard); one member has no tasmax (as CESM2 in NEX-GDDP-CMIP6), another no ssp585.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

from climnorm.config.model import parse_config
from climnorm.outputs.verify import verify_outputs
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec, file_path, write_archive, write_year
from climnorm.write.manifest import manifest_outputs
from reference import assert_close_with_same_nans

STATISTICS = ["mean", "median", "p10", "p90", "min", "max", "std"]
_BASE = SynthSpec(
    variables=("tas", "tasmax"),
    scenarios=("historical", "ssp245", "ssp585"),
    historical_years=(2008, 2014),
    scenario_years=(2015, 2018),
    resolution=5.0,
    box=(20.0, 75.0, 160.0, 300.0),
    holes=0.25,
    layout="s3",
)
MEMBERS = {
    "ESM-A": replace(
        _BASE, **{"model": "ESM-A", "calendar": "noleap", "noise": 1, "warming": (("ssp245", 0.3), ("ssp585", 0.8))}
    ),
    "ESM-B": SynthSpec(
        **{
            **_BASE.__dict__,
            "model": "ESM-B",
            "calendar": "360_day",
            "offset": 1.2,
            "noise": 2,
            "warming": (("ssp245", 0.5),),
        }
    ),
    "ESM-C": SynthSpec(
        **{
            **_BASE.__dict__,
            "model": "ESM-C",
            "calendar": "standard",
            "offset": -0.7,
            "noise": 3,
            "scenarios": ("historical", "ssp245"),
        }
    ),
    "ESM-D": replace(
        _BASE, **{"model": "ESM-D", "calendar": "noleap", "offset": 0.4, "noise": 4, "variables": ("tas",)}
    ),
}
TARGETS = {"historical": [2012, 2013, 2014], "ssp245": [2015, 2016, 2017, 2018], "ssp585": [2015, 2016, 2017, 2018]}


def _config(archive: Path, out: Path, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "input_dirs": [str(archive)],
        "output_dir": str(out),
        "variables": ["tas", "tasmax"],
        "regions": ["CONUS", "AK"],
        "scenarios": ["historical", "ssp245", "ssp585"],
        "window_years": 5,
        "min_years_for_normal": 4,
        "periods": {"historical": [2012, 2014], "hybrid": [2015, 2018]},
        "multiprocessing_workers": 2,
    }
    data.update(extra)
    return data


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ensemble") / "archive"
    for spec in MEMBERS.values():
        write_archive(root, spec)
    return root


@pytest.fixture(scope="module")
def ensemble_run(archive: Path) -> tuple[Path, Any]:
    out = archive.parent / "out"
    summary = run(parse_config(_config(archive, out, models="all", ensemble={"statistics": STATISTICS})))
    return out, summary


def _records(out: Path) -> list[dict[str, Any]]:
    return manifest_outputs(out)


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["variable"], r["region"], r["scenario"], r["period"], r["target_year"])


def test_one_run_writes_every_member_and_the_ensemble(ensemble_run: tuple[Path, Any]) -> None:
    out, summary = ensemble_run
    assert summary.failures == [], summary.failures[:3]
    records = _records(out)
    by_model: dict[str, set[tuple[Any, ...]]] = {}
    for r in records:
        by_model.setdefault(r["model"], set()).add(_key(r))
    outputs = {("tas", "tasmax"): 2 * 11, ("tas",): 2 * 11}  # 2 regions x (3 historical + 4 + 4 targets)
    assert len(by_model["ESM-A"]) == len(by_model["ESM-B"]) == 2 * 2 * 11
    assert len(by_model["ESM-C"]) == 2 * 2 * 7  # no ssp585
    assert len(by_model["ESM-D"]) == outputs[("tas",)]  # no tasmax
    assert by_model["ensemble"] == by_model["ESM-A"]
    members = {_key(r): r["members"] for r in records if r["model"] == "ensemble"}
    assert members[("tasmax", "AK", "ssp585", "hybrid", 2016)] == ["ESM-A r1i1p1f1", "ESM-B r1i1p1f1"]
    assert len(members[("tas", "CONUS", "ssp245", "hybrid", 2017)]) == 4
    # per-member paths have the model in them; the ensemble has a folder of its own
    paths = {r["path"] for r in records}
    assert "ESM-B/tas/AK/ssp245/tas_ESM-B_AK_ssp245_hybrid_2016_5yr_normal.nc" in paths
    assert "ensemble/tas/AK/ssp245/tas_ensemble_AK_ssp245_hybrid_2016_5yr_normal.nc" in paths
    assert verify_outputs(out)[1] == []


def test_members_lacking_a_variable_or_a_scenario_are_reported_once(ensemble_run: tuple[Path, Any]) -> None:
    out, _ = ensemble_run
    log = next((out / "logs").glob("run-*.log")).read_text()
    assert log.count("ESM-D r1i1p1f1: no files for tasmax; no outputs for them") == 1
    assert log.count("ESM-C r1i1p1f1: no ssp585 files for tas, tasmax; no ssp585 outputs for them") == 1


def test_member_outputs_equal_one_member_runs_bit_for_bit(archive: Path, ensemble_run: tuple[Path, Any]) -> None:
    out, _ = ensemble_run
    together = {(r["model"], *_key(r)): r["checksum"] for r in _records(out) if r["model"] != "ensemble"}
    scenarios = {"ESM-C": ["historical", "ssp245"]}
    for model in MEMBERS:
        alone = archive.parent / f"alone-{model}"
        config = _config(
            archive, alone, model=model, scenarios=scenarios.get(model, ["historical", "ssp245", "ssp585"])
        )
        if model == "ESM-D":
            config["variables"] = ["tas"]
        summary = run(parse_config(config))
        assert summary.failures == []
        records = _records(alone)
        assert records and all("/" + model + "/" not in "/" + r["path"] for r in records)  # today's paths
        for r in records:
            assert together[(model, *_key(r))] == r["checksum"], f"{model} {r['path']}"


# ---- the statistics against an independent computation -------------------------------------------------------
def _member_on_noleap(path: Path, variable: str) -> np.ndarray:
    """A member output's normal on the 365 (month, day) days of a common year: 29 February left out of 366-slot
    files (found by the file's month/day coordinates), 360_day slot floor(s * 360 / 365) for noleap slot s."""
    with netCDF4.Dataset(path) as ds:
        values = np.ma.filled(ds.variables[variable][:].astype(np.float64), np.nan)
        month = np.asarray(ds.variables["month"][:])
        day = np.asarray(ds.variables["day"][:])
    n = values.shape[0]
    if n == 365:
        return values
    if n == 366:
        keep = [i for i in range(366) if not (month[i] == 2 and day[i] == 29)]
        return values[keep]
    assert n == 360
    return values[[s * 360 // 365 for s in range(365)]]


def _expected(stack: np.ndarray, name: str) -> np.ndarray:
    """numpy's own reductions over the valid members of each cell (percentiles: per number of valid members,
    ``np.percentile`` on those members only, linear method)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
        if name == "mean":
            return np.nanmean(stack, axis=0)
        if name == "min":
            return np.nanmin(stack, axis=0)
        if name == "max":
            return np.nanmax(stack, axis=0)
        if name == "std":
            return np.nanstd(stack, axis=0, ddof=0)
    q = 50.0 if name == "median" else float(name[1:])
    n = (~np.isnan(stack)).sum(axis=0)
    out = np.full(stack.shape[1:], np.nan)
    for k in range(1, stack.shape[0] + 1):
        cells = n == k
        valid = np.sort(stack[:, cells], axis=0)[:k]  # NaN sort last
        out[cells] = np.median(valid, axis=0) if name == "median" else np.percentile(valid, q, axis=0)
    return out


def test_every_statistic_equals_an_independent_computation(ensemble_run: tuple[Path, Any]) -> None:
    out, _ = ensemble_run
    records = _records(out)
    paths = {(r["model"], r["variant"], *_key(r)): out / r["path"] for r in records}
    masked = valid = 0
    chosen = [r for r in records if r["model"] == "ensemble"]
    assert len(chosen) == 2 * 2 * 11
    for r in chosen:
        members = [m.split() for m in r["members"]]
        stack = np.stack([_member_on_noleap(paths[(m, v, *_key(r))], r["variable"]) for m, v in members])
        n = (~np.isnan(stack)).sum(axis=0)
        need = r["min_members"]
        assert need == 2  # half of the four members, rounded up
        with netCDF4.Dataset(out / r["path"]) as ds:
            assert np.array_equal(np.asarray(ds.variables["n_members"][:]), n), r["path"]
            assert ds.variables["time"].calendar == "noleap" and len(ds.dimensions["time"]) == 365
            for name in STATISTICS:
                got = np.ma.filled(ds.variables[f"{r['variable']}_{name}"][:].astype(np.float64), np.nan)
                want = np.where(n >= need, _expected(stack, name), np.nan)
                assert_close_with_same_nans(got, want, rtol=1e-6, what=f"{r['path']} {name}")
        masked += int(((n > 0) & (n < need)).sum())
        valid += int((n >= need).sum())
    assert masked > 0 and valid > 0, "the data did not exercise min_members masking"


def test_different_grids_are_refused_for_the_ensemble(tmp_path: Path) -> None:
    coarse = replace(MEMBERS["ESM-A"], **{"model": "ESM-X", "resolution": 10.0, "variables": ("tas",)})
    fine = replace(MEMBERS["ESM-A"], **{"variables": ("tas",)})
    for spec in (coarse, fine):
        write_archive(tmp_path / "in", spec)
    config = _config(tmp_path / "in", tmp_path / "out", variables=["tas"], models="all", ensemble={})
    config["periods"] = {"historical": [2014, 2014]}
    config["scenarios"] = ["historical"]
    summary = run(parse_config(config))
    assert summary.exit_code == 1
    assert any(
        "ensemble/tas/AK/historical" in f and "members on different grids: ESM-A r1i1p1f1 (lat=" in f
        for f in summary.failures
    ), summary.failures
    records = _records(tmp_path / "out")
    assert {r["model"] for r in records} == {"ESM-A", "ESM-X"}  # the members themselves are written


# ---- resume --------------------------------------------------------------------------------------------------
def test_resume_recomputes_exactly_what_a_changed_member_file_affects(archive: Path, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    os.symlink(archive, root)  # the same files, found through another path: a run of its own
    out = tmp_path / "out"
    config = parse_config(_config(root, out, models="all", ensemble={"statistics": ["mean", "p90"]}))
    assert run(config).failures == []
    before = {r["path"]: r for r in _records(out)}

    # the same content, a new mtime: the member's outputs of windows with that year are recomputed, but come out
    # identical, so no ensemble output changes
    changed = file_path(root, MEMBERS["ESM-B"], "tas", "ssp245", 2016)
    os.utime(changed, (changed.stat().st_atime, changed.stat().st_mtime + 100))
    again = run(config)
    assert again.failures == [] and again.written == 2 * 3  # ESM-B tas ssp245 2016-2018, 2 regions
    assert again.up_to_date == len(before) - again.written

    # new values in that file: the same member outputs, and exactly the ensembles that combine them
    spec = replace(MEMBERS["ESM-B"], **{"offset": 3.0})
    write_year(changed, spec, "tas", "ssp245", 2016)
    third = run(config)
    after = {r["path"]: r for r in _records(out)}
    rewritten = {p for p in after if after[p]["checksum"] != before[p]["checksum"]}
    expected = {
        p
        for p, r in after.items()
        if r["variable"] == "tas"
        and r["scenario"] == "ssp245"
        and r["target_year"] >= 2016
        and r["model"] in ("ESM-B", "ensemble")
    }
    assert rewritten == expected and len(expected) == 2 * 2 * 3
    assert third.written == len(expected)


# ---- what the commands show ---------------------------------------------------------------------------------
def test_plan_and_catalog_show_the_members_table(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from climnorm.cli import main

    config = tmp_path / "job.yaml"
    config.write_text(json.dumps(_config(archive, tmp_path / "out", models="all", ensemble={})))
    assert main(["-q", "plan", str(config)]) == 0
    out = capsys.readouterr().out
    assert "model 4 members" in " ".join(out.split())
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5 and "ESM-" in line}
    assert set(rows) == set(MEMBERS)
    cells = [c.strip() for c in rows["ESM-D"].split("│")[3:-1]]
    assert cells == ["7", "4", "4", "-", "-", "-"]  # tas historical/ssp245/ssp585, then no tasmax
    said = " ".join(out.split())
    assert (
        "ensemble outputs: 44 to compute, 0 up to date, 0 cannot be computed (mean, median, p10, p90; at least 2"
        in said
    )
    assert main(["-q", "plan", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["model"] for m in data["members"]] == list(MEMBERS) and len(data["ensembles"]) == 44
    assert main(["-q", "catalog", str(archive)]) == 0
    assert "members (complete years per variable and scenario)" in capsys.readouterr().out


def test_summary_and_progress_count_members(ensemble_run: tuple[Path, Any]) -> None:
    import io

    from rich.console import Console

    from climnorm.cli.tables import summary_table
    from climnorm.events import NormalSkipped, NormalWritten, RunStarted
    from climnorm.progress import Tracker

    _, summary = ensemble_run
    console = Console(file=io.StringIO(), width=120)
    summary_table(summary, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if "│" in line and "ESM" in line}
    assert "22/0/0" in lines["ESM-D r1i1p1f1"] and "0/0/0" in lines["ESM-D r1i1p1f1"]  # tas, no tasmax
    assert any("ensemble" in line and "22/0/0" in line for line in text.splitlines())

    tracker = Tracker()
    tracker.handle(
        RunStarted("2 members", ("tas",), ("historical",), ("AK",), {"tas": 2}, {"tas": 3}, {"A x": 2, "B x": 1})
    )
    assert tracker.members_line() == "members 0/2"
    tracker.handle(NormalWritten("tas", "AK", "historical", "historical", 2000, "a/1.nc", 0.1, "A x"))
    tracker.handle(NormalSkipped("tas", "AK", "historical", "historical", 2001, "short", "A x"))
    tracker.handle(NormalWritten("tas", "AK", "historical", "historical", 2000, "b/1.nc", 0.1, "B x"))
    assert tracker.members_line() == "members 2/2" and tracker.counts_line().startswith("members 2/2, files")


def test_county_tables_and_pictures_of_ensemble_statistics(ensemble_run: tuple[Path, Any], tmp_path: Path) -> None:
    """The zonal table of an ensemble output has a row per statistic (not n_members); the choropleth shows the
    asked-for statistic, the ensemble mean by default, or a member's own normal."""
    pytest.importorskip("pyogrio", reason="the zonal extra is not installed")
    from shapely.geometry import box

    from climnorm.errors import PlotError
    from climnorm.pictures import counties
    from climnorm.pictures.normals import Selection
    from climnorm.zonal import zonal_table
    from climnorm.zonal.table import ZonalRequest
    from zonal_files import write_vector

    out, _ = ensemble_run
    shapes = write_vector(tmp_path / "s.geojson", [box(-105, 35, -95, 45), box(-90, 30, -80, 40)], ["a", "b"])
    table = zonal_table(out, shapes, "id", scenarios=["ssp245"], regions=["CONUS"], variables=["tas"])
    assert set(table.loc[table["model"] == "ensemble", "statistic"]) == set(STATISTICS)
    assert set(table.loc[table["model"] == "ESM-B", "statistic"]) == {""}
    assert set(table["variable"]) == {"tas"}
    request = ZonalRequest(shapes, "id")
    one = table[(table["target_year"] == 2017) & (table["period"] == "hybrid")]
    for model, statistic in (("ensemble", "p90"), ("ensemble", "mean"), ("ESM-B", "")):
        chosen = Selection(
            "tas", "CONUS", ("ssp245",), 2017,
            model=None if model == "ensemble" else model, statistic=None if statistic == "mean" else statistic or None,
        )  # fmt: skip
        fig = counties.counties_figure(out, chosen, request=request)
        rows = one[(one["model"] == model) & (one["statistic"] == statistic)].groupby("id", observed=True, sort=True)
        shown = next(iter(fig.axes[0].collections)).get_array()
        np.testing.assert_allclose(shown, rows["value"].mean().to_numpy() - 273.15, rtol=1e-9)
    with pytest.raises(PlotError, match=r"no 'q5' statistic \(it has: max, mean, median, min, p10, p90, std\)"):
        counties.counties_figure(out, Selection("tas", "CONUS", ("ssp245",), 2017, statistic="q5"), request=request)
