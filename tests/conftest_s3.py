"""Pytest fixtures for the storage tests: a moto S3 server, a fault proxy in front of it, buckets and options.

Use from a test module with `pytest_plugins = ("conftest_s3",)` (or from the top conftest with the same line).
The server is a `moto.server` subprocess for the whole session; each test gets its own buckets, a cleared proxy,
and options with short timeouts and quick retries so failure tests finish in well under a second or two.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("obstore", reason="the s3 extra (obstore) is not installed")
pytest.importorskip("moto.server", reason="the test-s3 extra (moto[server]) is not installed")

from climnorm.storage import RetryPolicy, StorageOptions
from s3server import TEST_KEY, TEST_SECRET, FaultProxy, MotoServer, write_netcdf

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, request_timeout=3.0, connect_timeout=1.0)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto S3 server (a subprocess on 127.0.0.1) for the session."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _session_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(_session_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The fault proxy in front of the server, with no rules and no requests seen (cleared after the test too)."""
    _session_proxy.clear()
    _session_proxy.set_page_size(None)
    yield _session_proxy
    _session_proxy.clear()
    _session_proxy.set_page_size(None)


@pytest.fixture
def make_bucket(moto_server: MotoServer) -> Callable[..., str]:
    """`make_bucket(public=True, deny=())`: a new bucket, anonymously readable if `public`, reads denied under
    the `deny` prefixes (to everyone, signed or not)."""

    def make(public: bool = True, deny: tuple[str, ...] = ()) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        moto_server.create_bucket(name)
        if public or deny:
            moto_server.set_policy(name, public_read=public, deny_prefixes=deny)
        return name

    return make


@pytest.fixture
def anon_options(proxy: FaultProxy) -> StorageOptions:
    """Anonymous access through the proxy, quick retries."""
    return StorageOptions(endpoint_url=proxy.endpoint, anon=True, retry=FAST_RETRY)


@pytest.fixture
def signed_options(proxy: FaultProxy) -> StorageOptions:
    """Signed access (test credentials) through the proxy, quick retries."""
    return StorageOptions.from_config(
        {
            "endpoint_url": proxy.endpoint,
            "key": TEST_KEY,
            "secret": TEST_SECRET,
            "retry": {
                "max_attempts": 4,
                "base_delay": 0.01,
                "max_delay": 0.05,
                "request_timeout": 3.0,
                "connect_timeout": 1.0,
            },
        },
        environ={},
    )


@pytest.fixture(scope="session")
def netcdf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200-step NEX-like NetCDF4 file on local disk (about 5 MB)."""
    return write_netcdf(tmp_path_factory.mktemp("nc") / "tas_day_TEST_ssp245_r1i1p1f1_gn_2015.nc")


@pytest.fixture
def nc_on_s3(moto_server: MotoServer, make_bucket: Callable[..., str], netcdf_file: Path) -> str:
    """The NetCDF file uploaded to a new public bucket; returns its key's URL path `bucket/key`."""
    bucket = make_bucket()
    key = f"NEX/TEST/ssp245/r1i1p1f1/tas/{netcdf_file.name}"
    moto_server.put(bucket, key, netcdf_file)
    return f"{bucket}/{key}"
