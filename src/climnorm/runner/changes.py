"""The run's change outputs: each waits until its normal and its baseline's have settled (written, up to date or
skipped), then is written on the engine like any output, unless both are unchanged and it was made of them."""

from __future__ import annotations

from collections import defaultdict

from climnorm.engines.tasks import write_change_output
from climnorm.plan.build import Plan
from climnorm.plan.changes import references
from climnorm.plan.planned import ChangePlan, OutputPlan, T_Output
from climnorm.plan.resume import made_of
from climnorm.records import MemberOutput, OutputRecord
from climnorm.runner.derived import DerivedQueue
from climnorm.runner.landing import WriteJob, WriteQueue, encoding
from climnorm.runner.summary import Reporter
from climnorm.write.manifest import Manifest
from climnorm.write.orders import ChangeTask
from climnorm.write.store import OutputStore


class ChangeQueue(DerivedQueue):
    """Change outputs waiting for their two normals, and those ready to be written."""

    def __init__(self, plan: Plan, manifest: Manifest, writes: WriteQueue, reporter: Reporter, *, force: bool):
        super().__init__(plan, manifest, writes, reporter, force=force)
        self.waiting_on: dict[str, list[ChangePlan]] = defaultdict(list)
        self.remaining: dict[str, int] = {}
        self.missing: dict[str, list[str]] = defaultdict(list)  # of each change, which of its normals will not be
        self.ready: list[ChangePlan] = []
        for change in plan.changes:
            paths = dict.fromkeys((change.output.path, change.baseline.path))
            self.remaining[change.path] = len(paths)
            for path in paths:
                self.waiting_on[path].append(change)

    def settled(self, out: T_Output, available: bool) -> None:
        """A member's normal is written, up to date, or will not be written: its changes are one closer."""
        if not isinstance(out, OutputPlan):
            return
        for change in self.waiting_on.pop(out.path, []):
            self.remaining[change.path] -= 1
            if not available:
                self.missing[change.path].append("baseline" if out is change.baseline else "normal")
            if self.remaining[change.path] == 0:
                self.ready.append(change)

    def submit_ready(self) -> bool:
        """Write (or keep) every change whose normals have settled; True if any was submitted."""
        submitted = False
        while self.ready:
            change = self.ready.pop(0)
            missing = self.missing.pop(change.path, [])
            if missing:
                which = " and ".join(dict.fromkeys(missing))
                base = change.baseline.target
                detail = f"its {which} ({base.window[0]}-{base.year} for the baseline) is not written"
                self.reporter.skip(change, "its normal or its baseline's normal cannot be computed", detail=detail)
                continue
            checksums = {o.path: str(self.manifest.records[o.path].checksum) for o in (change.output, change.baseline)}
            refs = references(change, checksums)
            if self._up_to_date(change, refs):
                self.reporter.up_to_date(change)
                continue
            task, record = describe_change(self.plan, change, refs, self.manifest, self.writes.store)
            self.writes.submit_job(WriteJob(write_change_output, task, change, record, reads_outputs=True))
            submitted = True
        return submitted

    def _up_to_date(self, change: ChangePlan, refs: tuple[MemberOutput, ...]) -> bool:
        previous = None if self.force else self.manifest.records.get(change.path)
        return made_of(previous, change.fingerprint, refs, self.plan.resume)  # (one listing per folder)


def describe_change(
    plan: Plan, change: ChangePlan, refs: tuple[MemberOutput, ...], manifest: Manifest, store: OutputStore
) -> tuple[ChangeTask, OutputRecord]:
    """The task that writes a member's change file, and its manifest record."""
    config = plan.config
    assert config.changes is not None
    out, base = change.output, change.baseline
    record = manifest.records[out.path]
    window = config.changes.window(config.window_years)
    task = ChangeTask(
        path=store.location(change.path),
        variable=out.spec.data_name or out.target.variable,
        target_path=store.location(out.path),
        baseline_path=store.location(base.path),
        kind=change.kind,
        baseline=window,
        encoding=encoding(config),
        key=out.key,
        member=out.member_label,
        storage=store.storage,
    )
    landed = OutputRecord(
        path=change.path,
        variable=record.variable,
        region=record.region,
        scenario=record.scenario,
        period=record.period,
        target_year=record.target_year,
        window_years=record.window_years,
        model=record.model,
        variant=record.variant,
        calendar=record.calendar,
        leap_day=record.leap_day,
        fingerprint=change.fingerprint,
        years=record.years,
        missing_years=record.missing_years,
        product=record.product,
        name=record.name,
        indicator=record.indicator,
        change=change.kind,
        baseline=window,
        member_outputs=refs,
    )
    return task, landed
