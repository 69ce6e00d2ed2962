"""Atomic file writes: a temporary name beside the final one, fsync, rename; leftovers recognisable by name.

Readers (and a later run) see the old file or the new one, never a part: an interrupted write leaves only a
temporary file, which :func:`remove_leftovers` deletes at the start of the next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

TMP_MARK = ".climnorm-tmp"


def temporary_path(final: Path) -> Path:
    """A temporary name beside ``final`` (same folder, so the rename is atomic), recognisable as a leftover."""
    return final.with_name(f".{final.name}.{os.getpid()}{TMP_MARK}")


@contextlib.contextmanager
def atomic_file(final: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``final`` through; on success it is renamed (after an fsync when
    ``durable``), on any failure removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(final)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary directory path to build ``final`` in (a Zarr store); on success it takes ``final``'s
    place (an older ``final`` is moved aside first and then deleted), on any failure it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(final)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.{os.getpid()}.old{TMP_MARK}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def remove_leftovers(directory: Path) -> list[Path]:
    """Delete temporary files an interrupted run left under ``directory``; returns what was removed."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for path in sorted(directory.rglob(f"*{TMP_MARK}")):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)  # a store left by an interrupted export
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        except OSError as err:
            log.warning("%s: cannot remove leftover temporary file (%s)", path, err)
    return removed
