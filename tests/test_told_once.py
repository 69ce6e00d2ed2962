"""What a new user sees first: what cannot be computed is told once per group, and every count the display, the
plan and the run's summary show is the number the run reaches (members, ensembles and products alike)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from climnorm.catalog.scan import build_catalog
from climnorm.cli import main
from climnorm.config.model import parse_config
from climnorm.events import NormalKept, NormalSkipped, NormalWritten, RunStarted, T_Event
from climnorm.plan.build import make_plan
from climnorm.progress.tracker import Tracker
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from climnorm.synth.archive import archive_plan, file_path
from climnorm.synth.demo import DEMO_MEMBERS
from conftest import T_Archive

VARIABLES = ["pr", "tas", "tasmax", "tasmin"]
REGIONS = ["CONUS", "AK", "HI", "PRVI", "GU"]
SCENARIOS = ["historical", "ssp245", "ssp585"]


def _demo_names(root: Path) -> Path:
    """The demo archive as names only (empty files): planning reads no data."""
    for spec in DEMO_MEMBERS:
        for item in archive_plan(spec):
            path = file_path(root, spec, item.variable, item.scenario, item.year, item.version)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return root


def test_the_demo_archive_with_the_default_periods_is_told_in_a_few_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo archive (1985-2049) with the default periods (1980-2014, 2015-2044, 2045-2100): 21,780 outputs
    cannot be computed; `climnorm plan` says so in a few lines, and `plan --json` lists every one."""
    archive = _demo_names(tmp_path / "archive")
    job = {
        "input_dirs": [str(archive)], "output_dir": str(tmp_path / "out"), "models": "all", "variables": VARIABLES,
        "regions": REGIONS, "scenarios": SCENARIOS, "ensemble": {}, "products": ["daily", "monthly", "annual"],
    }  # fmt: skip
    config = tmp_path / "job.yaml"
    config.write_text(json.dumps(job))
    assert main(["-q", "plan", str(config)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("!")]
    assert 0 < len(warnings) <= 20, warnings
    assert (
        "! SYNTH-A, SYNTH-B, SYNTH-C pr, tas, tasmax, tasmin AK, CONUS, GU, HI, PRVI ssp245 future 2055-2100 "
        "(×3 products): the archive ends in 2049; a window needs 25 of 30 years"
    ) in warnings  # 2050-2054 have 25 to 29 years of 30
    assert (
        "! SYNTH-A, SYNTH-B, SYNTH-C pr, tas, tasmax, tasmin AK, CONUS, GU, HI, PRVI historical historical 1980-2008 "
        "(×3 products): the archive begins in 1985; a window needs 25 of 30 years"
    ) in warnings
    assert main(["-q", "plan", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    per_target = 3 * 4 * 5 * 3  # members x variables x regions x products
    assert len(data["skipped"]) == per_target * ((2008 - 1980 + 1) + 2 * (2100 - 2055 + 1))
    assert "SYNTH-B r1i1p1f1 tasmin GU ssp585 future 2100 annual: skipped: only 0 of 30" in " ".join(data["skipped"])


SMALL = SynthSpec(
    variables=tuple(VARIABLES),
    scenarios=tuple(SCENARIOS),
    historical_years=(2013, 2014),
    scenario_years=(2015, 2015),
    resolution=1.875,  # as the demo's: every region holds cell centres, PRVI and GU included
    box=(12.0, 73.0, 143.0, 297.0),
)
SMALL_MEMBERS = (replace(SMALL, model="ONE-ESM"), replace(SMALL, model="TWO-ESM", calendar="360_day", noise=1))


def _tiny_archive(synth_archive: T_Archive, tmp_path: Path) -> Path:
    """Both members in one folder (links to the session's archives): ONE-ESM lacks ssp585 2015."""
    root = tmp_path / "archive"
    for spec in SMALL_MEMBERS:
        source = synth_archive(spec)
        for item in archive_plan(spec):
            if spec.model == "ONE-ESM" and (item.scenario, item.year) == ("ssp585", 2015):
                continue
            target = file_path(root, spec, item.variable, item.scenario, item.year, item.version)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(file_path(source, spec, item.variable, item.scenario, item.year, item.version))
    return root


def test_the_counts_shown_are_the_counts_reached(
    synth_archive: T_Archive, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two members, every variable, region and scenario, the default periods (most targets cannot be computed),
    two products, an ensemble with min_members 2: the plan's counts, the display's totals and the run's counts
    agree exactly, and the run's warnings are the plan's few lines.

    Window 2, both years needed: per variable, region and product, historical 2014, ssp245 2015 and ssp585 2015
    of TWO-ESM only (ONE-ESM has no ssp585 files), so the ensemble of ssp585 2015 has one member: skipped."""
    data = {
        "input_dirs": [str(_tiny_archive(synth_archive, tmp_path))], "output_dir": str(tmp_path / "out"),
        "models": "all", "variables": VARIABLES, "regions": REGIONS, "scenarios": SCENARIOS, "window_years": 2,
        "min_years_for_normal": 2, "products": ["daily", "annual"], "ensemble": {"min_members": 2},
        "compression": {"zlib": False}, "multiprocessing_workers": 1,
    }  # fmt: skip
    config = parse_config(data)
    plan = make_plan(config, build_catalog(config.input_dirs))
    members_todo, ensembles_todo = len(plan.pending), sum(not e.up_to_date for e in plan.ensembles)
    outputs = 4 * 5 * 2  # variables x regions x products, of each target
    assert members_todo == outputs * (2 + 2 + 1)
    assert ensembles_todo == outputs * (1 + 1)
    assert sum(s.member == "ensemble" for s in plan.skips) == outputs  # ssp585 2015
    events: list[T_Event] = []
    with caplog.at_level(logging.INFO, logger="climnorm"):
        summary = run(config, on_event=events.append)
    tracker = Tracker()
    for event in events:
        tracker.handle(event)
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    totals = tracker.totals()
    assert sum(started.normals_total.values()) == members_todo + ensembles_todo == totals.normals_total
    assert summary.written == totals.normals_done == members_todo + ensembles_todo
    assert sum(isinstance(e, NormalWritten) for e in events) == summary.written
    assert not any(isinstance(e, NormalKept) for e in events) and summary.failures == []
    skipped = sum(isinstance(e, NormalSkipped) for e in events)
    assert skipped == totals.skipped == len(summary.skipped) == len(plan.skips)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == plan.problems + plan.skip_lines() and len(warnings) <= 20
    assert "ensemble pr, tas, tasmax, tasmin AK, CONUS, GU, HI, PRVI ssp585 hybrid 2015 (×2 products): fewer " in (
        " ".join(warnings)
    )
    # the run log keeps every skipped output
    assert len([r for r in caplog.records if ": skipped: " in r.getMessage()]) == len(plan.skips)
