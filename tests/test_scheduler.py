"""Tests of climnorm.runner.scheduler's per-chain state machine: the order of its steps and when each may run.

The plan comes from a catalog of empty files (planning reads names only); futures are completed by hand, so
nothing here needs an engine.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.plan.build import Plan, make_plan
from climnorm.runner.scheduler import Step, StepKind, chain_steps, make_job
from helpers import nex, touch

ADD, COMPUTE, FORK = StepKind.ADD_YEAR, StepKind.COMPUTE, StepKind.FORK


def _plan(tmp_path: Path, batch_size_years: int = 1) -> Plan:
    """tas, 3-year windows: historical 2010-2014, ssp245 and ssp585 2015-2016 (2016 missing under ssp585)."""
    root = tmp_path / "in"
    for year in range(2010, 2015):
        touch(root / nex("tas", year, scenario="historical"))
    for year in (2015, 2016):
        touch(root / nex("tas", year, scenario="ssp245"))
    touch(root / nex("tas", 2015, scenario="ssp585"))
    config = parse_config(
        {
            "input_dirs": [str(root)],
            "output_dir": str(tmp_path / "out"),
            "variables": ["tas"],
            "regions": ["CONUS", "AK"],
            "scenarios": ["historical", "ssp245", "ssp585"],
            "window_years": 3,
            "min_years_for_normal": 2,
            "periods": {"historical": [2013, 2014], "hybrid": [2015, 2016]},
            "batch_size_years": batch_size_years,
        }
    )
    return make_plan(config, build_catalog(config.input_dirs))


def _pending(plan: Plan) -> dict[tuple[str, int], list]:
    pending: dict[tuple[str, int], list] = {}
    for out in plan.pending:
        pending.setdefault((out.target.scenario, out.target.year), []).append(out)
    return pending


def test_steps_add_each_year_before_the_targets_that_need_it_and_fork_per_scenario(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    steps = chain_steps(plan, _pending(plan))
    assert steps == [
        *(Step(ADD, "historical", y) for y in (2011, 2012)),
        Step(ADD, "historical", 2013),
        Step(COMPUTE, "historical", 2013),
        Step(ADD, "historical", 2014),
        Step(COMPUTE, "historical", 2014),
        Step(FORK, "ssp245"),
        Step(ADD, "ssp245", 2015),
        Step(COMPUTE, "ssp245", 2015),
        Step(ADD, "ssp245", 2016),
        Step(COMPUTE, "ssp245", 2016),
        Step(FORK, "ssp585"),
        Step(ADD, "ssp585", 2015),
        Step(COMPUTE, "ssp585", 2015),
        Step(COMPUTE, "ssp585", 2016),  # 2014 and 2015 are there: computed from 2 of 3 years
    ]
    # historical years are read once, whatever the number of scenarios that use them
    assert sum(s.kind is ADD and s.scenario == "historical" for s in steps) == 4


def test_a_step_waits_for_its_reads_and_batches_are_released_when_used_up(tmp_path: Path) -> None:
    plan = _plan(tmp_path, batch_size_years=2)
    job = make_job(plan, plan.members[0], "tas", _pending(plan), park=None)
    assert job.n_files == 7 and [len(b.entries) for b in job.batches] == [2, 2, 2, 1]
    assert not job.ready()  # nothing submitted yet
    first = job.take_batch()
    first.future = Future()
    assert not job.ready()  # submitted, still running
    first.future.set_result([])
    assert job.ready() and job.advance() == Step(ADD, "historical", 2011)
    assert job.files_used(job.step_files[("historical", 2011)]) == []  # 2012 still needs this batch
    assert job.ready() and job.advance() == Step(ADD, "historical", 2012)
    assert job.files_used(job.step_files[("historical", 2012)]) == [first]
    assert first.outcomes == {} and first.future is None
    assert not job.ready()  # 2013 is in the second batch
    assert job.has_unsubmitted() and not job.done
