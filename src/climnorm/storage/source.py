"""`ByteSource`: the bytes of one input file, local or on S3, as the NetCDF reader needs them.

Both kinds give a name for messages, a size, an identity for resuming, batched ranged reads, a whole-file read for
`netCDF4.Dataset(name, memory=...)`, and a file-like view that h5py can open. Both pickle as their location and
options only: each process opens its own file descriptor or S3 client on first use, and threads may share a source.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from climnorm.errors import InputFileError
from climnorm.storage.client import pool_for, store_for
from climnorm.storage.listing import ObjectInfo, normalize_etag, normalize_time
from climnorm.storage.options import ReadPolicy, StorageOptions
from climnorm.storage.ranges import check_ranges, cut, plan_requests
from climnorm.storage.retry import RequestFailed, with_retries
from climnorm.storage.urls import S3Url, is_s3_url
from climnorm.storage.view import BlockReader

if TYPE_CHECKING:
    from obstore import GetOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceIdentity:
    """What tells one version of a file from another: size and mtime locally; size, etag, last-modified on S3."""

    size: int
    mtime_ns: int | None = None
    etag: str | None = None
    last_modified: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (for a resume manifest)."""
        out = asdict(self)
        out["last_modified"] = self.last_modified.isoformat() if self.last_modified else None
        return out


@dataclass(frozen=True)
class ReadStats:
    """Counters of one source: requests sent (retries included), bytes received, retries, cache hits and misses."""

    requests: int = 0
    bytes_fetched: int = 0
    retries: int = 0
    cache_hits: int = 0
    cache_misses: int = 0


@runtime_checkable
class ByteSource(Protocol):
    """The bytes of one input file, wherever it lives."""

    @property
    def name(self) -> str:
        """The path or URL, for messages."""
        ...

    @property
    def size(self) -> int:
        """The size in bytes."""
        ...

    @property
    def identity(self) -> SourceIdentity:
        """What changes when the file is rewritten."""
        ...

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of each (offset, length), in the order asked; a range past the end is `InputFileError`."""
        ...

    def read_all(self) -> bytes:
        """The whole file (refused above the size limit).

        For `netCDF4.Dataset(name, memory=data)` give a plain `name` (e.g. the file name), not the s3:// URL:
        libnetcdf takes a URL-like name as a remote dataset to fetch by itself, even with `memory=`.
        """
        ...

    def open(self) -> IO[bytes]:
        """A seekable binary file object over the bytes (h5py can open it)."""
        ...

    def stats(self) -> ReadStats:
        """The counters so far."""
        ...


class _Counters:
    """Thread-safe counters behind `ReadStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(ReadStats.__dataclass_fields__, 0)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                self._values[key] += value

    def snapshot(self) -> ReadStats:
        with self._lock:
            return ReadStats(**self._values)


def _truncated(name: str, got: int, wanted: int, offset: int) -> InputFileError:
    return InputFileError(name, f"truncated: got {got} of {wanted} bytes at offset {offset}")


def _guard_size(name: str, size: int, limit: int) -> None:
    if size > limit:
        raise InputFileError(name, f"too large to read into memory ({size} bytes, limit {limit})")


class LocalSource:
    """A local file, read with `os.pread` (thread-safe, no shared position)."""

    def __init__(self, path: str | os.PathLike[str], reads: ReadPolicy | None = None) -> None:
        self.path = Path(path)
        self.reads = reads or ReadPolicy()
        self._fd: int | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._counters = _Counters()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "reads": self.reads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["reads"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"LocalSource({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The path."""
        return str(self.path)

    def _stat(self) -> os.stat_result:
        try:
            return self.path.stat()
        except OSError as exc:
            raise InputFileError(self.path, f"cannot read: {exc.strerror or exc}") from None

    @property
    def size(self) -> int:
        """The size on disk now."""
        return self._stat().st_size

    @property
    def identity(self) -> SourceIdentity:
        """(size, mtime in ns)."""
        st = self._stat()
        return SourceIdentity(size=st.st_size, mtime_ns=st.st_mtime_ns)

    def _descriptor(self) -> int:
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                try:
                    self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
                except OSError as exc:
                    raise InputFileError(self.path, f"cannot read: {exc.strerror or exc}") from None
            return self._fd

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """`os.pread` for each range; a short read (past the end) is `truncated`."""
        check_ranges(ranges)
        fd = self._descriptor()
        out = []
        for offset, length in ranges:
            data = os.pread(fd, length, offset) if length else b""
            while 0 < len(data) < length:  # pread may return less than asked before the end
                more = os.pread(fd, length - len(data), offset + len(data))
                if not more:
                    break
                data += more
            self._counters.add(requests=1, bytes_fetched=len(data))
            if len(data) != length:
                raise _truncated(self.name, len(data), length, offset)
            out.append(data)
        return out

    def read_all(self) -> bytes:
        """The whole file."""
        size = self.size
        _guard_size(self.name, size, self.reads.max_read_all)
        return self.read_ranges([(0, size)])[0]

    def open(self) -> IO[bytes]:
        """The file itself, opened for binary reading."""
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise InputFileError(self.path, f"cannot read: {exc.strerror or exc}") from None

    def stats(self) -> ReadStats:
        """Counters: one request per `pread`."""
        return self._counters.snapshot()

    def close(self) -> None:
        """Close this process's descriptor (reopened on next use)."""
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class S3Source:
    """One S3 object: concurrent, coalesced, retried ranged GETs, each checked for length (and etag, by If-Match)."""

    def __init__(self, url: str, options: StorageOptions, info: ObjectInfo | None = None) -> None:
        self.url = url
        self.where = S3Url.parse(url)
        self.options = options
        self._info = info
        self._lock = threading.Lock()
        self._counters = _Counters()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "options": self.options, "info": self._info}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["options"], state["info"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"S3Source({self.url!r})"

    @property
    def name(self) -> str:
        """The URL."""
        return self.url

    def _run(self, op: Any) -> Any:
        """`op()` with retries, counting requests; failures become `InputFileError` naming the URL."""

        def attempt(n: int) -> None:
            self._counters.add(requests=1, retries=int(n > 1))

        try:
            return with_retries(op, self.url, self.options.retry, self.options.secrets(), attempt)
        except RequestFailed as exc:
            raise InputFileError(self.url, exc.problem()) from None

    def info(self) -> ObjectInfo:
        """Size, etag and last-modified: from the listing if given, else one HEAD request (made once)."""
        with self._lock:
            if self._info is None:
                import obstore

                store = store_for(self.options, self.where.bucket)
                meta = self._run(lambda: obstore.head(store, self.where.key))
                self._info = ObjectInfo(
                    url=self.url,
                    key=self.where.key,
                    size=int(meta["size"]),
                    etag=normalize_etag(meta.get("e_tag")),
                    last_modified=normalize_time(meta.get("last_modified")),
                )
            return self._info

    @property
    def size(self) -> int:
        """The object's size."""
        return self.info().size

    @property
    def identity(self) -> SourceIdentity:
        """(size, etag, last-modified)."""
        info = self.info()
        return SourceIdentity(size=info.size, etag=info.etag, last_modified=info.last_modified)

    def _fetch(self, start: int, end: int) -> bytes:
        """Bytes [start, end) in one GET (If-Match the known etag); a short body is `truncated`."""
        import obstore

        store = store_for(self.options, self.where.bucket)
        etag = self.info().etag
        options: GetOptions = {"range": (start, end)}
        if etag and self.options.reads.if_match:
            options["if_match"] = f'"{etag}"'
        data = self._run(lambda: obstore.get(store, self.where.key, options=options).bytes())
        self._counters.add(bytes_fetched=len(data))
        if len(data) != end - start:
            raise _truncated(self.url, len(data), end - start, start)
        return data

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Coalesce near ranges, fetch the requests concurrently (bounded per process), cut the answers back."""
        check_ranges(ranges)
        size = self.size
        for offset, length in ranges:
            if length and offset + length > size:
                raise _truncated(self.url, max(0, size - offset), length, offset)
        reads = self.options.reads
        spans = plan_requests(ranges, reads.coalesce_gap, reads.max_request)
        if len(spans) == 1:
            data = [self._fetch(spans[0].start, spans[0].end)]
        else:
            data = list(pool_for(self.options).map(lambda s: self._fetch(s.start, s.end), spans))
        log.debug("%s: %d ranges in %d requests", self.url, len(ranges), len(spans))
        return cut(ranges, spans, data)

    def read_all(self) -> bytes:
        """The whole object, fetched in concurrent parts of at most `max_request` bytes."""
        size = self.size
        _guard_size(self.url, size, self.options.reads.max_read_all)
        return self.read_ranges([(0, size)])[0] if size else b""

    def open(self) -> IO[bytes]:
        """A file-like view with an LRU block cache (see `BlockReader`)."""
        reads = self.options.reads
        view = BlockReader(
            self, reads.block_size, max(1, reads.cache_bytes // max(1, reads.block_size)), self._counters.add
        )
        return cast("IO[bytes]", view)

    def stats(self) -> ReadStats:
        """Counters so far (all views of this source included)."""
        return self._counters.snapshot()


def open_source(
    location: str | os.PathLike[str], options: StorageOptions | None = None, info: ObjectInfo | None = None
) -> ByteSource:
    """An `S3Source` for an `s3://` URL (options from the environment if not given), else a `LocalSource`."""
    if is_s3_url(location):
        return S3Source(str(location), options or StorageOptions.from_config(), info)
    return LocalSource(location, options.reads if options else None)
