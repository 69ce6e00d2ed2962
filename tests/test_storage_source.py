"""Byte sources against a real S3 server (moto) through the fault proxy: ranged reads, errors, retries, pickling."""

from __future__ import annotations

import logging
import pickle
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import pytest

from climnorm.errors import InputFileError
from climnorm.storage import LocalSource, ObjectInfo, S3Source, StorageOptions, list_objects, open_source
from s3server import TEST_KEY, TEST_SECRET, FaultProxy, MotoServer

pytest.importorskip("obstore", reason="needs the s3 extra")
pytest.importorskip("moto.server", reason="needs the test-s3 extra")
pytest_plugins = ("conftest_s3",)
SIZE = 3_000_000


@pytest.fixture
def blob(moto_server: MotoServer, make_bucket: Callable[..., str], tmp_path: Path) -> tuple[str, Path]:
    """A 3 MB random object in a public bucket, and the same bytes in a local file."""
    data = random.Random(5).randbytes(SIZE)
    local = tmp_path / "blob.nc"
    local.write_bytes(data)
    bucket = make_bucket()
    moto_server.put(bucket, "dir/blob.nc", data)
    return f"s3://{bucket}/dir/blob.nc", local


def _ranges(rng: random.Random, n: int) -> list[tuple[int, int]]:
    out = [(o, rng.randrange(0, 200_000)) for o in (rng.randrange(0, SIZE) for _ in range(n))]
    return [(o, min(length, SIZE - o)) for o, length in out]


def _with_reads(options: StorageOptions, **reads: object) -> StorageOptions:
    return replace(options, reads=replace(options.reads, **reads))


@pytest.mark.parametrize("gap", [-1, 0, 64 * 1024])
def test_ranged_reads_equal_local_pread(
    blob: tuple[str, Path], anon_options: StorageOptions, proxy: FaultProxy, gap: int
) -> None:
    url, local = blob
    rng = random.Random(gap)
    ranges = [*_ranges(rng, 40), (0, 0), (SIZE - 10, 10), (100, 50), (120, 50)]
    source = S3Source(url, _with_reads(anon_options, coalesce_gap=gap, max_request=1_000_000))
    assert source.read_ranges(ranges) == LocalSource(local).read_ranges(ranges)
    gets = proxy.seen("blob.nc", "GET")
    assert source.stats().requests == len(gets) + 1  # + the HEAD for the size and etag
    assert all(g.range for g in gets)
    assert source.stats().bytes_fetched == sum(
        int(g.range.split("-")[1]) - int(g.range[6:].split("-")[0]) + 1 for g in gets if g.range
    )


def test_coalescing_merges_near_ranges_and_splits_big_ones(
    blob: tuple[str, Path], anon_options: StorageOptions, proxy: FaultProxy
) -> None:
    url, local = blob
    ranges = [(i * 10_000, 8_000) for i in range(50)]  # 2 KB apart
    merged = S3Source(url, _with_reads(anon_options, coalesce_gap=4096, max_request=16 << 20))
    assert merged.read_ranges(ranges) == LocalSource(local).read_ranges(ranges)
    assert len(proxy.seen("blob.nc", "GET")) == 1
    proxy.clear()
    separate = S3Source(url, _with_reads(anon_options, coalesce_gap=-1))
    assert separate.read_ranges(ranges) == merged.read_ranges(ranges)
    assert len(proxy.seen("blob.nc", "GET")) == 50 + 1  # `separate`, then `merged` again
    proxy.clear()
    whole = S3Source(url, _with_reads(anon_options, max_request=1_000_000))
    assert whole.read_all() == local.read_bytes()
    assert sorted(g.range for g in proxy.seen("blob.nc", "GET")) == [
        "bytes=0-999999",
        "bytes=1000000-1999999",
        "bytes=2000000-2999999",
    ]


def test_reads_are_thread_safe(blob: tuple[str, Path], anon_options: StorageOptions) -> None:
    url, local = blob
    source, reference = S3Source(url, anon_options), LocalSource(local)
    batches = [_ranges(random.Random(i), 8) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(source.read_ranges, batches))
    assert got == [reference.read_ranges(b) for b in batches]


def _read_in_child(source: S3Source) -> tuple[bytes, int]:
    return source.read_ranges([(1000, 64)])[0], source.stats().requests


def test_sources_pickle_as_configuration_and_work_in_another_process(
    blob: tuple[str, Path], anon_options: StorageOptions
) -> None:
    url, local = blob
    source = S3Source(url, anon_options)
    source.read_ranges([(0, 10)])  # a client and counters exist now; neither is pickled
    state = pickle.dumps(source)
    assert b"Store" not in state
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        data, requests = pool.submit(_read_in_child, source).result(timeout=60)
    assert data == local.read_bytes()[1000:1064] and requests == 1  # the HEAD was done here and its info shipped
    again = pickle.loads(pickle.dumps(LocalSource(local)))
    assert again.read_ranges([(5, 5)]) == [local.read_bytes()[5:10]]


def test_identity_changes_on_overwrite_and_a_stale_source_says_so(
    moto_server: MotoServer, blob: tuple[str, Path], anon_options: StorageOptions
) -> None:
    url, _ = blob
    bucket, key = url[5:].split("/", 1)
    old = S3Source(url, anon_options)
    before = old.identity
    time.sleep(1.1)
    moto_server.put(bucket, key, b"x" * SIZE, public=True)
    after = S3Source(url, anon_options).identity
    assert after.size == before.size and after.etag != before.etag and after.last_modified != before.last_modified
    with pytest.raises(InputFileError) as err:
        old.read_ranges([(0, 100)])
    assert str(err.value) == f"{url}: changed while being read (its etag no longer matches)"


def test_missing_object(anon_options: StorageOptions, make_bucket: Callable[..., str], proxy: FaultProxy) -> None:
    url = f"s3://{make_bucket()}/no/such/file.nc"
    with pytest.raises(InputFileError) as err:
        S3Source(url, anon_options).read_all()
    assert str(err.value) == f"{url}: object not found" and err.value.path == url
    assert len(proxy.seen("file.nc")) == 1  # not retried


def test_truncated_object(moto_server: MotoServer, blob: tuple[str, Path], anon_options: StorageOptions) -> None:
    bucket = blob[0][5:].split("/", 1)[0]
    moto_server.put(bucket, "short.nc", b"y" * 1000, public=True)
    listed = ObjectInfo(f"s3://{bucket}/short.nc", "short.nc", 5000, None, None)  # a stale listing: 5,000 bytes
    with pytest.raises(InputFileError) as err:
        S3Source(listed.url, anon_options, listed).read_ranges([(900, 200)])
    assert str(err.value) == f"{listed.url}: truncated: got 100 of 200 bytes at offset 900"
    with pytest.raises(InputFileError, match=r"short.nc: truncated: got 0 of 10 bytes at offset 1000$"):
        S3Source(listed.url, anon_options).read_ranges([(1000, 10)])


def test_a_body_cut_short_is_retried(blob: tuple[str, Path], anon_options: StorageOptions, proxy: FaultProxy) -> None:
    url, local = blob
    proxy.add("blob.nc", "truncate", 1, keep=1000, methods=frozenset({"GET"}))
    source = S3Source(url, anon_options)
    assert source.read_ranges([(0, 50_000)]) == [local.read_bytes()[:50_000]]
    assert source.stats().retries == 1
    proxy.add("blob.nc", "truncate", None, keep=10, methods=frozenset({"GET"}))
    with pytest.raises(InputFileError, match=r"blob.nc: server unreachable after 4 attempts \(response cut short\)$"):
        source.read_ranges([(0, 50_000)])


def test_not_netcdf_is_read_all_the_same(
    moto_server: MotoServer, make_bucket: Callable[..., str], anon_options: StorageOptions
) -> None:
    import netCDF4

    bucket = make_bucket()
    moto_server.put(bucket, "notes.nc", b"this is not HDF5 at all\n" * 100)
    data = S3Source(f"s3://{bucket}/notes.nc", anon_options).read_all()
    assert data.startswith(b"this is not HDF5")
    with pytest.raises(OSError):
        netCDF4.Dataset("notes.nc", memory=data)


def test_read_all_refuses_what_is_too_big(blob: tuple[str, Path], anon_options: StorageOptions) -> None:
    url, local = blob
    for source in (
        S3Source(url, _with_reads(anon_options, max_read_all=1_000_000)),
        LocalSource(local, _with_reads(anon_options, max_read_all=1_000_000).reads),
    ):
        with pytest.raises(InputFileError, match=r"too large to read into memory \(3000000 bytes, limit 1000000\)"):
            source.read_all()
    assert source.stats().requests == 0


def test_access_denied(
    moto_server: MotoServer,
    make_bucket: Callable[..., str],
    anon_options: StorageOptions,
    signed_options: StorageOptions,
    proxy: FaultProxy,
) -> None:
    bucket = make_bucket(public=False, deny=("restricted/",))
    for key in ("open/a.nc", "restricted/b.nc"):
        moto_server.put(bucket, key, b"z" * 100)
    assert S3Source(f"s3://{bucket}/open/a.nc", signed_options).read_all() == b"z" * 100
    for options, key in ((anon_options, "open/a.nc"), (signed_options, "restricted/b.nc")):
        url = f"s3://{bucket}/{key}"
        proxy.clear()
        with pytest.raises(InputFileError) as err:
            S3Source(url, options).read_ranges([(0, 10)])
        assert str(err.value) == f"{url}: access denied"
        assert len(proxy.seen(key)) == 1  # 403 is not retried


@pytest.mark.parametrize(
    ("action", "kwargs"),
    [
        ("status", {"status": 503}),
        ("status", {"status": 500}),
        ("status", {"status": 429}),
        ("status", {"status": 502}),
        ("reset", {}),
    ],
)
def test_transient_errors_are_retried(
    blob: tuple[str, Path], anon_options: StorageOptions, proxy: FaultProxy, action: str, kwargs: dict[str, object]
) -> None:
    url, local = blob
    proxy.add("blob.nc", action, 2, methods=frozenset({"GET"}), **kwargs)
    source = S3Source(url, anon_options)
    assert source.read_ranges([(10, 20)]) == [local.read_bytes()[10:30]]
    assert len(proxy.seen("blob.nc", "GET")) == 3
    assert source.stats().retries == 2 and source.stats().requests == 1 + 3


def test_persistent_503_gives_up_after_max_attempts(
    blob: tuple[str, Path], anon_options: StorageOptions, proxy: FaultProxy
) -> None:
    url, _ = blob
    source = S3Source(url, anon_options)
    assert source.size == SIZE
    proxy.add("blob.nc", "status", None, status=503, methods=frozenset({"GET"}))
    with pytest.raises(InputFileError) as err:
        source.read_ranges([(0, 1)])
    assert str(err.value) == f"{url}: server busy after 4 attempts (HTTP 503 SlowDown)"
    assert len(proxy.seen("blob.nc", "GET")) == 4


def test_server_stopped_mid_run(tmp_path: Path) -> None:
    server = MotoServer().start()
    try:
        server.create_bucket("mid-run")
        server.put("mid-run", "a.nc", b"a" * 10_000, public=True)
        options = StorageOptions(endpoint_url=server.endpoint, anon=True)
        options = replace(
            options,
            retry=replace(
                options.retry, max_attempts=5, base_delay=0.02, max_delay=0.1, connect_timeout=0.5, request_timeout=1.0
            ),
        )
        source = S3Source("s3://mid-run/a.nc", options)
        assert source.read_ranges([(0, 5)]) == [b"aaaaa"]
    finally:
        server.stop()
    t0 = time.monotonic()
    with pytest.raises(InputFileError) as err:
        source.read_ranges([(5, 5)])
    assert time.monotonic() - t0 < 5
    assert str(err.value) == "s3://mid-run/a.nc: server unreachable after 5 attempts (connection refused)"


def test_server_that_stops_answering_times_out(
    blob: tuple[str, Path], anon_options: StorageOptions, proxy: FaultProxy
) -> None:
    url, _ = blob
    options = replace(anon_options, retry=replace(anon_options.retry, max_attempts=2, request_timeout=0.5))
    proxy.add("blob.nc", "stall", None, seconds=3.0)
    t0 = time.monotonic()
    with pytest.raises(InputFileError) as err:
        S3Source(url, options).read_ranges([(0, 5)])
    assert time.monotonic() - t0 < 2.5
    assert str(err.value) == f"{url}: server unreachable after 2 attempts (timed out)"


def test_secrets_never_in_messages_reprs_or_logs(
    moto_server: MotoServer,
    make_bucket: Callable[..., str],
    signed_options: StorageOptions,
    proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bucket = make_bucket(public=False, deny=("no/",))
    moto_server.put(bucket, "ok.nc", b"k" * 100)
    moto_server.put(bucket, "no/denied.nc", b"k" * 100)
    texts = [repr(signed_options), str(signed_options.describe()), signed_options.fingerprint()]
    source = open_source(f"s3://{bucket}/ok.nc", signed_options)
    proxy.add("ok.nc", "status", 2, status=500)
    source.read_all()
    texts += [repr(source), str(source.identity.as_dict()), str(source.stats())]
    for url in (f"s3://{bucket}/no/denied.nc", f"s3://{bucket}/missing.nc"):
        with pytest.raises(InputFileError) as err:
            open_source(url, signed_options).read_all()
        texts += [str(err.value), repr(err.value)]
    [info] = list_objects(f"s3://{bucket}/no", signed_options)
    texts += [repr(info)]
    texts.append(caplog.text)
    assert "retrying" in caplog.text and "access denied" in " ".join(texts)
    assert all(g.signed for g in proxy.seen(bucket))
    for text in texts:
        assert TEST_SECRET not in text and TEST_KEY not in text
