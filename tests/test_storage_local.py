"""LocalSource: the same interface as S3Source over a local file (no server needed)."""

from __future__ import annotations

import os
import pickle
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import pytest

from climnorm.errors import InputFileError
from climnorm.storage import LocalSource, ReadPolicy, open_source


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = random.Random(2).randbytes(100_000)
    path = tmp_path / "x.nc"
    path.write_bytes(data)
    return path, data


def test_pread_ranges_identity_and_counters(data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    source = open_source(path)
    assert isinstance(source, LocalSource) and source.name == str(path) and source.size == len(data)
    ranges = [(0, 10), (99_990, 10), (500, 0), (40_000, 25_000)]
    assert source.read_ranges(ranges) == [data[o : o + n] for o, n in ranges]
    assert source.stats().requests == 4 and source.stats().bytes_fetched == 25_020
    before = source.identity
    os.utime(path, ns=(before.mtime_ns + 10**9, before.mtime_ns + 10**9))  # type: ignore[operator]
    assert source.identity != before and source.identity.size == before.size
    assert source.identity.as_dict()["etag"] is None


def test_threads_and_pickling(data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    source = pickle.loads(pickle.dumps(LocalSource(path)))
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: source.read_ranges([(i * 1000, 1000)])[0], range(100)))
    assert b"".join(got) == data


def test_missing_truncated_too_big(tmp_path: Path, data_file: tuple[Path, bytes]) -> None:
    path, _ = data_file
    with pytest.raises(InputFileError, match=r"nope.nc: cannot read: No such file or directory$"):
        LocalSource(tmp_path / "nope.nc").read_ranges([(0, 1)])
    with pytest.raises(InputFileError, match=r"x.nc: truncated: got 50 of 100 bytes at offset 99950$"):
        LocalSource(path).read_ranges([(99_950, 100)])
    with pytest.raises(InputFileError, match=r"too large to read into memory \(100000 bytes, limit 99999\)"):
        LocalSource(path, ReadPolicy(max_read_all=99_999)).read_all()
    with pytest.raises(ValueError, match="bad byte range"):
        LocalSource(path).read_ranges([(-1, 5)])


def test_open_gives_a_file_h5py_can_read(tmp_path: Path) -> None:
    path = tmp_path / "h.nc"
    with h5py.File(path, "w") as f:
        f["v"] = list(range(10))
    with h5py.File(open_source(path).open(), "r") as f:
        assert list(f["v"][:]) == list(range(10))
