"""Object-storage benchmarks: S3 client libraries compared, and a NEX-shaped NetCDF file read from disk vs S3.

    python benchmarks/storage.py clients [--server moto|s3rver] [--s3rver-bin PATH]
    python benchmarks/storage.py netcdf  [--server moto|s3rver] [--shape 365,600,1440]

`clients` measures obstore, s3fs and boto3 against one local S3-compatible server: concurrent ranged GETs of
100 KB-2 MB on 100 MB objects (MB/s and client CPU seconds per GB), small ranged-read latency, and listing 10,000
keys in pages of 1,000. `netcdf` writes a NetCDF4 file shaped like a NEX-GDDP-CMIP6 file and compares opening it and
reading a latitude band of every time step from local disk and from the server through climnorm.storage.
Every number is printed as JSON on stdout; progress goes to stderr. Run one at a time on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from s3server import MotoServer, free_port, wait_for_port

log = logging.getLogger("benchmarks.storage")
BUCKET = "bench"
KEY, SECRET, REGION = "S3RVER", "S3RVER", "us-east-1"  # s3rver's built-in credentials; moto accepts any
MB = 1_000_000


@dataclass(frozen=True)
class Server:
    """A running local S3-compatible server."""

    name: str
    endpoint: str


@contextmanager
def running_server(kind: str, s3rver_bin: str) -> Iterator[Server]:
    """Start moto (Python, in-memory) or s3rver (Node, files on disk) on 127.0.0.1 with one bucket."""
    if kind == "moto":
        moto = MotoServer().start()
        try:
            moto.create_bucket(BUCKET)
            yield Server("moto", moto.endpoint)
        finally:
            moto.stop()
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="s3rver-") as root:
        cmd = [s3rver_bin, "-d", root, "-a", "127.0.0.1", "-p", str(port), "--configure-bucket", BUCKET, "--silent"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield Server("s3rver", f"http://127.0.0.1:{port}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def boto3_client(endpoint: str, pool: int = 32) -> object:
    """A boto3 S3 client for the local server."""
    import boto3
    from botocore.config import Config

    cfg = Config(max_pool_connections=pool, retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION, config=cfg
    )


class Client:
    """One library's way of doing the three measured operations."""

    name = ""

    def ranges(self, keys: Sequence[str], starts: Sequence[int], lengths: Sequence[int], workers: int) -> int:
        """Fetch every range concurrently; returns the bytes received."""
        raise NotImplementedError

    def one(self, key: str, start: int, length: int) -> int:
        """Fetch one range (no thread pool in the way); returns the bytes received."""
        raise NotImplementedError

    def count(self, prefix: str) -> int:
        """List every key under `prefix`; returns how many."""
        raise NotImplementedError


class ObstoreClient(Client):
    """obstore (Rust object_store): blocking calls that release the GIL, run from a thread pool."""

    name = "obstore"

    def __init__(self, endpoint: str) -> None:
        from obstore.store import S3Store

        self.store = S3Store(
            BUCKET,
            endpoint=endpoint,
            access_key_id=KEY,
            secret_access_key=SECRET,
            region=REGION,
            client_options={"allow_http": True},
            retry_config={"max_retries": 0},
        )

    def ranges(self, keys: Sequence[str], starts: Sequence[int], lengths: Sequence[int], workers: int) -> int:
        import obstore

        def get(i: int) -> int:
            return len(obstore.get_range(self.store, keys[i], start=starts[i], length=lengths[i]))

        with ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(get, range(len(keys))))

    def one(self, key: str, start: int, length: int) -> int:
        import obstore

        return len(obstore.get_range(self.store, key, start=start, length=length))

    def count(self, prefix: str) -> int:
        import obstore

        return sum(len(batch) for batch in obstore.list(self.store, prefix=prefix, chunk_size=1000))


class S3fsClient(Client):
    """s3fs (fsspec on aiobotocore): `cat_ranges` runs the requests concurrently on its event-loop thread."""

    name = "s3fs"

    def __init__(self, endpoint: str) -> None:
        import s3fs

        self.fs = s3fs.S3FileSystem(
            key=KEY,
            secret=SECRET,
            endpoint_url=endpoint,
            skip_instance_cache=True,
            use_listings_cache=False,
            client_kwargs={"region_name": REGION},
        )

    def ranges(self, keys: Sequence[str], starts: Sequence[int], lengths: Sequence[int], workers: int) -> int:
        paths = [f"{BUCKET}/{k}" for k in keys]
        ends = [s + n for s, n in zip(starts, lengths, strict=True)]
        return sum(len(b) for b in self.fs.cat_ranges(paths, list(starts), ends, batch_size=workers))

    def one(self, key: str, start: int, length: int) -> int:
        return len(self.fs.cat_file(f"{BUCKET}/{key}", start=start, end=start + length))

    def count(self, prefix: str) -> int:
        self.fs.invalidate_cache()
        return len(self.fs.find(f"{BUCKET}/{prefix}"))


class Boto3Client(Client):
    """boto3 (botocore on urllib3): one shared client, a thread pool of blocking calls."""

    name = "boto3"

    def __init__(self, endpoint: str) -> None:
        self.s3 = boto3_client(endpoint)

    def _get(self, key: str, start: int, length: int) -> int:
        resp = self.s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={start}-{start + length - 1}")  # type: ignore[attr-defined]
        return len(resp["Body"].read())

    def ranges(self, keys: Sequence[str], starts: Sequence[int], lengths: Sequence[int], workers: int) -> int:
        with ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(self._get, keys, starts, lengths))

    one = _get

    def count(self, prefix: str) -> int:
        pages = self.s3.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
            Bucket=BUCKET, Prefix=prefix, PaginationConfig={"PageSize": 1000}
        )
        return sum(len(page.get("Contents", [])) for page in pages)


class ClimnormClient(Client):
    """climnorm.storage on obstore: the same requests through `S3Source.read_ranges` (If-Match, retries, counters)."""

    name = "climnorm"

    def __init__(self, endpoint: str) -> None:
        from climnorm.storage import S3Source, StorageOptions

        self.options = StorageOptions.from_config({"endpoint_url": endpoint, "key": KEY, "secret": SECRET}, environ={})
        self.sources = {k: S3Source(f"s3://{BUCKET}/{k}", self.options) for k in (f"big/obj{i}.nc" for i in range(9))}

    def _source(self, key: str) -> object:
        return self.sources[key]

    def ranges(self, keys: Sequence[str], starts: Sequence[int], lengths: Sequence[int], workers: int) -> int:
        def get(i: int) -> int:
            return len(self._source(keys[i]).read_ranges([(starts[i], lengths[i])])[0])  # type: ignore[attr-defined]

        with ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(get, range(len(keys))))

    def one(self, key: str, start: int, length: int) -> int:
        return len(self._source(key).read_ranges([(start, length)])[0])  # type: ignore[attr-defined]

    def count(self, prefix: str) -> int:
        from climnorm.storage import list_objects

        return len(list_objects(f"s3://{BUCKET}/{prefix}", self.options))


CLIENTS: dict[str, Callable[[str], Client]] = {
    "obstore": ObstoreClient,
    "s3fs": S3fsClient,
    "boto3": Boto3Client,
    "climnorm": ClimnormClient,
}


def upload_fixtures(endpoint: str, objects: int, object_mb: int, list_keys: int) -> list[str]:
    """Random (incompressible) big objects plus many tiny keys for listing; returns the big objects' keys."""
    s3 = boto3_client(endpoint)
    keys = [f"big/obj{i}.nc" for i in range(objects)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(object_mb * MB))  # type: ignore[attr-defined]
    names = [f"list/m{i // 1000:02d}/ssp{i % 5}/f{i:05d}.nc" for i in range(list_keys)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=b"x"), names))  # type: ignore[attr-defined]
    log.info("uploaded %d x %d MB and %d small keys", objects, object_mb, list_keys)
    return keys


def measure(client: Client, big: Sequence[str], object_size: int, args: argparse.Namespace) -> dict[str, float]:
    """The three measurements for one client."""
    rng = random.Random(42)
    lengths = [rng.randint(100_000, 2_000_000) for _ in range(args.requests)]
    starts = [rng.randrange(0, object_size - n) for n in lengths]
    keys = [rng.choice(big) for _ in lengths]
    client.one(big[0], 0, 1024)  # connect, warm up
    cpu0, t0 = time.process_time(), time.perf_counter()
    got = client.ranges(keys, starts, lengths, args.workers)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert got == sum(lengths), (got, sum(lengths))
    lat = []
    for _ in range(args.small):
        t = time.perf_counter()
        client.one(rng.choice(big), rng.randrange(0, object_size - 8192), 8192)
        lat.append((time.perf_counter() - t) * 1000)
    out = {
        "ranged_MBps": got / MB / wall,
        "ranged_s": wall,
        "cpu_s_per_GB": cpu / (got / 1e9),
        "small_read_ms_p50": statistics.median(lat),
        "small_read_ms_p90": statistics.quantiles(lat, n=10)[-1],
    }
    if args.list_keys:
        t0 = time.perf_counter()
        n = client.count("list/")
        out["list_s"] = time.perf_counter() - t0
        assert n == args.list_keys, n
    return {k: round(v, 3) for k, v in out.items()}


def run_clients(args: argparse.Namespace) -> dict[str, object]:
    """`clients`: every library against one server, same workload, same order of requests."""
    results: dict[str, object] = {
        "server": args.server,
        "requests": args.requests,
        "workers": args.workers,
        "object_MB": args.object_mb,
    }
    with running_server(args.server, args.s3rver_bin) as server:
        big = upload_fixtures(server.endpoint, args.objects, args.object_mb, args.list_keys)
        for name in args.libs.split(","):
            log.info("measuring %s on %s", name, server.name)
            results[name] = measure(CLIENTS[name](server.endpoint), big, args.object_mb * MB, args)
    return results


def nex_like_file(path: Path, shape: tuple[int, int, int]) -> Path:
    """A NetCDF4 file like a NEX-GDDP-CMIP6 one: float32 `tas`, zlib level 1, one time step per chunk, ocean
    cells set to the 1e20 fill value (the archive covers land only, which is why its files compress about 5:1)."""
    import netCDF4
    import numpy as np

    steps, nlat, nlon = shape
    lat, lon = np.linspace(-59.875, 89.875, nlat), np.linspace(0.125, 359.875, nlon)
    land = (
        np.sin(np.radians(lat))[:, None] * 2
        + np.cos(np.radians(3 * lon))[None, :]
        + np.sin(np.radians(5 * lon + 40))[None, :]
    ) > 0.9
    base = (250 + 40 * np.cos(np.radians(lat)))[:, None] * np.ones((1, nlon))
    rng = np.random.default_rng(1)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        for name, n in (("time", None), ("lat", nlat), ("lon", nlon)):
            ds.createDimension(name, n)
        ds.createVariable("lat", "f8", ("lat",))[:] = lat
        ds.createVariable("lon", "f8", ("lon",))[:] = lon
        tas = ds.createVariable(
            "tas",
            "f4",
            ("time", "lat", "lon"),
            zlib=True,
            complevel=1,
            shuffle=False,
            chunksizes=(1, nlat, nlon),
            fill_value=np.float32(1e20),
        )
        for i in range(steps):
            tas[i] = np.where(land, base + rng.normal(0, 2, (nlat, nlon)), 1e20).astype("f4")
    return path


def _open_index(fileobj: object) -> tuple[int, float]:
    """Open with h5py and read the whole chunk index; (chunks, seconds)."""
    import h5py

    t0 = time.perf_counter()
    with h5py.File(fileobj, "r") as f:
        dsid = f["tas"].id
        n = len([dsid.get_chunk_info(i) for i in range(dsid.get_num_chunks())])
    return n, time.perf_counter() - t0


def _band(
    source: object, index: list[tuple[int, int]], shape: tuple[int, int, int], rows: slice
) -> tuple[float, float]:
    """Fetch every chunk with one `read_ranges`, then inflate each and keep the latitude rows `rows`;
    returns (seconds fetching, seconds in all)."""
    import zlib

    import numpy as np

    t0 = time.perf_counter()
    raw = source.read_ranges(index)  # type: ignore[attr-defined]
    t1 = time.perf_counter()
    band = [np.frombuffer(zlib.decompress(r), "<f4").reshape(shape[1:])[rows] for r in raw]
    assert len(band) == shape[0]
    return t1 - t0, time.perf_counter() - t0


def run_netcdf(args: argparse.Namespace) -> dict[str, object]:
    """`netcdf`: open + chunk index, then a latitude band of every step, from local disk and from the server."""
    import h5py

    from climnorm.storage import LocalSource, StorageOptions

    shape = tuple(int(x) for x in args.shape.split(","))
    rows = slice(shape[1] // 3, shape[1] // 3 + shape[1] // 6)
    out: dict[str, object] = {"server": args.server, "shape": shape}
    with tempfile.TemporaryDirectory(prefix="nexbench-", dir=args.workdir) as tmp:
        path = nex_like_file(Path(tmp) / "tas_day_BENCH_ssp245_r1i1p1f1_gn_2015.nc", shape)  # type: ignore[arg-type]
        with h5py.File(path, "r") as f:
            dsid = f["tas"].id
            index = [(i.byte_offset, i.size) for i in (dsid.get_chunk_info(k) for k in range(dsid.get_num_chunks()))]
        stored = sum(n for _, n in index)
        out["file_MB"], out["chunks_MB"] = round(path.stat().st_size / MB, 1), round(stored / MB, 1)
        _, t_open = _open_index(str(path))
        fetch, total = _band(LocalSource(path), index, shape, rows)  # type: ignore[arg-type]
        out["local"] = {
            "open_index_s": round(t_open, 4),
            "band_fetch_s": round(fetch, 3),
            "band_fetch_MBps": round(stored / MB / fetch, 1),
            "band_with_inflate_s": round(total, 3),
        }
        with running_server(args.server, args.s3rver_bin) as server:
            s3 = boto3_client(server.endpoint)
            with path.open("rb") as fh:
                s3.put_object(Bucket=BUCKET, Key=path.name, Body=fh)  # type: ignore[attr-defined]
            base = StorageOptions.from_config(
                {"endpoint_url": server.endpoint, "key": KEY, "secret": SECRET}, environ={}
            )
            url = f"s3://{BUCKET}/{path.name}"
            out["s3"] = _s3_figures(url, base, index, shape, rows, stored)
    return out


def _s3_figures(
    url: str, base: object, index: list[tuple[int, int]], shape: tuple[int, int, int], rows: slice, stored: int
) -> dict[str, object]:
    """The S3 side of `run_netcdf`: the index with three block sizes, the band by batch and through h5py."""
    from dataclasses import replace

    import h5py

    from climnorm.storage import S3Source

    figures: dict[str, object] = {}
    for block in (256 * 1024, 1024 * 1024, 4 * 1024 * 1024):
        options = replace(base, reads=replace(base.reads, block_size=block))  # type: ignore[arg-type]
        source = S3Source(url, options)
        n, seconds = _open_index(source.open())
        st = source.stats()
        figures[f"open_index_block_{block // 1024}KiB"] = {
            "chunks": n,
            "requests": st.requests,
            "MB_fetched": round(st.bytes_fetched / MB, 2),
            "s": round(seconds, 4),
        }
    source = S3Source(url, base)  # type: ignore[arg-type]
    source.size  # noqa: B018 - the HEAD, outside the timing
    fetch, total = _band(source, index, shape, rows)
    st = source.stats()
    figures["band_batched"] = {
        "requests": st.requests - 1,
        "fetched_over_stored": round(st.bytes_fetched / stored, 3),
        "fetch_s": round(fetch, 3),
        "fetch_MBps": round(stored / MB / fetch, 1),
        "with_inflate_s": round(total, 3),
    }
    source = S3Source(url, base)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    with h5py.File(source.open(), "r") as f:
        f["tas"][:, rows, :]
    seconds = time.perf_counter() - t0
    st = source.stats()
    figures["band_h5py_file_view"] = {
        "requests": st.requests,
        "s": round(seconds, 3),
        "fetched_over_stored": round(st.bytes_fetched / stored, 3),
    }
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, run one benchmark, print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["clients", "netcdf"])
    parser.add_argument("--server", choices=["moto", "s3rver"], default="moto")
    parser.add_argument("--s3rver-bin", default="/opt/s3rver/node_modules/.bin/s3rver")
    parser.add_argument("--libs", default="obstore,s3fs,boto3")
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--object-mb", type=int, default=100)
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--list-keys", type=int, default=10_000)
    parser.add_argument("--shape", default="365,600,1440")
    parser.add_argument("--workdir", default=None, help="where the NetCDF file is written (default: $TMPDIR)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    result = run_clients(args) if args.what == "clients" else run_netcdf(args)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
