"""Outputs of a fixed job stay what they were: every data checksum and manifest field (see tests/golden.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from golden import JOBS, golden, run_job


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(JOBS))
def test_outputs_equal_the_golden_records(name: str, tmp_path: Path) -> None:
    records = run_job(name, tmp_path)
    expected = golden(name)
    assert [r["path"] for r in records] == [r["path"] for r in expected]
    for have, want in zip(records, expected, strict=True):
        assert have == want, f"{have['path']}: differs from the golden record"
