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
from climnorm.write.manifest import MANIFEST_NAME, snapshot
from climnorm.write.store import OutputStore

log = logging.getLogger(__name__)


def fetch_manifest(config: Config, store: OutputStore) -> None:
    """A state directory without a manifest starts from the one published in the bucket, if there is one (a rerun
    on another machine resumes)."""
    local = config.state_path / MANIFEST_NAME
    if not config.remote_outputs or local.exists():
        return
    data = store.get(MANIFEST_NAME)
    if data is None:
        return
    atomic_write_bytes(local, data)
    log.info("%s: the manifest published by an earlier run (%d bytes) fetched into %s", config.output_dir,
             len(data), local)  # fmt: skip


def publish(config: Config, store: OutputStore, log_file: Path | None) -> None:
    """Put the manifest (a consistent copy) and this run's log beside the outputs in the bucket; a failure is
    logged, not raised: the state directory keeps both, and the next run publishes them."""
    database = config.state_path / MANIFEST_NAME
    if not config.remote_outputs or not database.exists():
        return
    try:
        with tempfile.TemporaryDirectory(dir=config.state_path) as scratch:
            copy = Path(scratch) / MANIFEST_NAME
            snapshot(database, copy)
            store.put(MANIFEST_NAME, copy)
        if log_file is not None and log_file.exists():
            store.put(f"logs/{log_file.name}", log_file)
    except (OSError, sqlite3.Error) as err:
        log.warning("%s: cannot publish the manifest (%s); %s keeps it", config.output_dir, err, config.state_path)
        return
    log.info("%s: manifest published", store.location(MANIFEST_NAME))
