"""Tests of the manifest (write.manifest) and its records (records.OutputRecord): the JSON schema is unchanged,
records survive a kill, inputs are stored once, an older directory is upgraded with its records as they were,
unreadable records are left out with one warning."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from climnorm.records import MemberOutput, OutputRecord
from climnorm.write.legacy_manifest import LEGACY_JOURNAL, LEGACY_NAME
from climnorm.write.manifest import MANIFEST_NAME, Manifest

MEMBER = {
    "calendar": "noleap",
    "checksum": "sha256:2caa73ff",
    "fingerprint": "09f8b0c01df46a1c",
    "inputs": [{"mtime": 1796591721.0375302, "path": "/in/pr_day_M-A_historical_r1i1p1f1_gn_2005.nc", "size": 503921}],
    "leap_day": "calendar_day",
    "missing_years": [2006],
    "model": "M-A",
    "path": "M-A/pr/AK/historical/pr_M-A_AK_historical_historical_2012_8yr_annual_normal.nc",
    "period": "historical",
    "product": "annual",
    "region": "AK",
    "scenario": "historical",
    "size": 26010,
    "target_year": 2012,
    "variable": "pr",
    "variant": "r1i1p1f1",
    "window_years": 8,
    "years": [2005, 2007, 2008, 2009, 2010, 2011, 2012],
}
DAILY = {k: v for k, v in MEMBER.items() if k != "product"} | {"path": "M-A/pr/AK/historical/daily.nc"}
ENSEMBLE = {
    **{k: v for k, v in MEMBER.items() if k not in ("inputs", "model", "variant", "path")},
    "path": "ensemble/pr/AK/historical/pr_ensemble.nc",
    "model": "ensemble",
    "variant": "",
    "inputs": [],
    "statistics": ["mean", "p90"],
    "min_members": 2,
    "members": ["M-A r1i1p1f1", "M-B r1i1p1f1"],
    "member_outputs": [
        {"checksum": "sha256:2caa", "member": "M-A r1i1p1f1", "path": "M-A/a.nc"},
        {"checksum": "sha256:2cab", "member": "M-B r1i1p1f1", "path": "M-B/b.nc"},
    ],
}


@pytest.mark.parametrize("data", [MEMBER, DAILY, ENSEMBLE], ids=["member", "daily", "ensemble"])
def test_records_read_and_write_the_manifest_schema_unchanged(data: dict[str, object]) -> None:
    record = OutputRecord.from_json(data)
    assert json.dumps(record.to_json(), sort_keys=True) == json.dumps(data, sort_keys=True)
    assert record.product == data.get("product", "daily")  # a record without a product is a daily normal
    assert record.is_ensemble == (data["model"] == "ensemble")


def test_fields_a_later_version_writes_are_kept() -> None:
    record = OutputRecord.from_json({**MEMBER, "future_field": {"x": 1}})
    assert record.to_json()["future_field"] == {"x": 1} and record.value("future_field") == {"x": 1}


def test_a_record_without_a_field_it_needs_is_refused() -> None:
    with pytest.raises(KeyError, match="target_year"):
        OutputRecord.from_json({k: v for k, v in MEMBER.items() if k != "target_year"})


def test_records_survive_a_run_that_never_closed_its_manifest(tmp_path: Path) -> None:
    """Each add is a committed transaction: a process killed after it (the database never closed, its write-ahead
    log not folded in) leaves the record to the next reader, exactly."""
    script = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from climnorm.records import OutputRecord\n"
        "from climnorm.write.manifest import Manifest\n"
        "m = Manifest(Path(sys.argv[1]))\n"
        "for data in json.loads(sys.argv[2]):\n"
        "    m.add(OutputRecord.from_json(data))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), json.dumps([MEMBER, ENSEMBLE])])
    assert proc.returncode == -9
    assert (tmp_path / "manifest.sqlite-wal").exists()  # the log was never folded in
    records = Manifest.read(tmp_path).records
    assert dict(records) == {r["path"]: OutputRecord.from_json(r) for r in (MEMBER, ENSEMBLE)}
    assert records[ENSEMBLE["path"]].member_outputs[0] == MemberOutput("M-A r1i1p1f1", "M-A/a.nc", "sha256:2caa")


def test_inputs_are_stored_once_and_a_record_costs_little(tmp_path: Path) -> None:
    """Thirty outputs of one chain share their inputs: the inputs table holds each once (read with sqlite3)."""
    manifest = Manifest(tmp_path)
    inputs = [{"mtime": 1.5 + i, "path": f"/in/tas_{i}.nc", "size": 100 + i} for i in range(30)]
    for year in range(2000, 2030):
        manifest.add(
            OutputRecord.from_json({**MEMBER, "path": f"out/{year}.nc", "target_year": year, "inputs": inputs})
        )
    manifest.save()
    with contextlib.closing(sqlite3.connect(tmp_path / MANIFEST_NAME)) as db:
        assert db.execute("SELECT count(*) FROM inputs").fetchone()[0] == 30
        assert db.execute("SELECT count(*) FROM outputs").fetchone()[0] == 30
    assert [r.target_year for r in Manifest.read(tmp_path).select(variable="pr", product="annual")] == list(
        range(2000, 2030)
    )
    assert Manifest.read(tmp_path).records["out/2011.nc"].inputs == tuple(inputs)


def _legacy(tmp_path: Path) -> None:
    """An older climnorm's directory: manifest.json, and the journal of a run killed while appending."""
    (tmp_path / LEGACY_NAME).write_text(json.dumps({"format": 1, "outputs": [MEMBER, DAILY]}))
    with open(tmp_path / LEGACY_JOURNAL, "w") as fh:
        fh.write(json.dumps(ENSEMBLE) + "\n" + '{"path": "torn')


def test_an_older_directory_is_read_as_it_is_and_upgraded_by_a_run(tmp_path: Path) -> None:
    _legacy(tmp_path)
    expected = {r["path"]: OutputRecord.from_json(r) for r in (MEMBER, DAILY, ENSEMBLE)}
    assert dict(Manifest.read(tmp_path).records) == expected
    assert not (tmp_path / MANIFEST_NAME).exists()  # a reader writes nothing
    assert dict(Manifest.load(tmp_path).records) == expected  # what a run opens
    assert (tmp_path / MANIFEST_NAME).exists()
    assert not (tmp_path / LEGACY_NAME).exists() and not (tmp_path / LEGACY_JOURNAL).exists()
    assert dict(Manifest.read(tmp_path).records) == expected


def test_manifest_json_is_written_on_request(tmp_path: Path) -> None:
    from climnorm.cli import main

    manifest = Manifest(tmp_path)
    for data in (ENSEMBLE, MEMBER):
        manifest.add(OutputRecord.from_json(data))
    manifest.save()
    assert main(["manifest", str(tmp_path), "--json"]) == 0
    saved = json.loads((tmp_path / LEGACY_NAME).read_text())
    assert saved["format"] == 1
    assert [json.dumps(r, sort_keys=True) for r in saved["outputs"]] == [
        json.dumps(r, sort_keys=True) for r in sorted([MEMBER, ENSEMBLE], key=lambda r: str(r["path"]))
    ]
    assert dict(Manifest.load(tmp_path).records).keys() == {MEMBER["path"], ENSEMBLE["path"]}  # not re-imported


def test_unreadable_records_are_left_out_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = [{"path": f"x{i}.nc"} for i in range(3)]
    (tmp_path / LEGACY_NAME).write_text(json.dumps({"format": 1, "outputs": [MEMBER, *broken]}))
    with caplog.at_level(logging.WARNING, logger="climnorm"):
        records = Manifest.load(tmp_path).records
    assert list(records) == [MEMBER["path"]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 record(s) unreadable" in warnings[0]


def test_the_plan_reads_a_manifest_as_it_reads_whole_records(pictures_run: Path, tmp_path: Path) -> None:
    """Resume through the manifest's state columns (a folder at a time) marks exactly the outputs that whole
    records mark: after a run everything is current; a deleted output and the outputs of an input whose mtime
    changed are not. A grown output is (the recorded size is trusted): `verify` reports it, and once its file is
    removed the run recomputes it."""
    import os

    from climnorm.catalog.scan import build_catalog
    from climnorm.config.model import parse_config
    from climnorm.outputs.verify import verify_outputs
    from climnorm.plan.build import make_plan
    from climnorm.runner.pipeline import run
    from conftest import pictures_config

    shutil.copytree(pictures_run.parent / "archive", tmp_path / "archive")  # its files' mtimes are changed below
    data = {**pictures_config(tmp_path / "archive", tmp_path / "out"), "regions": ["CONUS"],
            "periods": {"historical": [2013, 2014]}, "products": ["daily", "monthly"]}  # fmt: skip
    config = parse_config(data)
    assert run(config).written == 2 * 2 * 2

    def current() -> dict[str, bool]:
        catalog = build_catalog(config.input_dirs, variables=config.variables)
        manifest = Manifest.read(config.output_dir)
        fast = {o.path: o.up_to_date for o in make_plan(config, catalog, manifest.records).outputs}
        whole = {o.path: o.up_to_date for o in make_plan(config, catalog, dict(manifest.records)).outputs}
        assert fast == whole
        return fast

    assert all(current().values()) and len(current()) == 8
    deleted, grown = sorted(current())[:2]
    (config.output_dir / deleted).unlink()
    with open(config.output_dir / grown, "ab") as fh:
        fh.write(b"\0")
    touched = next(p for p in (tmp_path / "archive").rglob("tas_*_2013.nc"))
    os.utime(touched, (1e9, 1e9))
    stale = {p for p, ok in current().items() if not ok}
    assert deleted in stale and {p for p in stale if "/tas/" in p} == {
        p for p in current() if "/tas/" in p
    }  # both tas targets' windows hold 2013
    assert grown not in stale  # kept as recorded (a pr output: its inputs are unchanged)
    assert any(p.startswith(f"{grown}: ") for p in verify_outputs(config.output_dir)[1])
    (config.output_dir / grown).unlink()
    assert not current()[grown]
    again = run(config)
    assert again.written == len(stale | {grown}) and all(current().values())
    assert verify_outputs(config.output_dir)[1] == []


@pytest.mark.parametrize(
    "wanted",
    [
        {"variable": "tas"},
        {"variable": "tas", "region": "AK", "scenario": ["ssp245", "historical"], "target_year": 2021},
        {"region": "CONUS", "member": "ensemble"},
        {"variable": "tas", "target_year": "2013", "period": "historical"},
        {"variable": "pr", "region": "HI"},
        {"variable": "tas", "target_year": 1900},
        {"variable": "tas", "scenario": "ssp245", "window_years": 7},
    ],
)
def test_a_query_narrowed_in_the_database_is_the_query_of_the_records(pictures_run: Path, wanted: dict) -> None:
    """OutputIndex.select narrows in SQL (reading only what it returns) exactly as it narrows records in memory,
    to the same records or the same error naming what there is."""
    from climnorm.errors import OutputNotFound
    from climnorm.outputs.index import OutputIndex

    loaded = OutputIndex.load(pictures_run)
    in_memory = OutputIndex(pictures_run, OutputIndex.load(pictures_run).records)
    try:
        expected = in_memory.select(**wanted)
    except OutputNotFound as err:
        with pytest.raises(OutputNotFound) as got:
            loaded.select(**wanted)
        assert str(got.value) == str(err)
        return
    assert loaded.select(**wanted) == expected and expected
    assert "records" not in vars(loaded)  # nothing but the selection was read
