"""End-to-end behaviour of a run: outputs, manifest, resume, leftovers, verify, skipped targets."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from climnorm._atomic import TMP_MARK
from climnorm.config.model import Config, parse_config
from climnorm.errors import OutputError
from climnorm.outputs.verify import verify_outputs
from climnorm.runner.pipeline import prepare, run
from climnorm.synth import SynthSpec, write_archive
from climnorm.write.manifest import manifest_outputs

SPEC = SynthSpec(
    variables=("tas", "pr"),
    scenarios=("historical", "ssp245"),
    historical_years=(2001, 2014),
    scenario_years=(2015, 2020),
    calendar="noleap",
    resolution=5.0,
    box=(15.0, 75.0, 140.0, 300.0),
    holes=0.01,
)


def _config(root: Path, **extra: object) -> Config:
    data: dict[str, object] = {
        "input_dirs": [str(root / "archive")],
        "output_dir": str(root / "out"),
        "variables": ["tas", "pr"],
        "regions": ["CONUS", "AK", {"name": "DATELINE", "lat_min": 50, "lat_max": 70, "lon_min": 170, "lon_max": -170}],
        "scenarios": ["historical", "ssp245"],
        "window_years": 6,
        "min_years_for_normal": 5,
        "periods": {"historical": [2012, 2014], "hybrid": [2015, 2017], "future": [2019, 2020]},
        "multiprocessing_workers": 1,
    }
    data.update(extra)
    return parse_config(data)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    write_archive(root / "archive", SPEC)
    return root


@pytest.fixture
def workdir(archive: Path, tmp_path: Path) -> Path:
    (tmp_path / "archive").symlink_to(archive / "archive")
    return tmp_path


def _outputs(config: Config) -> dict[str, float]:
    return {str(p.relative_to(config.output_dir)): p.stat().st_mtime_ns for p in config.output_dir.rglob("*.nc")}


def test_run_writes_every_output_with_manifest(workdir: Path) -> None:
    config = _config(workdir)
    summary = run(config)
    n_targets = 2 * (3 + 3 + 2)  # variables x (historical + hybrid + future targets)
    assert summary.exit_code == 0, summary.failures
    assert summary.written == n_targets * 3
    files = _outputs(config)
    assert len(files) == n_targets * 3
    assert "tas/AK/ssp245/tas_AK_ssp245_hybrid_2016_6yr_normal.nc" in files
    entries = {e["path"]: e for e in manifest_outputs(config.output_dir)}
    assert set(entries) == set(files)
    entry = entries["tas/AK/ssp245/tas_AK_ssp245_hybrid_2016_6yr_normal.nc"]
    assert entry["years"] == list(range(2011, 2017))
    assert [Path(i["path"]).name[-7:-3] for i in entry["inputs"]] == [str(y) for y in range(2011, 2017)]
    assert {k for k in entry} >= {
        "path",
        "variable",
        "region",
        "scenario",
        "period",
        "target_year",
        "window_years",
        "years",
        "inputs",
        "checksum",
    }
    # historical files were read once although three streams use them
    assert summary.files_read == 2 * (8 + 6)  # 2007-2014 once for both scenarios, 2015-2020
    checked, problems = verify_outputs(config.output_dir)
    assert checked == len(files) and problems == []


def test_output_layout_and_attributes(workdir: Path) -> None:
    config = _config(workdir)
    run(config)
    path = config.output_dir / "tas/DATELINE/ssp245/tas_DATELINE_ssp245_hybrid_2015_6yr_normal.nc"
    with netCDF4.Dataset(path) as ds:
        assert ds.variables["tas"].dimensions == ("time", "lat", "lon")
        assert len(ds.dimensions["time"]) == 365
        lon = ds.variables["lon"][:]
        assert np.all(np.diff(lon) > 0) and lon[0] == pytest.approx(172.5) and lon[-1] == pytest.approx(187.5)
        assert ds.variables["time"].climatology == "climatology_bnds"
        assert ds.variables["tas"].cell_methods == "time: mean within years time: mean over years"
        assert ds.getncattr("scenarios") == "historical ssp245"
        assert int(ds.number_of_years) == 6 and ds.source_years == "2010-2015"
        assert ds.period == "hybrid" and int(ds.target_year) == 2015 and ds.leap_day == "calendar_day"
        bounds = ds.variables["climatology_bnds"][:]
        units, calendar = ds.variables["time"].units, ds.variables["time"].calendar
    first = netCDF4.num2date(bounds[0, 0], units, calendar)
    last = netCDF4.num2date(bounds[0, 1], units, calendar)
    assert (first.year, first.month, first.day) == (2010, 1, 1)
    assert (last.year, last.month, last.day) == (2015, 1, 2)


def test_second_run_writes_nothing_and_reads_nothing(workdir: Path) -> None:
    config = _config(workdir)
    run(config)
    before = _outputs(config)
    again = run(config)
    assert again.written == 0 and again.files_read == 0 and again.up_to_date == len(before)
    assert _outputs(config) == before
    plan, _ = prepare(config)
    assert plan.pending == []


def test_touching_one_input_recomputes_exactly_its_windows(workdir: Path) -> None:
    config = _config(workdir)
    run(config)
    before = _outputs(config)
    touched = next((workdir / "archive").rglob("tas_day_*_historical_*_2013.nc"))
    os.utime(touched, (touched.stat().st_atime, touched.stat().st_mtime + 10))
    again = run(config)
    changed = {p for p, m in _outputs(config).items() if before[p] != m}
    # tas windows containing 2013: historical 2013, 2014; hybrid 2015-2017 (window 6 -> up to 2018: none)
    expected = {
        f"tas/{r}/{s}/tas_{r}_{s}_{p}_{t}_6yr_normal.nc"
        for r in ("CONUS", "AK", "DATELINE")
        for s, p, t in [
            ("historical", "historical", 2013),
            ("historical", "historical", 2014),
            ("ssp245", "hybrid", 2015),
            ("ssp245", "hybrid", 2016),
            ("ssp245", "hybrid", 2017),
        ]
    }
    assert changed == expected
    assert again.written == len(expected)


def test_force_recomputes_everything_identically(workdir: Path) -> None:
    config = _config(workdir)
    run(config)
    first = manifest_outputs(config.output_dir)
    forced = run(config, force=True)
    assert forced.written == len(first)
    second = manifest_outputs(config.output_dir)
    assert [e["checksum"] for e in first] == [e["checksum"] for e in second]


def test_missing_output_is_recomputed_a_truncated_one_verified_and_leftovers_removed(workdir: Path) -> None:
    """A missing output is recomputed. A truncated one whose file is still there is kept (resume trusts the
    recorded size, opening no output): `verify` reports it, and once its file is removed the run recomputes it."""
    config = _config(workdir)
    run(config)
    victim = config.output_dir / "pr/CONUS/historical/pr_CONUS_historical_historical_2013_6yr_normal.nc"
    victim.write_bytes(victim.read_bytes()[:100])
    gone = config.output_dir / "tas/AK/ssp245/tas_AK_ssp245_future_2020_6yr_normal.nc"
    gone.unlink()
    leftover = victim.with_name(f".{victim.name}.999{TMP_MARK}")
    leftover.write_bytes(b"half")
    assert len(verify_outputs(config.output_dir)[1]) == 2
    again = run(config)
    assert again.written == 1 and again.removed_leftovers == 1
    assert not leftover.exists() and gone.exists()
    problems = verify_outputs(config.output_dir)[1]
    assert len(problems) == 1 and problems[0].startswith(f"{victim.relative_to(config.output_dir).as_posix()}: ")
    victim.unlink()
    assert run(config).written == 1
    assert verify_outputs(config.output_dir)[1] == []


def test_verify_reports_tampered_data(workdir: Path) -> None:
    config = _config(workdir)
    run(config)
    path = config.output_dir / "tas/CONUS/ssp245/tas_CONUS_ssp245_future_2019_6yr_normal.nc"
    with netCDF4.Dataset(path, "a") as ds:
        ds.variables["tas"][0, 0, 0] = 1.0
        ds.period = "hybrid"
    _, problems = verify_outputs(config.output_dir)
    assert len(problems) == 2
    assert all(p.startswith("tas/CONUS/ssp245/tas_CONUS_ssp245_future_2019_6yr_normal.nc: ") for p in problems)
    assert any("checksum" in p for p in problems) and any("period" in p for p in problems)


def test_missing_years_shorten_or_skip_windows(workdir: Path, tmp_path: Path) -> None:
    # a private archive copy without tas 2012 and 2013 (links, so the module archive stays intact)
    root = tmp_path / "holey"
    for src in (workdir / "archive").rglob("*.nc"):
        if src.name.startswith("tas_") and src.name.endswith(("_2012.nc", "_2013.nc")):
            continue
        dst = root / src.relative_to(workdir / "archive")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
    config = _config(
        tmp_path, input_dirs=[str(root)], output_dir=str(tmp_path / "out2"), variables=["tas"], min_years_for_normal=5
    )
    summary = run(config)
    assert summary.exit_code == 0
    # window 2009-2014 lacks 2012, 2013 -> 4 years < 5: skipped, naming the missing years
    assert any("2014" in s and "2012-2013" in s for s in summary.skipped)
    short = config.output_dir / "tas/AK/ssp245/tas_AK_ssp245_future_2019_6yr_normal.nc"
    with netCDF4.Dataset(short) as ds:
        assert int(ds.number_of_years) == 6
    # 2017 window 2012-2017 misses 2 years -> skipped; 2018 absent from periods
    plan, _ = prepare(config)
    reasons = {(o.target.year, o.target.scenario): o.target.reason for o in plan.outputs if not o.target.computable}
    assert (2017, "ssp245") in reasons and "2012-2013" in reasons[(2017, "ssp245")]


def test_unreadable_input_fails_only_its_windows(workdir: Path, tmp_path: Path) -> None:
    root = tmp_path / "broken"
    for src in (workdir / "archive").rglob("tas_*.nc"):
        dst = root / src.relative_to(workdir / "archive")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.name.endswith("_2016.nc"):
            dst.write_bytes(b"this is not netcdf")
        else:
            dst.symlink_to(src)
    config = _config(
        tmp_path, input_dirs=[str(root)], output_dir=str(tmp_path / "out3"), variables=["tas"], min_years_for_normal=6
    )
    summary = run(config)
    assert summary.exit_code == 1
    assert any("_2016.nc" in f and "not a NetCDF" in f for f in summary.failures)
    names = {p.name for p in config.output_dir.rglob("*.nc")}
    assert "tas_AK_ssp245_hybrid_2015_6yr_normal.nc" in names  # window 2010-2015 does not need 2016
    assert "tas_AK_ssp245_hybrid_2016_6yr_normal.nc" not in names  # 5 of 6 years < minimum 6
    assert "tas_AK_historical_historical_2014_6yr_normal.nc" in names


def test_the_demo_job_plans_every_member_and_their_ensemble(tmp_path: Path) -> None:
    """The demo's whole job, planned over the demo archive's names (planning reads none of the data): 3 members x
    (4 variables x its products + its indicators) x 5 regions x its 9 targets, and their ensemble, all computable."""
    import yaml

    from climnorm.catalog.scan import build_catalog
    from climnorm.config.model import parse_config
    from climnorm.plan.build import make_plan
    from climnorm.synth.archive import archive_plan, file_path
    from climnorm.synth.demo import DEMO_MEMBERS, demo_config_text

    for spec in DEMO_MEMBERS:
        for item in archive_plan(spec):
            path = file_path(tmp_path / "archive", spec, item.variable, item.scenario, item.year, item.version)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    data = yaml.safe_load(demo_config_text())
    config = parse_config({**data, "zonal": []}, base_dir=tmp_path)
    plan = make_plan(config, build_catalog(config.input_dirs))
    # (variables x products + indicators, each of one variable) x regions x targets
    per_member = (4 * len(config.products) + len(config.indicators)) * 5 * (1 + 2 * (2 + 2))
    assert len(plan.members) == 3 and len(plan.pending) == 3 * per_member == len(plan.outputs)
    # every output's change against the 1985-2014 baseline (the historical target), and the ensemble's of both
    assert len(plan.changes) == len(plan.outputs) and all(c.computable for c in plan.changes)
    assert len(plan.ensembles) == 2 * per_member and plan.skips == [] and plan.problems == []


def test_the_demo_command_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`climnorm demo` as a user runs it (the archive made on the fly, the job run, the result shown), on the demo
    cut to one variable, two regions and a few years so that it takes seconds; the whole job's counts are the
    test above's."""
    import yaml

    from climnorm.cli import main
    from climnorm.synth import demo

    short = {"variables": ("tas",), "historical_years": (2011, 2014), "scenario_years": (2015, 2017)}
    monkeypatch.setattr(demo, "DEMO_MEMBERS", tuple(replace(s, **short) for s in demo.DEMO_MEMBERS))  # type: ignore[arg-type]
    whole = yaml.safe_load(demo.demo_config_text())
    data = {
        **whole, "variables": ["tas"], "regions": ["HI", "PRVI"], "window_years": 3, "min_years_for_normal": 3,
        "indicators": [i for i in whole["indicators"] if i["index"] == "heating_degree_days"],  # the one of tas
        "periods": {"historical": [2013, 2014], "hybrid": [2015, 2016], "future": [2017, 2017]},
        "changes": {"baseline": 2014},
    }  # fmt: skip
    monkeypatch.setattr(demo, "demo_config_text", lambda: yaml.safe_dump(data))
    assert main(["demo", str(tmp_path / "demo"), "--workers", "2"]) == 0
    out = tmp_path / "demo" / "output"
    per_member = 2 * (2 + 2 * (2 + 1)) * (len(data["products"]) + 1)  # regions x targets x (products + indicator)
    # each normal and its change against 2014, the members' and the ensemble's
    assert len(list(out.rglob("*.nc"))) == 2 * (3 * per_member + per_member)
    assert len(list((out / "ensemble").rglob("*.nc"))) == 2 * per_member
    assert verify_outputs(out)[1] == []


def test_fast_read_path_is_used_counted_and_changes_nothing(workdir: Path, tmp_path: Path) -> None:
    fast = run(_config(workdir))
    slow = run(_config(workdir, output_dir=str(tmp_path / "slow"), fast_read=False))
    assert fast.files_read == slow.files_read > 0
    assert fast.fast_reads == fast.files_read and slow.fast_reads == 0
    a = manifest_outputs(workdir / "out")
    b = manifest_outputs(tmp_path / "slow")
    assert [r["checksum"] for r in a] == [r["checksum"] for r in b]


def test_window_years_are_parked_in_scratch_dir_without_changing_outputs(workdir: Path, tmp_path: Path) -> None:
    """Years held in memory (the default budget) and years all parked on disk give the same outputs."""
    default = run(_config(workdir))
    scratch = tmp_path / "scratch"
    elsewhere = run(_config(workdir, output_dir=str(tmp_path / "other"), scratch_dir=str(scratch), window_memory_gb=0))
    assert default.written == elsewhere.written > 0
    a = manifest_outputs(workdir / "out")
    b = manifest_outputs(tmp_path / "other")
    assert [r["checksum"] for r in a] == [r["checksum"] for r in b]
    assert list(scratch.iterdir()) == []  # the scratch file has no name and is gone with the run
    assert elsewhere.log_file is not None
    parked = [line for line in elsewhere.log_file.read_text().splitlines() if "parked on disk" in line]
    assert (
        len(parked) == 1
        and "at most 0 MB held in memory" in parked[0]
        and not parked[0].endswith(" 0 MB parked on disk at once")
    )
    assert default.log_file is not None
    held = [line for line in default.log_file.read_text().splitlines() if "held in memory" in line]
    assert len(held) == 1 and "at most 0 MB held" not in held[0] and held[0].endswith(" 0 MB parked on disk at once")


def test_unusable_scratch_dir_is_one_clear_error(workdir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError) as info:
        run(_config(workdir, scratch_dir=str(blocker / "scratch")))
    message = str(info.value)
    assert "\n" not in message
    assert str(blocker / "scratch") in message and "scratch_dir" in message
    assert not list((workdir / "out").rglob("*.nc"))
