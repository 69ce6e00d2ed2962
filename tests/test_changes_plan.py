"""The plan of ``changes:``: the baseline target added to the chains that contain the baseline window, and one change
output per member output against the same member's, region's and product's baseline output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.plan.build import Plan, make_plan
from helpers import nex, touch


def _plan(tmp_path: Path, baseline: Any, **extra: Any) -> Plan:
    for variable in ("pr", "tas"):
        for year in range(2000, 2015):
            touch(tmp_path / "in" / nex(variable, year, scenario="historical"))
        for scenario in ("ssp245", "ssp585"):
            for year in range(2015, 2031):
                touch(tmp_path / "in" / nex(variable, year, scenario=scenario))
    data = {
        "input_dirs": [str(tmp_path / "in")], "output_dir": str(tmp_path / "out"), "variables": ["pr", "tas"],
        "regions": ["CONUS", "HI"], "scenarios": ["historical", "ssp245", "ssp585"], "window_years": 5,
        "min_years_for_normal": 4, "periods": {"historical": [2010, 2012], "future": [2028, 2030]},
        "products": ["daily", "annual"], "changes": {"baseline": baseline}, **extra,
    }  # fmt: skip
    config = parse_config(data)
    return make_plan(config, build_catalog(config.input_dirs))


def test_a_historical_baseline_is_added_and_every_output_changes_against_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [2010, 2014])
    baselines = [o for o in plan.outputs if o.target.year == 2014]
    assert {(o.target.scenario, o.target.period) for o in baselines} == {("historical", "baseline")}
    assert len(baselines) == 2 * 2 * 2  # variables x regions x products
    # every output (historical 2010-2012, the baseline itself, 2028-2030 of both scenarios) has its change
    assert len(plan.changes) == len(plan.outputs) == 2 * 2 * 2 * (3 + 1 + 3 + 3)
    for change in plan.changes:
        out, base = change.output, change.baseline
        assert base.target.year == 2014 and base.target.scenario == "historical"
        assert (base.target.member, base.target.variable, base.region, base.spec) == (
            out.target.member, out.target.variable, out.region, out.spec,
        )  # fmt: skip
        assert change.path == out.path.removesuffix(".nc") + "_change.nc"
        assert change.kind == ("relative" if out.target.variable == "pr" else "additive")


def test_a_hybrid_baseline_is_each_scenarios_own_and_historical_targets_have_no_change(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 2020)
    added = {(o.target.scenario, o.target.period) for o in plan.outputs if o.target.year == 2020}
    assert added == {("ssp245", "baseline"), ("ssp585", "baseline")}
    scenarios = {c.output.target.scenario for c in plan.changes}
    assert scenarios == {"ssp245", "ssp585"}
    for change in plan.changes:
        assert change.baseline.target.scenario == change.output.target.scenario
        assert change.baseline.target.window == tuple(range(2016, 2021))


def test_a_configured_target_serves_as_the_baseline_and_kinds_follow_the_configuration(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 2012, changes={"baseline": 2012, "kind": {"default": "relative"}})
    assert not any(o.target.period == "baseline" for o in plan.outputs)  # 2012 is a historical target already
    assert {c.kind for c in plan.changes} == {"relative"}
    additive = _plan(tmp_path, 2012, changes={"baseline": 2012, "kind": {"default": "additive"}})
    before = {c.path: c.fingerprint for c in plan.changes}
    after = {c.path: c.fingerprint for c in additive.changes}
    assert before.keys() == after.keys() and all(before[p] != after[p] for p in before)  # resume redoes them
