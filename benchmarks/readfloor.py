"""The read floor: read and decompress every input of a job once, no computation, in ``--workers`` processes.

Backends:

* ``io``: the files' bytes only (no decompression): what the disk or page cache costs;
* ``netcdf4``: ``var[t0:t1]`` through netCDF4 (HDF5's zlib and shuffle filters), raw values, no masking;
* ``h5py``: ``ds.read_direct`` through h5py into a reused buffer (the same HDF5 filters);
* ``fastread``: climnorm's direct path (``climnorm.read.fastread``: chunk index, libdeflate, unshuffle) with
  ``--threads`` threads per process, if this climnorm has it.

Files are read in blocks of about 256 MB of time steps (as climnorm reads), one file per task.

    python benchmarks/readfloor.py JOB.json --backend netcdf4 [--workers N] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Job

BLOCK_BYTES = 256 * 2**20
BACKENDS = ("io", "netcdf4", "h5py", "fastread")


def _blocks(shape: tuple[int, ...], itemsize: int) -> list[tuple[int, int]]:
    per_step = int(np.prod(shape[1:])) * itemsize
    length = max(1, BLOCK_BYTES // per_step)
    return [(b, min(b + length, shape[0])) for b in range(0, shape[0], length)]


def read_io(path: str, variable: str, threads: int) -> int:
    buf = bytearray(16 * 2**20)
    total = 0
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            total += n
    return total


def read_netcdf4(path: str, variable: str, threads: int) -> int:
    import netCDF4

    total = 0
    with netCDF4.Dataset(path) as ds:
        var = ds.variables[variable]
        var.set_auto_maskandscale(False)
        for b0, b1 in _blocks(var.shape, var.dtype.itemsize):
            total += var[b0:b1].nbytes
    return total


def read_h5py(path: str, variable: str, threads: int) -> int:
    import h5py

    total = 0
    with h5py.File(path, "r") as f:
        ds = f[variable]
        blocks = _blocks(ds.shape, ds.dtype.itemsize)
        buf = np.empty((blocks[0][1] - blocks[0][0], *ds.shape[1:]), dtype=ds.dtype)
        for b0, b1 in blocks:
            out = buf[: b1 - b0]
            ds.read_direct(out, source_sel=np.s_[b0:b1], dest_sel=np.s_[0 : b1 - b0])
            total += out.nbytes
    return total


def read_fastread(path: str, variable: str, threads: int) -> int:
    from climnorm.read import fastread

    reader = fastread.reader_for(path, variable, None, threads)
    if reader is None:
        raise SystemExit(f"{path}: does not qualify for climnorm.read.fastread")
    total = 0
    rest = (slice(None),) * (len(reader.shape) - 1)
    for b0, b1 in _blocks(reader.shape, reader.dtype.itemsize):
        block = reader.read((slice(b0, b1), *rest))
        if block is None:
            raise SystemExit(f"{path}: climnorm.read.fastread failed")
        total += block.nbytes
    return total


READERS = {"io": read_io, "netcdf4": read_netcdf4, "h5py": read_h5py, "fastread": read_fastread}


def _task(backend: str, path: str, variable: str, threads: int) -> tuple[int, float]:
    start = time.perf_counter()
    n = READERS[backend](path, variable, threads)
    return n, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job", type=Path)
    p.add_argument("--backend", choices=BACKENDS, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="fastread: inflating threads per process")
    args = p.parse_args(argv)
    job = Job.load(args.job)
    tasks = [(args.backend, job.files[v][y], v, args.threads) for v in job.variables for y in job.years]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(_task, *zip(*tasks, strict=True)))
    wall = time.perf_counter() - start
    nbytes = sum(n for n, _ in results)
    print(
        f"{args.backend}: {len(results)} files, {nbytes / 2**20:,.0f} MiB in {wall:.2f} s "
        f"({nbytes / 2**20 / wall:,.0f} MiB/s; {sum(s for _, s in results) / len(results):.3f} s per file)"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
