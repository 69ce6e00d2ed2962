"""Listing against a real S3 server (moto): pagination, prefix-only results, pruned walks, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from climnorm.storage import (
    NETCDF_SUFFIXES,
    S3Source,
    StorageError,
    StorageOptions,
    layout_filter,
    list_folders,
    list_objects,
)
from s3server import FaultProxy, MotoServer

pytest.importorskip("obstore", reason="needs the s3 extra")
pytest.importorskip("moto.server", reason="needs the test-s3 extra")
pytest_plugins = ("conftest_s3",)


def _fill(server: MotoServer, bucket: str, keys: list[str]) -> None:
    for key in keys:
        server.put(bucket, key, key.encode())


def test_pagination_returns_every_key_over_many_pages(
    moto_server: MotoServer, make_bucket: Callable[..., str], proxy: FaultProxy, anon_options: StorageOptions
) -> None:
    bucket = make_bucket()
    keys = [f"data/f{i:03d}.nc" for i in range(23)]
    _fill(moto_server, bucket, keys)
    proxy.set_page_size(4)
    found = list_objects(f"s3://{bucket}/data", anon_options)
    assert [o.key for o in found] == keys
    pages = proxy.seen(rf"/{bucket}\?", "GET")
    assert len(pages) == 6 and sum("continuation-token" in p.path for p in pages) == 5
    assert found[0].url == f"s3://{bucket}/data/f000.nc" and found[0].size == len(b"data/f000.nc")


def test_only_the_given_prefix_is_listed(
    moto_server: MotoServer, make_bucket: Callable[..., str], anon_options: StorageOptions
) -> None:
    bucket = make_bucket()
    _fill(moto_server, bucket, ["data/a.nc", "data/sub/b.nc4", "data/c.txt", "data2/x.nc", "datum.nc", "other/y.nc"])
    assert [o.key for o in list_objects(f"s3://{bucket}/data", anon_options)] == [
        "data/a.nc",
        "data/c.txt",
        "data/sub/b.nc4",
    ]
    assert [o.key for o in list_objects(f"s3://{bucket}/data/", anon_options, suffixes=NETCDF_SUFFIXES)] == [
        "data/a.nc",
        "data/sub/b.nc4",
    ]
    assert len(list_objects(f"s3://{bucket}", anon_options)) == 6
    assert list_objects(f"s3://{bucket}/nothing-here", anon_options) == []
    assert list_folders(f"s3://{bucket}", anon_options) == ["data", "data2", "other"]


def _nex_layout(server: MotoServer, bucket: str) -> list[str]:
    keys = []
    for model in ("ACCESS-CM2", "GFDL-ESM4", "MIROC6"):
        for scenario in ("historical", "ssp245", "ssp585"):
            for var in ("pr", "tas", "tasmax"):
                for year in (2014, 2015):
                    keys.append(
                        f"NEX/{model}/{scenario}/r1i1p1f1/{var}/{var}_day_{model}_{scenario}_r1i1p1f1_gn_{year}.nc"
                    )
    keys.append("NEX/README.txt")
    _fill(server, bucket, keys)
    return keys


def test_pruned_walk_lists_only_the_wanted_folders(
    moto_server: MotoServer, make_bucket: Callable[..., str], proxy: FaultProxy, anon_options: StorageOptions
) -> None:
    bucket = make_bucket()
    keys = _nex_layout(moto_server, bucket)
    levels = ("model", "scenario", "variant", "variable")
    descend = layout_filter(levels, {"model": {"ACCESS-CM2", "MIROC6"}, "scenario": {"ssp245"}, "variable": {"tas"}})
    proxy.clear()
    found = list_objects(f"s3://{bucket}/NEX", anon_options, depth=4, descend=descend)
    wanted = [k for k in keys if "/ssp245/" in k and "/tas/" in k and "GFDL" not in k]
    assert [o.key for o in found] == sorted(["NEX/README.txt", *wanted])
    lists = [s.path for s in proxy.seen(rf"/{bucket}\?", "GET")]
    assert not any("GFDL" in p or "ssp585" in p or "tasmax" in p for p in lists)
    assert len(lists) == 1 + 2 + 2 + 2 + 2  # root, models, scenarios, variants, then the two leaf folders
    everything = list_objects(f"s3://{bucket}/NEX", anon_options, depth=2, suffixes=(".nc",))
    assert len(everything) == len(keys) - 1


def test_layout_filter_rejects_unknown_levels() -> None:
    with pytest.raises(ValueError, match="not in the layout"):
        layout_filter(("model",), {"variable": {"tas"}})


def test_listing_info_matches_head_and_changes_when_overwritten(
    moto_server: MotoServer, make_bucket: Callable[..., str], anon_options: StorageOptions
) -> None:
    bucket = make_bucket()
    moto_server.put(bucket, "k.nc", b"first version")
    [info] = list_objects(f"s3://{bucket}", anon_options)
    head = S3Source(info.url, anon_options).identity
    assert (head.size, head.etag, head.last_modified) == (info.size, info.etag, info.last_modified)
    time.sleep(1.1)  # last-modified has whole seconds
    moto_server.put(bucket, "k.nc", b"second version, longer")
    [again] = list_objects(f"s3://{bucket}", anon_options)
    assert again.etag != info.etag and again.size != info.size
    assert again.last_modified is not None and info.last_modified is not None
    assert again.last_modified > info.last_modified
    assert S3Source(info.url, anon_options).identity != head


def test_missing_bucket_is_a_storage_error(anon_options: StorageOptions) -> None:
    with pytest.raises(StorageError) as err:
        list_objects("s3://no-such-bucket-here/NEX", anon_options)
    assert str(err.value) == "s3://no-such-bucket-here/NEX: cannot list: bucket 'no-such-bucket-here' not found"


def test_access_denied_listing_is_not_retried(
    make_bucket: Callable[..., str], proxy: FaultProxy, anon_options: StorageOptions
) -> None:
    bucket = make_bucket()
    proxy.add(rf"/{bucket}\?", "deny")
    with pytest.raises(StorageError, match=r": cannot list: access denied$"):
        list_objects(f"s3://{bucket}/x", anon_options)
    assert len(proxy.seen(rf"/{bucket}\?")) == 1


def test_transient_listing_errors_are_retried(
    moto_server: MotoServer, make_bucket: Callable[..., str], proxy: FaultProxy, anon_options: StorageOptions
) -> None:
    bucket = make_bucket()
    _fill(moto_server, bucket, [f"d/{i}.nc" for i in range(9)])
    proxy.set_page_size(4)
    proxy.add(r"continuation-token", "status", 1, status=503)  # the second page fails once
    assert len(list_objects(f"s3://{bucket}/d", anon_options)) == 9
    assert len(proxy.seen(rf"/{bucket}\?")) == 3 + 2  # one failed page, then the whole listing again


def test_unreachable_endpoint_is_a_storage_error_after_bounded_retries() -> None:
    from s3server import free_port

    opts = StorageOptions(endpoint_url=f"http://127.0.0.1:{free_port()}", anon=True)
    opts = replace(
        opts, retry=replace(opts.retry, max_attempts=3, base_delay=0.01, max_delay=0.02, connect_timeout=0.5)
    )
    t0 = time.monotonic()
    with pytest.raises(StorageError) as err:
        list_objects("s3://bucket/NEX", opts)
    assert time.monotonic() - t0 < 5
    assert str(err.value) == "s3://bucket/NEX: cannot list: server unreachable after 3 attempts (connection refused)"
