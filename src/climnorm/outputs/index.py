"""The one query over an output directory's manifest (:class:`OutputIndex`): every reader of finished outputs
(datasets, export, verify, zonal tables, pictures) selects records through it, and one error,
:class:`~climnorm.errors.OutputNotFound`, names what exists when nothing matches.

An index loaded from a directory asks its manifest's database: ``select`` narrows by the indexed columns in SQL
and reads only the records it returns, so a query of one chain reads that chain's records whatever the size of the
manifest; ``records`` and ``changes`` (every normal, every change) are read on first use.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from climnorm.errors import OutputError, OutputNotFound
from climnorm.records import OutputRecord
from climnorm.storage.options import StorageOptions
from climnorm.storage.urls import is_s3_url
from climnorm.write.manifest import COLUMNS, MANIFEST_NAME, Manifest
from climnorm.write.readback import reader_options

T_Wanted = str | int | Iterable[str | int] | None
"""One value, any of several, or None (any)."""

_NORMALS = "change = ''"  # the normals' rows (a change file's record names its kind)
_CHANGES = "change != ''"


def _matches(record: OutputRecord, key: str, allowed: set[str]) -> bool:
    if key == "statistic":  # an ensemble output holds several
        return bool(allowed & set(record.statistics))
    if key == "member":
        return record.member in allowed
    return str(record.value(key)) in allowed


def _present(records: Iterable[OutputRecord], key: str) -> str:
    if key == "statistic":
        values = {s for r in records for s in r.statistics}
    else:
        values = {str(r.member if key == "member" else r.value(key)) for r in records}
    return _listed(values)


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _allowed(value: str | int | Iterable[str | int]) -> set[str]:
    return {str(value)} if isinstance(value, str | int) else {str(v) for v in value}


class OutputIndex:
    """The records of an output directory's manifest (with those of an older, not yet upgraded one), by path:
    ``records`` the normals (members' and ensembles'), ``changes`` the change files, apart (a reader of normals
    never meets one). Made from records in memory, or by :meth:`load` from a directory, then read as asked."""

    def __init__(
        self,
        output_dir: Path | str,
        records: Iterable[OutputRecord] | None = None,
        changes: Iterable[OutputRecord] = (),
        *,
        manifest: Manifest | None = None,
        rows: str = _NORMALS,
        storage: StorageOptions | None = None,
    ) -> None:
        self.output_dir: Path | str = output_dir if is_s3_url(output_dir) else Path(output_dir)
        self.storage = storage  # how to reach outputs in a bucket
        self.manifest = manifest
        self._kept: tempfile.TemporaryDirectory[str] | None = None  # a fetched manifest's folder
        self.rows = rows  # which of the manifest's rows are this index's records: the normals, or the changes
        if records is not None or manifest is None:
            self.__dict__["records"] = tuple(records or ())
            self.__dict__["changes"] = tuple(changes)

    @classmethod
    def load(cls, output_dir: Path | str, storage: StorageOptions | None = None) -> OutputIndex:
        """The index of ``output_dir`` (an ``s3://`` prefix: the manifest its run published there, fetched, with
        ``storage`` or the ``AWS_*`` environment); OutputNotFound when it has no manifest or the manifest lists
        nothing."""
        kept: tempfile.TemporaryDirectory[str] | None = None
        if is_s3_url(output_dir):
            storage = reader_options(storage)
            kept, where = _fetched(str(output_dir), storage)
        else:
            output_dir = where = Path(output_dir)
        if not Manifest.exists(where):
            raise OutputNotFound(f"{output_dir}: no manifest here; is this a climnorm output directory?")
        manifest = Manifest.read(where)
        if manifest.count() == 0:
            manifest.close()
            raise OutputNotFound(f"{output_dir}: no outputs are listed in its manifest")
        index = cls(output_dir, manifest=manifest, storage=storage)
        index._kept = kept
        return index

    @functools.cached_property
    def records(self) -> tuple[OutputRecord, ...]:
        """Every normal (of an index of changes, every change), by path (read from the manifest on first use)."""
        assert self.manifest is not None
        return tuple(self.manifest.where(self.rows, ()))

    @functools.cached_property
    def changes(self) -> tuple[OutputRecord, ...]:
        """Every change file's record, by path (read from the manifest on first use)."""
        assert self.manifest is not None
        return () if self.rows == _CHANGES else tuple(self.manifest.where(_CHANGES, ()))

    def of_changes(self) -> OutputIndex:
        """The change files as an index of their own (its ``records``), queried as this one is; OutputNotFound
        when there are none."""
        if self.manifest is None or "changes" in self.__dict__:
            index = OutputIndex(self.output_dir, self.changes, storage=self.storage)
            empty = not index.records
        else:
            index = OutputIndex(self.output_dir, manifest=self.manifest, rows=_CHANGES, storage=self.storage)
            index._kept = self._kept
            empty = not self.manifest.count_where(_CHANGES, ())
        if empty:
            raise OutputNotFound(f"{self.output_dir}: no change files (a run with a changes: section writes them)")
        return index

    def select(self, **wanted: T_Wanted) -> list[OutputRecord]:
        """The records whose fields have the wanted values (any of several; None: any), narrowed in the order the
        keys are given: ``variable``, ``region``, ``scenario``, ``product``, ``model``, ``variant``, ``member``
        ("ACCESS-CM2 r1i1p1f1" or "ensemble"), ``statistic`` (of an ensemble output), ``period``,
        ``target_year``, ``window_years``. When a key leaves nothing, OutputNotFound names the values there are."""
        query = None if self.manifest is None or "records" in self.__dict__ else _Query(self.manifest, self.rows)
        chosen: list[OutputRecord] | None = None if query is not None else list(self.records)
        what: list[str] = []
        for key, value in wanted.items():
            if value is None:
                continue
            allowed = _allowed(value)
            asked = repr(value) if isinstance(value, str | int) else " or ".join(map(repr, value))
            head = " ".join(what) or "outputs"
            if query is not None and chosen is None and key in COLUMNS:
                if not query.narrow(key, allowed):
                    raise OutputNotFound(f"{head}: no {key} {asked} (there are: {query.present(key)})")
            else:
                if chosen is None:
                    assert query is not None
                    chosen = query.records()
                narrowed = [r for r in chosen if _matches(r, key, allowed)]
                if not narrowed:
                    raise OutputNotFound(f"{head}: no {key} {asked} (there are: {_present(chosen, key)})")
                chosen = narrowed
            what.append(", ".join(sorted(allowed)))
        if chosen is None:
            assert query is not None
            chosen = query.records()
        return chosen

    def each(self) -> Iterator[OutputRecord]:
        """Every record, the normals then the changes, read one at a time (what a reader of them all, `verify`,
        needs without holding them all)."""
        if self.manifest is None or "records" in self.__dict__:
            yield from (*self.records, *self.changes)
            return
        yield from self.manifest.where(self.rows, ())
        if self.rows == _NORMALS:
            yield from self.manifest.where(_CHANGES, ())

    def record(self, path: str) -> OutputRecord | None:
        """The record of the output (a normal or a change) at ``path``, or None."""
        if self.manifest is not None:
            return self.manifest.records.get(path)
        return next((r for r in (*self.records, *self.changes) if r.path == path), None)

    def location(self, record: OutputRecord) -> str:
        """Where a record's output is: a local path, or an ``s3://`` URL (read with :attr:`storage`)."""
        if isinstance(self.output_dir, str):
            return f"{self.output_dir.rstrip('/')}/{record.path}"
        return str(self.output_dir / record.path)

    def path(self, record: OutputRecord) -> Path:
        """Where a record's file is on local disk (OutputError for outputs in a bucket: a reader that needs a
        local directory)."""
        if isinstance(self.output_dir, str):
            raise OutputError(
                f"{self.output_dir}: this reads a local output directory; copy the outputs here first "
                f"(aws s3 sync {self.output_dir} DIR)"
            )
        return self.output_dir / record.path


def _fetched(url: str, storage: StorageOptions) -> tuple[tempfile.TemporaryDirectory[str], Path]:
    """The manifest a run published beside its outputs in a bucket, in a local temporary directory (kept as long
    as the index)."""
    from climnorm.write.bucket import ObjectDirectory

    kept = tempfile.TemporaryDirectory(prefix="climnorm-manifest-")
    data = ObjectDirectory(url.rstrip("/"), storage).get(MANIFEST_NAME)
    if data is not None:
        (Path(kept.name) / MANIFEST_NAME).write_bytes(data)
    return kept, Path(kept.name)


class _Query:
    """A selection of a manifest's rows (its normals, or its changes) narrowed in SQL, column by column."""

    def __init__(self, manifest: Manifest, rows: str) -> None:
        self.manifest = manifest
        self.clauses = [rows]
        self.params: list[object] = []

    def narrow(self, key: str, allowed: set[str]) -> bool:
        """Narrow to the rows whose ``key`` is one of ``allowed`` (compared as text, as the records' values are);
        False, and unchanged, when that leaves none."""
        values: list[object] = [int(v) for v in allowed if v.lstrip("-").isdigit()]
        if key != "target_year":
            values = list(sorted(allowed))
        clause = f"{key} IN ({', '.join('?' * len(values))})" if values else "0"
        if not self.manifest.count_where(" AND ".join([*self.clauses, clause]), (*self.params, *values)):
            return False
        self.clauses.append(clause)
        self.params.extend(values)
        return True

    def present(self, key: str) -> str:
        """The values of ``key`` in the selection so far."""
        return _listed(str(v) for v in self.manifest.distinct(key, " AND ".join(self.clauses), tuple(self.params)))

    def records(self) -> list[OutputRecord]:
        return list(self.manifest.where(" AND ".join(self.clauses), tuple(self.params)))
