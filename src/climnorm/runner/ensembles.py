"""The run's ensemble outputs: each one waits until every member output it combines has settled (written, up to date
or skipped), then is written on the engine like any output, unless the member outputs it was computed from are
unchanged (the same paths and checksums), in which case it is up to date.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from climnorm.config.model import Config
from climnorm.engines.tasks import write_ensemble_change_output, write_ensemble_output
from climnorm.numerics.changes import WINDOW_YEARS
from climnorm.plan.build import Plan
from climnorm.plan.ensembles import min_members
from climnorm.plan.planned import ChangePlan, EnsemblePlan, OutputPlan, T_Output
from climnorm.plan.resume import made_of
from climnorm.products import file_product
from climnorm.records import ENSEMBLE, MemberOutput, OutputRecord
from climnorm.runner.derived import DerivedQueue
from climnorm.runner.landing import T_Job, WriteJob, WriteQueue, encoding
from climnorm.runner.summary import Reporter
from climnorm.write.manifest import Manifest
from climnorm.write.orders import EnsembleChangeTask, EnsembleMember, EnsembleTask, change_variable
from climnorm.write.store import OutputStore

log = logging.getLogger(__name__)


class EnsembleQueue(DerivedQueue):
    """Ensemble outputs waiting for their members, and those ready to be written."""

    def __init__(self, plan: Plan, manifest: Manifest, writes: WriteQueue, reporter: Reporter, *, force: bool):
        super().__init__(plan, manifest, writes, reporter, force=force)
        self.min_members = min_members(plan)
        self.waiting_on: dict[str, list[EnsemblePlan]] = defaultdict(list)
        self.remaining: dict[str, int] = {}
        self.landed: dict[str, set[str]] = defaultdict(set)
        self.ready: list[EnsemblePlan] = []
        for ens in plan.ensembles:
            self.remaining[ens.path] = len(ens.members)
            for out in ens.members:
                self.waiting_on[out.path].append(ens)

    def settled(self, out: T_Output, available: bool) -> None:
        """A member output is written, up to date, or will not be written: its ensembles are one closer."""
        if isinstance(out, EnsemblePlan):
            return
        for ens in self.waiting_on.pop(out.path, []):
            self.remaining[ens.path] -= 1
            if available:
                self.landed[ens.path].add(out.path)
            if self.remaining[ens.path] == 0:
                self.ready.append(ens)

    def submit_ready(self) -> bool:
        """Write (or keep) every ensemble output whose members have all settled; True if any was submitted."""
        submitted = False
        while self.ready:
            ens = self.ready.pop(0)
            members = [o for o in ens.members if o.path in self.landed[ens.path]]
            if len(members) < self.min_members:
                detail = f"only {len(members)} of {len(ens.members)} members have this normal"
                reason = f"fewer members than min_members ({self.min_members}) have it"
                self.reporter.skip(ens, reason, detail=f"{detail} (min_members {self.min_members})")
                continue
            refs = [self._reference(o) for o in members]
            if self._up_to_date(ens, refs):
                self.reporter.up_to_date(ens)
                continue
            task, record = describe_ensemble(
                self.plan, ens, members, refs, self.min_members, self.manifest, self.writes.store
            )
            if ens.of_changes:
                job: T_Job = self._of_changes(ens, task, record)
            else:
                job = WriteJob(write_ensemble_output, task, ens, record, reads_outputs=True)
            self.writes.submit_job(job)
            submitted = True
        return submitted

    def _of_changes(self, ens: EnsemblePlan, task: EnsembleTask, record: OutputRecord) -> T_Job:
        """The ensemble file of the members' changes: their ``{name}_change`` files, the statistics of the changes,
        and the AR6 fractions and category."""
        changes = self.plan.config.changes
        assert changes is not None
        name = change_variable(task.variable)
        kind = self.manifest.records[ens.members[0].path].change
        window = changes.window(self.plan.config.window_years)
        change_task = EnsembleChangeTask(
            task.path, replace(task, variable=name, window_statistics=()),
            changes.robustness == "ipcc_ar6", changes.significant, changes.agreement, kind, window,  # type: ignore[arg-type]
        )  # fmt: skip
        landed = replace(record, change=kind, baseline=window, window_statistics=())
        return WriteJob(write_ensemble_change_output, change_task, ens, landed, reads_outputs=True)

    def _reference(self, out: OutputPlan | ChangePlan) -> MemberOutput:
        return MemberOutput(out.member_label, out.path, str(self.manifest.records[out.path].checksum))

    def _up_to_date(self, ens: EnsemblePlan, refs: list[MemberOutput]) -> bool:
        previous = None if self.force else self.manifest.records.get(ens.path)
        return made_of(previous, ens.fingerprint, refs, self.plan.resume)  # (one listing per folder)


def describe_ensemble(
    plan: Plan,
    ens: EnsemblePlan,
    members: Sequence[OutputPlan | ChangePlan],
    refs: list[MemberOutput],
    need: int,
    manifest: Manifest,
    store: OutputStore,
) -> tuple[EnsembleTask, OutputRecord]:
    """The task that writes an ensemble output, and its manifest record."""
    config: Config = plan.config
    assert config.ensemble is not None
    statistics = tuple(config.ensemble.statistics)
    records = [manifest.records[o.path] for o in members]
    window = (ens.year - config.window_years + 1, ens.year)
    attrs = (
        (
            "title",
            f"{config.window_years}-year {ens.spec.title} of {ens.variable} for {ens.region.name}: "
            f"ensemble of {len(members)} members",
        ),
        ("variable", ens.variable),
        ("region", ens.region.key),
        ("region_name", ens.region.name),
        ("scenario", ens.scenario),
        ("period", ens.period),
        ("target_year", ens.year),
        ("window_years", config.window_years),
        ("leap_day", config.leap_day),
    )
    task = EnsembleTask(
        path=store.location(ens.path),
        variable=ens.spec.data_name or ens.variable,
        members=tuple(
            EnsembleMember(o.member_label, store.location(o.path), r.calendar, r.leap_day)  # type: ignore[arg-type]
            for o, r in zip(members, records, strict=True)
        ),
        statistics=statistics,
        min_members=need,
        window=window,
        attrs=attrs,
        encoding=encoding(config),
        product=file_product(ens.spec, "mean", plan.settings),
        window_statistics=ensemble_window_statistics(records[0]),
        storage=store.storage,
    )
    return task, _record(config, ens, members, records, refs, need)


def _record(
    config: Config,
    ens: EnsemblePlan,
    members: Sequence[OutputPlan | ChangePlan],
    records: list[OutputRecord],
    refs: list[MemberOutput],
    need: int,
) -> OutputRecord:
    """An ensemble output's manifest record: what it is, and the member outputs (and years) it combines."""
    assert config.ensemble is not None
    years = tuple(sorted({y for r in records for y in r.years}))
    window = range(ens.year - config.window_years + 1, ens.year + 1)
    return OutputRecord(
        path=ens.path,
        variable=ens.variable,
        region=ens.region.key,
        scenario=ens.scenario,
        period=ens.period,
        target_year=ens.year,
        window_years=config.window_years,
        model=ENSEMBLE,
        variant="",
        calendar="noleap",
        leap_day=config.leap_day,
        fingerprint=ens.fingerprint,
        years=years,
        missing_years=tuple(y for y in window if y not in years),
        product=ens.spec.name,  # a change ensemble's too: its record's `change` says what it holds
        name=ens.spec.data_name,
        indicator=ens.spec.entry,
        window_statistics=ensemble_window_statistics(records[0]),
        statistics=tuple(config.ensemble.statistics),
        min_members=need,
        members=tuple(o.member_label for o in members),
        member_outputs=tuple(refs),
    )


def ensemble_window_statistics(record: OutputRecord) -> tuple[str, ...]:
    """The members' window statistics an ensemble output has statistics of: all but a baseline's yearly values."""
    return tuple(s for s in record.window_statistics if s != WINDOW_YEARS)
