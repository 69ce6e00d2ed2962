"""A run whose outputs are in a bucket keeps what cannot live there in its local ``state_dir`` (the lock, the logs,
the scratch file, the manifest's database), and publishes the manifest and its log beside the outputs at its end
(or when it stops early): a reader elsewhere finds them there, and a run on another machine starts from them."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from pathlib import Path

from climnorm._atomic import atomic_write_bytes
from climnorm.config.model import Config
from climnorm.write.bucket import ObjectDirectory
from climnorm.write.manifest import MANIFEST_NAME, snapshot
from climnorm.write.store import OutputStore

log = logging.getLogger(__name__)


PUBLISHED = ".published-etag"  # in state_dir: the ETag of the manifest this state directory last published or fetched


def fetch_manifest(config: Config, store: OutputStore) -> None:
    """Start from the manifest published in the bucket when the state directory has none (a rerun on another
    machine resumes), or when another state directory has published one since this one last did (its records
    are the newer: outputs it rewrote are not taken as this directory recorded them)."""
    if not isinstance(store, ObjectDirectory):  # local outputs keep their manifest beside them
        return
    local, ours = config.state_path / MANIFEST_NAME, config.state_path / PUBLISHED
    head = store.head(MANIFEST_NAME)
    if head is None:
        return
    theirs = str(head.get("e_tag"))
    if local.exists():
        if not ours.exists() or ours.read_text() == theirs:
            return
        log.warning(
            "%s: another run published its manifest since this state directory's (%s); starting from it",
            config.output_dir, config.state_path,
        )  # fmt: skip
    data = store.get(MANIFEST_NAME)
    if data is None:
        return
    for stale in (local.with_name(f"{MANIFEST_NAME}-wal"), local.with_name(f"{MANIFEST_NAME}-shm")):
        stale.unlink(missing_ok=True)
    atomic_write_bytes(local, data)
    atomic_write_bytes(ours, theirs.encode())
    log.info("%s: the published manifest (%d bytes) fetched into %s", config.output_dir, len(data), local)


def publish(config: Config, store: OutputStore, log_file: Path | None) -> None:
    """Put the manifest (a consistent copy) and this run's log beside the outputs in the bucket; a failure is
    logged, not raised: the state directory keeps both, and the next run publishes them."""
    database = config.state_path / MANIFEST_NAME
    if not isinstance(store, ObjectDirectory) or not database.exists():
        return
    try:
        with tempfile.TemporaryDirectory(dir=config.state_path) as scratch:
            copy = Path(scratch) / MANIFEST_NAME
            snapshot(database, copy)
            store.put(MANIFEST_NAME, copy)
        head = store.head(MANIFEST_NAME)
        atomic_write_bytes(config.state_path / PUBLISHED, str(head and head.get("e_tag")).encode())
        if log_file is not None and log_file.exists():
            store.put(f"logs/{log_file.name}", log_file)
    except (OSError, sqlite3.Error) as err:
        log.warning("%s: cannot publish the manifest (%s); %s keeps it", config.output_dir, err, config.state_path)
        return
    log.info("%s: manifest published", store.location(MANIFEST_NAME))
