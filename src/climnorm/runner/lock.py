"""One run per output directory: an advisory lock the kernel releases when its holder dies."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path

import psutil

from climnorm.errors import RunLocked

log = logging.getLogger(__name__)

LOCK_NAME = ".climnorm.lock"


class OutputLock:
    """Hold ``{output_dir}/.climnorm.lock`` for the duration of a run (a context manager)."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> OutputLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(fd))
            os.close(fd)
            raise RunLocked(
                f"{self.path.parent}: another climnorm run is using this output directory ({holder}); "
                "wait for it to finish or stop it, then run again"
            ) from None
        previous = _read(fd)
        if previous.get("pid") and not _alive(previous):
            log.info("taking over the lock left by a run that is gone (%s)", _describe(previous))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_me()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def _me() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


def _read(fd: int) -> dict[str, object]:
    try:
        data = os.pread(fd, 4096, 0)
        return dict(json.loads(data)) if data.strip() else {}
    except (OSError, ValueError, TypeError):
        return {}


def _alive(info: dict[str, object]) -> bool:
    pid = info.get("pid")
    return isinstance(pid, int) and info.get("host") == socket.gethostname() and psutil.pid_exists(pid)


def _describe(info: dict[str, object]) -> str:
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: {info.get('command')}"
