"""The manifest of climnorm before ``manifest.sqlite``: ``manifest.json`` (format 1, every record with its inputs in
full), written whole at a run's end, and ``manifest.journal.jsonl``, a record per line as outputs landed.

Read to upgrade a directory (`climnorm.write.manifest.Manifest.upgrade`), and written on request for tools that
read it (``climnorm manifest --json``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from climnorm._atomic import atomic_file
from climnorm.records import OutputRecord

log = logging.getLogger(__name__)

LEGACY_NAME = "manifest.json"
LEGACY_JOURNAL = "manifest.journal.jsonl"


def legacy_exists(output_dir: Path) -> bool:
    """Whether ``output_dir`` has an older climnorm's manifest or journal."""
    return (output_dir / LEGACY_NAME).exists() or (output_dir / LEGACY_JOURNAL).exists()


def legacy_records(output_dir: Path) -> Iterator[OutputRecord]:
    """The records of ``manifest.json``, then those of the journal of an interrupted run (a later one of a path
    replaces it; a torn last line is ignored). Unreadable records are left out with one warning: their outputs
    will be recomputed."""
    path = output_dir / LEGACY_NAME
    if path.exists():
        try:
            outputs = json.loads(path.read_text()).get("outputs", [])
        except (OSError, ValueError, AttributeError) as err:
            log.warning("%s: unreadable manifest (%s); every output will be recomputed", path, err)
            outputs = []
        yield from _records(path, outputs)
    journal = output_dir / LEGACY_JOURNAL
    if journal.exists():
        for line in journal.read_text().splitlines():
            try:
                yield OutputRecord.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError):
                log.debug("%s: ignoring a torn journal line", journal)


def _records(path: Path, outputs: list[Any]) -> Iterator[OutputRecord]:
    bad: list[str] = []
    for data in outputs:
        try:
            yield OutputRecord.from_json(data)
        except (ValueError, KeyError, TypeError) as err:
            bad.append(f"{type(err).__name__}: {err}")
    if bad:
        log.warning("%s: %d record(s) unreadable (%s); their outputs will be recomputed", path, len(bad), bad[0])


def retire_legacy(output_dir: Path) -> None:
    """Remove an upgraded directory's older manifest and journal (``climnorm manifest --json`` writes the former
    again on request)."""
    (output_dir / LEGACY_JOURNAL).unlink(missing_ok=True)
    (output_dir / LEGACY_NAME).unlink(missing_ok=True)


def write_legacy(records: Iterable[OutputRecord], out: Path) -> int:
    """``manifest.json`` (format 1) of ``records`` at ``out``, written atomically and streamed record by record;
    returns how many it lists."""
    count = 0
    with atomic_file(out) as tmp, open(tmp, "w") as fh:
        fh.write('{"format": 1, "outputs": [')
        for record in records:
            fh.write(("\n" if count == 0 else ",\n") + json.dumps(record.to_json(), sort_keys=True))
            count += 1
        fh.write("\n]}\n")
    return count
