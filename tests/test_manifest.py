"""Tests of the manifest (write.manifest) and its records (records.OutputRecord): the JSON schema is unchanged,
the journal survives a kill, unreadable records are left out with one warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from climnorm.records import MemberOutput, OutputRecord
from climnorm.write.manifest import JOURNAL_NAME, MANIFEST_NAME, Manifest

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


def test_the_journal_keeps_what_landed_until_the_manifest_holds_it(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    first, second = OutputRecord.from_json(MEMBER), OutputRecord.from_json(ENSEMBLE)
    manifest.add(first)
    manifest.add(second)
    with open(tmp_path / JOURNAL_NAME, "a") as fh:
        fh.write('{"path": "torn')  # a kill while appending
    assert Manifest.load(tmp_path).records == {first.path: first, second.path: second}
    manifest.save()
    assert not (tmp_path / JOURNAL_NAME).exists()
    saved = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert saved["format"] == 1 and [r["path"] for r in saved["outputs"]] == sorted([first.path, second.path])
    assert Manifest.load(tmp_path).records[second.path].member_outputs[0] == MemberOutput(
        "M-A r1i1p1f1", "M-A/a.nc", "sha256:2caa"
    )


def test_unreadable_records_are_left_out_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = [{"path": f"x{i}.nc"} for i in range(3)]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format": 1, "outputs": [MEMBER, *broken]}))
    with caplog.at_level(logging.WARNING, logger="climnorm"):
        records = Manifest.load(tmp_path).records
    assert list(records) == [MEMBER["path"]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 record(s) unreadable" in warnings[0]
