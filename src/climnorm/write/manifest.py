"""The manifest: a record of every output, what it was computed from, and a checksum of its data.

Records are appended to a journal as outputs land (so a killed run loses none) and folded into
`manifest.json` at the end of a run, written atomically.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climnorm._atomic import atomic_write_text
from climnorm.records import OutputRecord

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
JOURNAL_NAME = "manifest.journal.jsonl"


@dataclass
class Manifest:
    """Output records keyed by their path relative to the output directory."""

    output_dir: Path
    records: dict[str, OutputRecord] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.output_dir / MANIFEST_NAME

    @property
    def journal(self) -> Path:
        return self.output_dir / JOURNAL_NAME

    @classmethod
    def exists(cls, output_dir: Path) -> bool:
        """Whether ``output_dir`` has a manifest or the journal of an interrupted run."""
        return (output_dir / MANIFEST_NAME).exists() or (output_dir / JOURNAL_NAME).exists()

    @classmethod
    def load(cls, output_dir: Path) -> Manifest:
        """Read manifest.json and replay the journal of an interrupted run (a torn last line is ignored)."""
        manifest = cls(output_dir)
        if manifest.path.exists():
            try:
                outputs = json.loads(manifest.path.read_text()).get("outputs", [])
            except (OSError, ValueError, AttributeError) as err:
                log.warning("%s: unreadable manifest (%s); every output will be recomputed", manifest.path, err)
                outputs = []
            manifest.records = _records(manifest.path, outputs)
        if manifest.journal.exists():
            for line in manifest.journal.read_text().splitlines():
                try:
                    record = OutputRecord.from_json(json.loads(line))
                    manifest.records[record.path] = record
                except (ValueError, KeyError, TypeError):
                    log.debug("%s: ignoring a torn journal line", manifest.journal)
        return manifest

    def add(self, record: OutputRecord) -> None:
        """Record one output that has landed; durable before this returns."""
        self.records[record.path] = record
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a") as fh:
            fh.write(json.dumps(record.to_json(), sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def save(self) -> None:
        """Write manifest.json atomically with every record, then drop the journal it now contains."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        outputs: list[dict[str, Any]] = [self.records[k].to_json() for k in sorted(self.records)]
        try:
            atomic_write_text(self.path, json.dumps({"format": 1, "outputs": outputs}, indent=1, sort_keys=True) + "\n")
        except OSError as err:
            log.error(
                "%s: cannot write the manifest (%s); its journal keeps the records for the next run",
                self.path,
                err.strerror or err,
            )
            return
        self.journal.unlink(missing_ok=True)


def _records(path: Path, outputs: list[Any]) -> dict[str, OutputRecord]:
    """The records of a manifest's outputs by path; those that cannot be read are left out (their outputs are
    recomputed), with one warning saying how many and why."""
    records: dict[str, OutputRecord] = {}
    bad: list[str] = []
    for data in outputs:
        try:
            record = OutputRecord.from_json(data)
        except (ValueError, KeyError, TypeError) as err:
            bad.append(f"{type(err).__name__}: {err}")
            continue
        records[record.path] = record
    if bad:
        log.warning("%s: %d record(s) unreadable (%s); their outputs will be recomputed", path, len(bad), bad[0])
    return records
