"""Tests of runner.ensembles: an ensemble output waits until every member output it combines has settled, is
skipped below `min_members`, written otherwise, and kept when its members are unchanged. No engine: member
outputs are settled by hand, and writes go to an engine whose futures are completed by hand."""

from __future__ import annotations

from pathlib import Path

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.engines.tasks import write_ensemble_output
from climnorm.plan.build import Plan, make_plan
from climnorm.records import MemberOutput, OutputRecord
from climnorm.runner.ensembles import EnsembleQueue
from climnorm.runner.landing import Placement, WriteQueue
from climnorm.runner.summary import Reporter, RunSummary
from climnorm.write.manifest import Manifest
from climnorm.write.orders import EnsembleTask
from climnorm.write.store import LocalDirectory
from helpers import nex, touch
from test_landing import HandEngine

MODELS = ("ESM-A", "ESM-B", "ESM-C")


def _plan(tmp_path: Path, min_members: int = 2) -> Plan:
    for model in MODELS:
        for year in range(2013, 2015):
            touch(tmp_path / "in" / nex("tas", year, model=model, scenario="historical"))
    data = {
        "input_dirs": [str(tmp_path / "in")], "output_dir": str(tmp_path / "out"), "models": "all",
        "variables": ["tas"], "regions": ["CONUS"], "scenarios": ["historical"], "window_years": 2,
        "min_years_for_normal": 2, "periods": {"historical": [2014, 2014]},
        "ensemble": {"statistics": ["mean", "p90"], "min_members": min_members},
    }  # fmt: skip
    config = parse_config(data)
    return make_plan(config, build_catalog(config.input_dirs))


def _setup(tmp_path: Path, min_members: int = 2) -> tuple[EnsembleQueue, HandEngine, Reporter]:
    plan = _plan(tmp_path, min_members)
    manifest = Manifest(plan.config.output_dir)
    reporter = Reporter(RunSummary(members=3), lambda event: None)
    engine = HandEngine(shares_outputs=True)
    store = LocalDirectory(plan.config.output_dir)
    writes = WriteQueue(plan, manifest, engine, reporter, 8, store)  # type: ignore[arg-type]
    return EnsembleQueue(plan, manifest, writes, reporter, force=False), engine, reporter


def _land(queue: EnsembleQueue, reporter: Reporter, i: int) -> None:
    """A member output written and recorded, as the write queue does it."""
    out = queue.plan.ensembles[0].members[i]
    t = out.target
    record = OutputRecord(
        out.path, t.variable, "CONUS", t.scenario, t.period, t.year, 2, t.member.model, t.member.variant, "noleap",
        "calendar_day", out.fingerprint, years=(2013, 2014), size=100, checksum=f"sha256:{i}",
    )  # fmt: skip
    queue.manifest.add(record)
    reporter.written(out)


def test_an_ensemble_is_written_once_every_member_has_settled(tmp_path: Path) -> None:
    queue, engine, reporter = _setup(tmp_path)
    (ens,) = queue.plan.ensembles
    assert [o.member_label for o in ens.members] == [f"{m} r1i1p1f1" for m in MODELS]
    _land(queue, reporter, 0)
    _land(queue, reporter, 1)
    assert not queue.submit_ready() and engine.calls == []  # ESM-C has not settled
    _land(queue, reporter, 2)
    assert queue.submit_ready()
    ((fn, (task,), _),) = engine.calls
    assert fn is write_ensemble_output and isinstance(task, EnsembleTask)
    assert [m.label for m in task.members] == [f"{m} r1i1p1f1" for m in MODELS]
    assert queue.writes.placement(queue.writes.pending[0].job) is Placement.IN_PLACE
    record = queue.writes.pending[0].job.record
    assert record.is_ensemble and record.members == tuple(f"{m} r1i1p1f1" for m in MODELS)
    assert record.member_outputs == tuple(
        MemberOutput(f"{m} r1i1p1f1", ens.members[i].path, f"sha256:{i}") for i, m in enumerate(MODELS)
    )


def test_an_ensemble_of_unchanged_members_is_kept(tmp_path: Path) -> None:
    queue, engine, reporter = _setup(tmp_path)
    (ens,) = queue.plan.ensembles
    refs = tuple(MemberOutput(o.member_label, o.path, f"sha256:{i}") for i, o in enumerate(ens.members))
    path = queue.plan.config.output_dir / ens.path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * 7)
    previous = OutputRecord(
        ens.path, "tas", "CONUS", "historical", "historical", 2014, 2, "ensemble", "", "noleap", "calendar_day",
        ens.fingerprint, size=7, checksum="sha256:e", statistics=("mean", "p90"), min_members=2,
        members=tuple(r.member for r in refs), member_outputs=refs,
    )  # fmt: skip
    queue.manifest.add(previous)
    for i in range(3):
        _land(queue, reporter, i)
    assert not queue.submit_ready() and engine.calls == [] and reporter.summary.up_to_date == 1
