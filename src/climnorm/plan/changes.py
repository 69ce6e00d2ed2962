"""The change outputs of a plan (``changes:``): each member output against the same member's, region's and
product's output of the baseline target, which the plan adds to every chain that contains the baseline window.

A baseline ending by ``historical_end`` is the historical run's: every target of the member's chains has a change
against it (historical and future). A later baseline is a hybrid window of each scenario: that scenario's targets
have a change against it, the historical targets none (they belong to every scenario's chain; which scenario's
baseline would be arbitrary).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from climnorm.config.changes import ChangeKind, Changes
from climnorm.numerics.changes import DETRENDED_STD, WINDOW_YEARS
from climnorm.plan.planned import ChangePlan, OutputPlan, digest
from climnorm.products import DaySlots, ProductSpec
from climnorm.records import STORE_SUFFIX, MemberOutput, in_store, store_and_year
from climnorm.types import HISTORICAL

if TYPE_CHECKING:
    from climnorm.plan.build import Plan

CHANGE_FORMAT = 1  # bump when the change files' layout changes, so resume recomputes
BASELINE_PERIOD = "baseline"
"""The period of a baseline target no configured period has."""
PRECIPITATION_UNITS = "kg m-2 s-1"  # pr's units (the domain's precipitation flux): its normals are amounts


def baseline_year(plan: Plan) -> int | None:
    """The baseline window's last year, the year of its target (None without ``changes:``)."""
    changes = plan.config.changes
    return None if changes is None else changes.window(plan.config.window_years)[1]


def baseline_extras(spec: ProductSpec) -> tuple[str, ...]:
    """What a baseline normal of ``spec`` carries for the changes' significance: its years' detrended variability,
    and for a period product or an indicator the years' values themselves (a county's own variability)."""
    return (DETRENDED_STD,) if isinstance(spec.layout, DaySlots) else (DETRENDED_STD, WINDOW_YEARS)


def baseline_scenario(plan: Plan, scenario: str) -> str | None:
    """The run the baseline target of a scenario's chain comes from, None where the chain has none (a historical
    target with a hybrid baseline)."""
    year = baseline_year(plan)
    if year is None:
        return None
    if year <= plan.config.historical_end:
        return HISTORICAL
    return None if scenario == HISTORICAL else scenario


def change_path(path: str) -> str:
    """The change file beside an output: ``…_30yr_monthly_normal.nc`` → ``…_30yr_monthly_normal_change.nc``; a
    target's in a store, in the change's store: ``…_normal.zarr#2040`` → ``…_normal_change.zarr#2040``."""
    if in_store(path):
        store, year = store_and_year(path)
        return f"{store[: -len(STORE_SUFFIX)]}_change{STORE_SUFFIX}#{year}"
    p = PurePosixPath(path)
    return str(p.with_name(f"{p.stem}_change{p.suffix}"))


def change_kind(changes: Changes, spec: ProductSpec, variable: str) -> ChangeKind:
    """Additive or relative: configured by the indicator's id or the variable, else by the values' units."""
    units = dict(spec.variable_attrs).get("units") or (PRECIPITATION_UNITS if variable == "pr" else None)
    return changes.kind_of(spec.data_name or variable, units)


def change_plans(plan: Plan) -> list[ChangePlan]:
    """The change of every member output whose chain has the baseline target, against that target's output."""
    changes, year = plan.config.changes, baseline_year(plan)
    if changes is None or year is None:
        return []
    window = changes.window(plan.config.window_years)
    by_key: dict[tuple[object, ...], OutputPlan] = {}
    for out in plan.outputs:
        t = out.target
        by_key[(t.member, t.variable, t.scenario, t.year, out.region.key, out.product)] = out
    plans = []
    for out in plan.outputs:
        t = out.target
        source = baseline_scenario(plan, t.scenario)
        if source is None:
            continue
        base = by_key.get((t.member, t.variable, source, year, out.region.key, out.product))
        if base is None:
            continue
        kind = change_kind(changes, out.spec, t.variable)
        shaping = {
            "format": CHANGE_FORMAT,
            "kind": kind,
            "baseline": list(window),
            "robustness": changes.robustness,
            "output": out.fingerprint,
            "baseline_output": base.fingerprint,
        }
        change = ChangePlan(out, base, change_path(out.path), digest(shaping), kind, out.spec)
        plans.append(replace(change, up_to_date=_current(change, plan)))
    return plans


def references(change: ChangePlan, checksums: Mapping[str, str]) -> tuple[MemberOutput, MemberOutput]:
    """The two outputs a change is made of, as they are (their checksums)."""
    label, out, base = change.member_label, change.output, change.baseline
    return MemberOutput(label, out.path, checksums[out.path]), MemberOutput(label, base.path, checksums[base.path])


def _current(change: ChangePlan, plan: Plan) -> bool:
    """Whether a change is up to date: its normal and its baseline's are, and it was made of them as they are."""
    if not (change.output.up_to_date and change.baseline.up_to_date):
        return False
    checksums = {o.path: str(o.checksum) for o in (change.output, change.baseline)}  # as recorded, up to date
    refs = [(r.member, r.path, r.checksum) for r in references(change, checksums)]
    return plan.resume.made_of(change.path, change.fingerprint, refs)
