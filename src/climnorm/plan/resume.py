"""Resume: an output a previous run recorded is up to date when nothing that shaped it changed (its
configuration's fingerprint, its inputs as the catalog lists them) and its file is still there, as large as
recorded. Opening outputs to check their data is `climnorm verify`'s job, not the plan's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from climnorm.records import MemberOutput, OutputRecord


def up_to_date(
    record: OutputRecord | None, fingerprint: str, inputs: list[Mapping[str, Any]], output_dir: Path
) -> bool:
    """Whether the output ``record`` describes can be kept as it is."""
    return (
        record is not None
        and record.fingerprint == fingerprint
        and list(record.inputs) == inputs
        and file_matches(output_dir / record.path, record)
    )


def file_matches(path: Path, record: OutputRecord) -> bool:
    """Whether the output's file is there with the size the manifest recorded."""
    try:
        return path.stat().st_size == record.size
    except OSError:
        return False


def made_of(record: OutputRecord | None, fingerprint: str, refs: Sequence[MemberOutput], path: Path) -> bool:
    """Whether an output made of outputs (an ensemble, a change) is current: recorded with ``fingerprint``, made
    of exactly ``refs`` (their paths and checksums), and its file there as recorded."""
    return (
        record is not None
        and record.fingerprint == fingerprint
        and tuple(record.member_outputs) == tuple(refs)
        and file_matches(path, record)
    )
