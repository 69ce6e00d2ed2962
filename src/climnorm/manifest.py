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

from climnorm.catalog import FileEntry

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
JOURNAL_NAME = "manifest.journal.jsonl"
TMP_MARK = ".climnorm-tmp"


def input_record(entry: FileEntry) -> dict[str, Any]:
    """How an input is identified for resume: path, size and modification time."""
    return {"path": str(entry.path), "size": entry.size, "mtime": entry.mtime}


def temporary_path(final: Path) -> Path:
    """A temporary name beside ``final`` (same folder, so the rename is atomic), recognisable as a leftover."""
    return final.with_name(f".{final.name}.{os.getpid()}{TMP_MARK}")


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: readers see the old file or the new one, never a part."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_leftovers(output_dir: Path) -> list[Path]:
    """Delete temporary files an interrupted run left behind; returns what was removed."""
    removed: list[Path] = []
    if not output_dir.is_dir():
        return removed
    for path in output_dir.rglob(f"*{TMP_MARK}"):
        try:
            path.unlink()
            removed.append(path)
        except OSError as err:
            log.warning("%s: cannot remove leftover temporary file (%s)", path, err)
    return removed


@dataclass
class Manifest:
    """Output records keyed by their path relative to the output directory."""

    output_dir: Path
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.output_dir / MANIFEST_NAME

    @property
    def journal(self) -> Path:
        return self.output_dir / JOURNAL_NAME

    @classmethod
    def load(cls, output_dir: Path) -> Manifest:
        """Read manifest.json and replay the journal of an interrupted run (a torn last line is ignored)."""
        manifest = cls(output_dir)
        if manifest.path.exists():
            try:
                data = json.loads(manifest.path.read_text())
                manifest.records = {r["path"]: r for r in data.get("outputs", [])}
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.warning("%s: unreadable manifest (%s); every output will be recomputed", manifest.path, err)
        if manifest.journal.exists():
            for line in manifest.journal.read_text().splitlines():
                try:
                    record = json.loads(line)
                    manifest.records[record["path"]] = record
                except (ValueError, KeyError, TypeError):
                    log.debug("%s: ignoring a torn journal line", manifest.journal)
        return manifest

    def add(self, record: dict[str, Any]) -> None:
        """Record one output that has landed; durable before this returns."""
        self.records[record["path"]] = record
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def save(self) -> None:
        """Write manifest.json atomically with every record, then drop the journal it now contains."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        outputs = [self.records[k] for k in sorted(self.records)]
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
