"""The ensemble outputs of a plan: one per variable, region, scenario, period, target and product that enough
members can compute, with the member outputs it combines; up to date when every member output it would combine
is, and the ensemble output was computed from them as they are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from climnorm.config.model import ENSEMBLE_OUTPUT_TEMPLATE
from climnorm.plan.changes import change_path
from climnorm.plan.notices import Skip
from climnorm.plan.planned import (
    ENSEMBLE_FORMAT,
    ChangePlan,
    EnsemblePlan,
    OutputPlan,
    chain_template,
    digest,
    output_path,
)
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
    groups = _groups(outputs)
    specs = {name: group.outputs[0].spec for (*_, name), group in groups.items()}
    labels = {id(m): m.label for m in plan.members}  # by identity: every target of a member has the same one
    regions = {r.key: r for r in plan.regions}
    shaped = {r.key: r.as_dict() for r in plan.regions}
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
    elif config.output_layout == "zarr":
        template = chain_template(template)
    shaping_changes = None if config.changes is None else config.changes.model_dump(mode="json")
    everyone = Member(ENSEMBLE, ENSEMBLE)
    plans = []
    for (variable, region, scenario, period, year, name), group in sorted(groups.items()):
        outs, computable = group.outputs, group.computable
        if computable == 0:
            continue  # the members' own skips say why
        first = outs[0].output if isinstance(outs[0], ChangePlan) else outs[0]
        path = product_path(output_path(template, config, first.target, regions[region], everyone), specs[name])
        path = plan.located(path, year)
        members = [o.path for o in outs]
        if isinstance(outs[0], ChangePlan):
            path = change_path(path)
            fingerprint = digest({**shaping, "changes": shaping_changes, "region": shaped[region],
                                  "members": members, "of": [o.fingerprint for o in outs]})  # fmt: skip
        else:
            fingerprint = digest({**shaping, "region": shaped[region], "members": members})
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
        plans.append(ens if group.pending else _with_status(ens, plan, labels))
    return plans


@dataclass(slots=True)
class _Group:
    """The member outputs of one ensemble output: how many can be computed, and whether one of those will be
    (then the ensemble output is pending too)."""

    outputs: list[Any] = field(default_factory=list)
    computable: int = 0
    pending: bool = False


def _groups(outputs: Sequence[OutputPlan] | Sequence[ChangePlan]) -> dict[tuple[str, str, str, str, int, str], _Group]:
    """The member outputs by ensemble output (variable, region, scenario, period, target year, product); whether
    a member's target can be computed found once per target."""
    groups: dict[tuple[str, str, str, str, int, str], _Group] = {}
    targets: dict[int, bool] = {}  # by id() of a target: whether it can be computed
    for out in outputs:
        if isinstance(out, ChangePlan):
            t, computable = out.output.target, out.computable
        else:
            t = out.target
            known = targets.get(id(t))
            if known is None:
                known = targets[id(t)] = t.computable
            computable = known and not out.blocked
        key = (t.variable, out.region.key, t.scenario, t.period, t.year, out.product)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group()
        group.outputs.append(out)
        group.computable += computable
        group.pending = group.pending or (computable and not out.up_to_date)
    return groups


def _with_status(ens: EnsemblePlan, plan: Plan, labels: dict[int, str]) -> EnsemblePlan:
    """The ensemble output whose members will all be kept as they are (or cannot be computed), up to date when it
    was made of them (``labels``: the members' labels by identity)."""
    if ens.of_changes:
        refs = [(o.member_label, o.path, str(plan.resume.checksum(o.path))) for o in ens.members if o.up_to_date]
    else:  # a normal's plan has its recorded checksum already
        normals = cast(tuple[OutputPlan, ...], ens.members)
        refs = [(labels.get(id(o.target.member)) or o.member_label, o.path, str(o.checksum))
                for o in normals if o.up_to_date]  # fmt: skip
    return replace(ens, up_to_date=plan.resume.made_of(ens.path, ens.fingerprint, refs))


def min_members(plan: Plan) -> int:
    """Valid members a cell-slot of an ensemble output needs: configured, or half the run's members rounded up."""
    ensemble = plan.config.ensemble
    if ensemble is not None and ensemble.min_members is not None:
        return ensemble.min_members
    return -(-len(plan.members) // 2)
