"""The obstore client for one bucket, made from `StorageOptions` once per process and shared by its threads.

Only plain options cross process boundaries; each process (a Dask worker, a pool worker after fork or spawn)
builds its own client on first use. obstore stores are thread-safe and release the GIL while they wait.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from climnorm.storage.options import StorageOptions

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

log = logging.getLogger(__name__)

_lock = threading.Lock()
_stores: dict[tuple[int, StorageOptions, str], Any] = {}
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_zarr_stores: dict[tuple[int, StorageOptions, str], Any] = {}


def _build(options: StorageOptions, bucket: str, prefix: str | None = None, retries: bool = False) -> Any:
    """A new `obstore.store.S3Store` for `bucket` (under ``prefix``); its own retries are off (see
    `climnorm.storage.retry`) unless asked for (a store zarr-python calls, which cannot go through our loop)."""
    from obstore.store import S3Store

    retry = options.retry
    client_options: ClientConfig = {
        "timeout": timedelta(seconds=retry.request_timeout),
        "connect_timeout": timedelta(seconds=retry.connect_timeout),
    }
    config: S3Config = {"region": options.region}
    if options.endpoint_url:
        config["endpoint"] = options.endpoint_url
        client_options["allow_http"] = options.endpoint_url.startswith("http://")
    if options.anonymous:
        config["skip_signature"] = True
    elif options.key and options.secret:
        config["access_key_id"] = options.key
        config["secret_access_key"] = options.secret
        if options.session_token:
            config["session_token"] = options.session_token
    log.debug("new S3 client for bucket %s (%r) in process %d", bucket, options, os.getpid())
    retry_config: RetryConfig = {"max_retries": max(0, retry.max_attempts - 1) if retries else 0}
    if retries:
        retry_config["backoff"] = {
            "init_backoff": timedelta(seconds=retry.base_delay), "max_backoff": timedelta(seconds=retry.max_delay),
            "base": 2,
        }  # fmt: skip
    return S3Store(bucket, prefix=prefix, config=config, client_options=client_options, retry_config=retry_config)


def zarr_store_for(options: StorageOptions, url: str) -> Any:
    """This process's zarr-python store (`zarr.storage.ObjectStore`) of the Zarr store at the ``s3://`` ``url``,
    retrying its transient failures as `options.retry` says (made on first use: a client is costly to make)."""
    from zarr.storage import ObjectStore

    from climnorm.storage.urls import S3Url

    key = (os.getpid(), options, url)
    store = _zarr_stores.get(key)
    if store is None:
        where = S3Url.parse(url)
        with _lock:
            store = _zarr_stores.get(key)
            if store is None:
                if len(_zarr_stores) > 1024:
                    _zarr_stores.clear()
                client = _build(options, where.bucket, where.key.strip("/"), retries=True)
                store = _zarr_stores[key] = ObjectStore(client)
    return store


def store_for(options: StorageOptions, bucket: str) -> Any:
    """This process's client for `bucket` under `options` (made on first use)."""
    key = (os.getpid(), options, bucket)
    store = _stores.get(key)
    if store is None:
        with _lock:
            store = _stores.get(key)
            if store is None:
                store = _stores[key] = _build(options, bucket)
    return store


def pool_for(options: StorageOptions) -> ThreadPoolExecutor:
    """This process's thread pool for concurrent requests (bounds the requests in flight)."""
    size = max(1, options.reads.max_concurrency)
    key = (os.getpid(), size)
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = ThreadPoolExecutor(size, thread_name_prefix="climnorm-s3")
    return pool
