"""The ensemble outputs of a plan: one per variable, region, scenario, period, target and product that enough
members can compute, with the member outputs it combines; up to date when every member output it would combine
is, and the ensemble output was computed from them as they are."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from climnorm.config.model import ENSEMBLE_OUTPUT_TEMPLATE
from climnorm.plan.changes import change_path
from climnorm.plan.notices import Skip
from climnorm.plan.planned import ENSEMBLE_FORMAT, ChangePlan, EnsemblePlan, OutputPlan, digest, output_path
from climnorm.products import product_path
from climnorm.records import ENSEMBLE
from climnorm.types import Member

if TYPE_CHECKING:
    from climnorm.plan.build import Plan


def ensemble_plans(plan: Plan) -> list[EnsemblePlan]:
    """The ensemble outputs some member can compute, of the members' normals and of their changes; those fewer
    than ``min_members`` can are the plan's skips."""
    return _ensembles(plan, plan.outputs) + _ensembles(plan, plan.changes)


def _ensembles(plan: Plan, outputs: Sequence[OutputPlan] | Sequence[ChangePlan]) -> list[EnsemblePlan]:
    config, ensemble = plan.config, plan.config.ensemble
    assert ensemble is not None
    groups: dict[tuple[str, str, str, str, int, str], list[Any]] = defaultdict(list)
    specs = {}
    for out in outputs:
        normal = out.output if isinstance(out, ChangePlan) else out
        t = normal.target
        groups[(t.variable, out.region.key, t.scenario, t.period, t.year, out.product)].append(out)
        specs[out.product] = out.spec
    regions = {r.key: r for r in plan.regions}
    need = min_members(plan)
    shaping = {
        "format": ENSEMBLE_FORMAT,
        "statistics": ensemble.statistics,
        "min_members": need,
        "compression": config.compression.model_dump(),
    }
    template = ENSEMBLE_OUTPUT_TEMPLATE
    if "output_template" in config.model_fields_set:  # the user's layout, with an ensemble folder if it needs one
        template = plan.template if "{model}" in plan.template else f"{ENSEMBLE}/{plan.template}"
    plans = []
    for (variable, region, scenario, period, year, name), outs in sorted(groups.items()):
        computable = sum(o.computable for o in outs)
        if computable == 0:
            continue  # the members' own skips say why
        first = outs[0].output if isinstance(outs[0], ChangePlan) else outs[0]
        path = product_path(output_path(template, config, first.target, regions[region], Member(ENSEMBLE, ENSEMBLE)),
                            specs[name])  # fmt: skip
        members = [o.path for o in outs]
        if isinstance(outs[0], ChangePlan):
            path = change_path(path)
            changes = config.changes
            assert changes is not None
            shaping_changes = changes.model_dump(mode="json")
            fingerprint = digest({**shaping, "changes": shaping_changes, "region": regions[region].as_dict(),
                                  "members": members, "of": [o.fingerprint for o in outs]})  # fmt: skip
        else:
            fingerprint = digest({**shaping, "region": regions[region].as_dict(), "members": members})
        ens = EnsemblePlan(
            variable, regions[region], scenario, period, year, tuple(outs), path, fingerprint, specs[name],
        )  # fmt: skip
        if computable < need:
            detail = f"only {computable} of {len(outs)} members have this normal (min_members {need})"
            reason = f"fewer members than min_members ({need}) can compute it"
            named = ens.spec.named
            plan.skips.append(
                Skip(ENSEMBLE, variable, region, scenario, period, year, name, ens.label, reason, detail, named)
            )
            continue
        plans.append(_with_status(ens, plan))
    return plans


def _with_status(ens: EnsemblePlan, plan: Plan) -> EnsemblePlan:
    """The ensemble output, up to date when its members will all be kept as they are and it was made of them."""
    if any(o.computable and not o.up_to_date for o in ens.members):
        return ens
    refs = [(o.member_label, o.path, str(_checksum(o, plan))) for o in ens.members if o.up_to_date]
    return replace(ens, up_to_date=plan.resume.made_of(ens.path, ens.fingerprint, refs))


def _checksum(member: OutputPlan | ChangePlan, plan: Plan) -> str | None:
    """An up-to-date member output's recorded checksum (a normal's plan has it already)."""
    return member.checksum if isinstance(member, OutputPlan) else plan.resume.checksum(member.path)


def min_members(plan: Plan) -> int:
    """Valid members a cell-slot of an ensemble output needs: configured, or half the run's members rounded up."""
    ensemble = plan.config.ensemble
    if ensemble is not None and ensemble.min_members is not None:
        return ensemble.min_members
    return -(-len(plan.members) // 2)
