"""The manifest: a record of every output, what it was computed from, and a checksum of its data.

One SQLite database, ``manifest.sqlite`` (the standard library's; docs/normals.md, "The manifest"): the input files
stored once (``inputs``) and referenced by each output's record (``outputs``: indexed by chain and target, the rest
of the record compressed). Each landed output is one committed transaction in WAL mode, so a killed run loses
none, a reader sees every record committed before it began, and nothing is rewritten whole at the end.

A directory of an older climnorm (``manifest.json`` and its journal, `climnorm.write.legacy_manifest`) is upgraded
in place the first time a run opens it; a reader that finds only those files reads them as they are.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import struct
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from climnorm._atomic import atomic_file
from climnorm.records import ENSEMBLE, ComposedState, OutputRecord, RecordState
from climnorm.write.legacy_manifest import LEGACY_JOURNAL, LEGACY_NAME, legacy_exists, legacy_records, retire_legacy

log = logging.getLogger(__name__)
_FOLDERS = 256  # folders of record states a RecordMap keeps (a chain's outputs are in a few)

MANIFEST_NAME = "manifest.sqlite"
FORMAT = 2  # manifest.json was format 1
COLUMNS = ("variable", "region", "scenario", "product", "model", "variant", "period", "target_year", "change")
"""The record fields the outputs table keeps as columns of their own (the index: chain, then target)."""
STATE = ("fingerprint", "size", "checksum")
"""The fields resume compares, as columns too (a plan reads them without decompressing records)."""
_STORED = ("path", *COLUMNS, *STATE, "inputs", "body")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS inputs (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS outputs (path TEXT PRIMARY KEY, variable TEXT, region TEXT, scenario TEXT, "
    "product TEXT, model TEXT, variant TEXT, period TEXT, target_year INTEGER, change TEXT, fingerprint TEXT, "
    "size INTEGER, checksum TEXT, inputs BLOB, body BLOB) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS outputs_chain ON outputs "
    "(variable, region, scenario, product, model, variant, target_year)",
)
_ZDICT = json.dumps(
    {
        "calendar": "noleap",
        "checksum": "sha256:",
        "fingerprint": "",
        "leap_day": "calendar_day",
        "missing_years": [],
        "model": "",
        "period": "historical",
        "product": "annual",
        "region": "CONUS",
        "scenario": "ssp245",
        "size": 0,
        "target_year": 2014,
        "variable": "tasmax",
        "variant": "r1i1p1f1",
        "window_statistics": ["detrended_std", "years"],
        "window_years": 30,
        "name": "",
        "indicator": {},
        "statistics": ["mean", "median", "p10", "p90"],
        "min_members": 18,
        "members": [],
        "change": "additive",
        "baseline": [1991, 2020],
        "member_outputs": [{"checksum": "sha256:", "member": "", "path": ""}],
        "years": list(range(1991, 2021)),
    },
    sort_keys=True,
    separators=(",", ":"),
).encode()
"""The preset dictionary a record's body is compressed with (zlib's ``zdict``): the keys and values every record
repeats. Stored in the database itself (``meta``), so a later version may change it for new databases only."""


_OUTSIDE = frozenset(("path", "variable", "region", "target_year", *STATE))  # kept as columns, not in the body
_READ = "path, variable, region, target_year, fingerprint, size, checksum, inputs, body"


def _key(entry: Mapping[str, Any]) -> str:
    """An input's identity: its fields (path, size, mtime or ETag) as canonical JSON."""
    return json.dumps(dict(entry), sort_keys=True, separators=(",", ":"))


class Manifest:
    """The output records of an output directory, by their path relative to it (``records``: a read-only
    mapping that queries the database); ``add`` records an output that has landed, durably."""

    def __init__(self, output_dir: Path, *, database: Path | None = None, create: bool = True) -> None:
        self.output_dir = output_dir
        self.path = database or output_dir / MANIFEST_NAME
        self.create = create  # False: a reader's, which makes no database where there is none
        self._db: sqlite3.Connection | None = None
        self._placeholder = False  # _db is an empty in-memory stand-in for a database not made yet
        self._inputs: list[dict[str, Any]] = []  # by id - 1
        self._input_ids: dict[str, int] = {}
        self._zdict = _ZDICT
        self.records = RecordMap(self)

    @classmethod
    def exists(cls, output_dir: Path) -> bool:
        """Whether ``output_dir`` has a manifest (of this version or an older one, not yet upgraded)."""
        return (output_dir / MANIFEST_NAME).exists() or legacy_exists(output_dir)

    @classmethod
    def load(cls, output_dir: Path) -> Manifest:
        """The manifest of ``output_dir`` for a run: an older directory's ``manifest.json`` and journal are moved
        into it first (their records as they were: nothing is recomputed)."""
        if legacy_exists(output_dir) and not (output_dir / MANIFEST_NAME).exists():
            upgrade(output_dir)
        return cls(output_dir)

    @classmethod
    def read(cls, output_dir: Path) -> Manifest:
        """The manifest of ``output_dir`` for a reader, which writes nothing there: an older directory's records
        are read into memory."""
        if (output_dir / MANIFEST_NAME).exists() or not legacy_exists(output_dir):
            return cls(output_dir, create=False)
        manifest = cls(output_dir, database=Path(":memory:"))  # nothing written where there is nothing
        manifest.add_many(list(legacy_records(output_dir)))
        return manifest

    @property
    def db(self) -> sqlite3.Connection:
        """The open database; where there is none yet, an empty one in memory until the first record is added."""
        if self._db is None:
            self._db = self._open(write=False)
        return self._db

    def _writable(self) -> sqlite3.Connection:
        """The database to add records to, created (with its schema) on the first."""
        if self._db is not None and self._placeholder:
            self.close()
        if self._db is None:
            self._db = self._open(write=self.create)
        return self._db

    def _open(self, *, write: bool) -> sqlite3.Connection:
        where = str(self.path)
        self._placeholder = where != ":memory:" and not self.path.exists() and not (write and self.create)
        if self._placeholder:
            where = ":memory:"  # nothing is written where there is nothing to record yet
        elif where != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a commit survives the process being killed; WAL stays consistent
        zdict = _stored_zdict(db)
        if zdict is None and where != ":memory:" and not (write and self.create):
            db.close()  # a database never given its schema (its disk was full): a reader sees it empty
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._placeholder = True
        if zdict is None:  # a new database: its schema (a reader of an existing one writes nothing)
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?), ('zdict', ?)", (FORMAT, _ZDICT))
            db.execute("COMMIT")
            zdict = _stored_zdict(db)
        assert zdict is not None
        self._zdict = zdict
        self._inputs, self._input_ids = [], {}
        for number, key in db.execute("SELECT id, key FROM inputs ORDER BY id"):
            self._remember(number, key)
        return db

    def _remember(self, number: int, key: str) -> None:
        while len(self._inputs) < number:
            self._inputs.append({})
        self._inputs[number - 1] = json.loads(key)
        self._input_ids[key] = number

    def add(self, record: OutputRecord) -> None:
        """Record one output that has landed; durable (against a kill of the process) before this returns."""
        self.add_many([record])

    def add_many(self, records: list[OutputRecord]) -> None:
        """Record several outputs in one transaction; OSError when the database cannot take them (a full disk)."""
        try:
            db = self._writable()
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise _os_error(err) from None
        try:
            rows = [self._row(record) for record in records]
            db.executemany(f"INSERT OR REPLACE INTO outputs VALUES ({', '.join('?' * len(_STORED))})", rows)
            db.execute("COMMIT")
        except BaseException as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._forget_uncommitted()
            if isinstance(err, sqlite3.Error):
                raise _os_error(err) from None
            raise

    def _forget_uncommitted(self) -> None:
        """Drop the input ids a rolled-back transaction had given."""
        known = {number for (number,) in self.db.execute("SELECT id FROM inputs")}
        for key, number in list(self._input_ids.items()):
            if number not in known:
                del self._input_ids[key]
        del self._inputs[len(known) :]

    def _row(self, record: OutputRecord) -> tuple[Any, ...]:
        data = record.to_json()
        inputs = data.pop("inputs")
        body = {k: v for k, v in data.items() if k not in _OUTSIDE}
        ids = [self._input_id(entry) for entry in inputs]
        columns = [record.value(c) for c in (*COLUMNS, *STATE)]
        packed = struct.pack(f"<{len(ids)}I", *ids)
        return (record.path, *columns, packed, self._compress(body))

    def _input_id(self, entry: Mapping[str, Any]) -> int:
        key = _key(entry)
        number = self._input_ids.get(key)
        if number is None:
            number = int(self.db.execute("INSERT INTO inputs (key) VALUES (?) RETURNING id", (key,)).fetchone()[0])
            self._remember(number, key)
        return number

    def _compress(self, body: dict[str, Any]) -> bytes:
        packer = zlib.compressobj(9, zdict=self._zdict)
        text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return packer.compress(text) + packer.flush()

    def record_of(self, row: tuple[Any, ...]) -> OutputRecord:
        """The record of one ``outputs`` row (:data:`_READ`)."""
        path, variable, region, target_year, fingerprint, size, checksum, inputs, body = row
        data = self.body_of(body)
        ids = struct.unpack(f"<{len(inputs) // 4}I", inputs)
        data.update(path=path, variable=variable, region=region, target_year=target_year, fingerprint=fingerprint)
        if size is not None:
            data["size"] = size
        if checksum is not None:
            data["checksum"] = checksum
        data["inputs"] = [self._inputs[i - 1] for i in ids]
        return OutputRecord.from_json(data)

    def body_of(self, body: bytes) -> dict[str, Any]:
        """The fields of a record its ``body`` column holds (every one not kept as a column of its own)."""
        unpacker = zlib.decompressobj(zdict=self._zdict)
        data: dict[str, Any] = json.loads(unpacker.decompress(body) + unpacker.flush())
        return data

    def input_id(self, entry: Mapping[str, Any]) -> int | None:
        """The id the manifest gave an input (its packed ids in ``outputs.inputs``), None if it never had it."""
        if self._db is None:
            self._db = self._open(write=False)  # the input ids are known once the database is open
        return self._input_ids.get(_key(entry))

    def select(self, **where: str | int | None) -> Iterator[OutputRecord]:
        """The records whose indexed fields (:data:`COLUMNS`) have the given values (None: any), by path."""
        wanted = {k: v for k, v in where.items() if v is not None}
        unknown = set(wanted) - set(COLUMNS) - {"path"}
        if unknown:
            raise ValueError(f"not a manifest column: {', '.join(sorted(unknown))}")
        return self.where(" AND ".join(f"{k} = ?" for k in wanted) or "1", tuple(wanted.values()))

    def where(self, clause: str, params: tuple[object, ...]) -> Iterator[OutputRecord]:
        """The records of the rows an SQL condition on the outputs table's columns selects, by path."""
        for row in self.db.execute(f"SELECT {_READ} FROM outputs WHERE {clause} ORDER BY path", params):
            yield self.record_of(row)

    def count_where(self, clause: str, params: tuple[object, ...]) -> int:
        """How many rows an SQL condition selects."""
        return int(self.db.execute(f"SELECT count(*) FROM outputs WHERE {clause}", params).fetchone()[0])

    def distinct(self, column: str, clause: str, params: tuple[object, ...]) -> list[object]:
        """The values of one column among the rows an SQL condition selects."""
        if column not in COLUMNS:
            raise ValueError(f"not a manifest column: {column}")
        query = f"SELECT DISTINCT {column} FROM outputs WHERE {clause}"
        return [value for (value,) in self.db.execute(query, params)]

    def count(self) -> int:
        return self.count_where("1", ())

    def save(self) -> None:
        """At a run's end: fold the write-ahead log into the database and close it (the records are then all in
        the database file; a failure leaves them in the log beside it, which the next opening folds in)."""
        if self._db is None:
            return
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:
            log.warning("%s: cannot fold the write-ahead log (%s); it is kept beside the database", self.path, err)
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def snapshot(database: Path, to: Path) -> None:
    """A consistent copy of a manifest's database, with every committed record (its write-ahead log's too), as one
    file (what is published beside outputs in a bucket)."""
    source = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(to)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def manifest_outputs(output_dir: Path) -> list[dict[str, Any]]:
    """Every record of ``output_dir``'s manifest as ``manifest.json`` lists it (format 1), by path; none where
    there is no manifest (what tests and benchmarks compare)."""
    if not Manifest.exists(output_dir):
        return []
    manifest = Manifest.read(output_dir)
    try:
        return [record.to_json() for record in manifest.select()]
    finally:
        manifest.close()


def _stored_zdict(db: sqlite3.Connection) -> bytes | None:
    """The preset dictionary a database's records are compressed with; None for a database without a schema."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'zdict'").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return None if row is None else bytes(row[0])


def _os_error(err: sqlite3.Error) -> OSError:
    """SQLite's error as the OSError a file write would raise (a full disk is ENOSPC, as the outputs' writes say)."""
    if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return OSError(errno.EIO, str(err))


def upgrade(output_dir: Path) -> None:
    """Move an older directory's records (``manifest.json``, then its journal) into a new ``manifest.sqlite``,
    built beside it and renamed into place, then retire those files: a kill at any moment leaves either the old
    files (upgraded again next time) or the new database with every record."""
    final = output_dir / MANIFEST_NAME
    records = list(legacy_records(output_dir))
    with atomic_file(final) as tmp:
        building = Manifest(output_dir, database=tmp)
        building.add_many(records)
        building.save()
    retire_legacy(output_dir)
    log.info("%s: upgraded %d records from %s to %s", output_dir, len(records), LEGACY_NAME, MANIFEST_NAME)


class RecordMap(Mapping[str, OutputRecord]):
    """A manifest's records by path, read from the database as they are asked for (never loaded whole); and
    what resume compares of them (:meth:`state`), read a folder at a time."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._folders: OrderedDict[str, dict[str, RecordState]] = OrderedDict()
        self._composed: OrderedDict[str, dict[str, tuple[Any, ...]]] = OrderedDict()

    def state(self, path: str) -> RecordState | None:
        """The recorded fingerprint, size, checksum and packed input ids of the output at ``path``, or None."""
        return self.states(path.rpartition("/")[0]).get(path)

    def states(self, folder: str) -> dict[str, RecordState]:
        """The record states (:meth:`state`) of a folder's outputs, by path."""
        states = self._folders.get(folder)
        if states is None:
            rows = self._folder(folder, "path, fingerprint, size, checksum, inputs", "1")
            states = self._folders[folder] = {state.path: state for state in map(RecordState._make, rows)}
            if len(self._folders) > _FOLDERS:
                self._folders.popitem(last=False)
        else:
            self._folders.move_to_end(folder)
        return states

    def composed(self, path: str) -> ComposedState | None:
        """What resume compares of the output made of outputs (an ensemble's, a change's) at ``path``, or None: its
        fingerprint, size and ``member_outputs`` (the only field of its body decoded), read a folder at a time."""
        folder = path.rpartition("/")[0]
        rows = self._composed.get(folder)
        if rows is None:
            found = self._folder(folder, "path, fingerprint, size, body", "(model = ? OR change <> '')", ENSEMBLE)
            rows = self._composed[folder] = {row[0]: row for row in found}
            if len(self._composed) > _FOLDERS:
                self._composed.popitem(last=False)
        else:
            self._composed.move_to_end(folder)
        row = rows.get(path)
        if row is None:
            return None
        try:
            made = tuple((m["member"], m["path"], m["checksum"]) for m in self.manifest.body_of(row[3]).get(
                "member_outputs", ()))  # fmt: skip
        except (KeyError, TypeError, ValueError, zlib.error):
            return None  # an unreadable record: not current
        return ComposedState(row[1], row[2], made)

    def _folder(self, folder: str, columns: str, where: str, *params: object) -> list[tuple[Any, ...]]:
        """Some columns of the rows of one folder's outputs (a range query on the path) that ``where`` selects."""
        low, high = (folder + "/", folder + "0") if folder else ("", "\U0010ffff")  # "0" follows "/"
        query = f"SELECT {columns} FROM outputs WHERE path >= ? AND path < ? AND {where}"
        return self.manifest.db.execute(query, (low, high, *params)).fetchall()

    def input_id(self, entry: Mapping[str, Any]) -> int | None:
        return self.manifest.input_id(entry)

    def __getitem__(self, path: str) -> OutputRecord:
        row = self.manifest.db.execute(f"SELECT {_READ} FROM outputs WHERE path = ?", (path,)).fetchone()
        if row is None:
            raise KeyError(path)
        return self.manifest.record_of(row)

    def __contains__(self, path: object) -> bool:
        query = "SELECT 1 FROM outputs WHERE path = ?"
        return isinstance(path, str) and self.manifest.db.execute(query, (path,)).fetchone() is not None

    def __iter__(self) -> Iterator[str]:
        return (path for (path,) in self.manifest.db.execute("SELECT path FROM outputs ORDER BY path"))

    def __len__(self) -> int:
        return self.manifest.count()

    def __bool__(self) -> bool:
        return self.manifest.db.execute("SELECT 1 FROM outputs LIMIT 1").fetchone() is not None

    def values(self) -> Iterator[OutputRecord]:  # type: ignore[override]
        return self.manifest.select()


__all__ = ["LEGACY_JOURNAL", "LEGACY_NAME", "MANIFEST_NAME", "Manifest", "RecordMap", "manifest_outputs"]
