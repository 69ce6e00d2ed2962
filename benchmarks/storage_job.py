"""The same climnorm job from local disk and from a local S3 server: throughput, requests, bytes fetched vs stored.

    python benchmarks/storage_job.py [--grid 0.5] [--years 8] [--workers 2] [--repeat 2] [--engine local|dask]

Writes a NEX-shaped archive (`climnorm synth`, tas, global grid, one file per year, the public bucket's folder
layout), uploads it to a moto server on 127.0.0.1, and runs one job (five U.S. regions, 2-year windows: 0.875
target years per file, as docs/cluster.md's throughput job) from the local folder and from `s3://bench/NEX-GDDP-
CMIP6` through `benchmarks`' counting proxy (tests/s3server.FaultProxy, no faults), `--repeat` times each
round-robin, the fastest counting. Prints JSON: wall seconds, files/s, stored MB/s, requests by kind, bytes
fetched against bytes stored, requests per object, and whether both runs' normals are the same. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from climnorm.config.model import parse_config
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec, write_archive
from s3server import FaultProxy, MotoServer

log = logging.getLogger("benchmarks.storage_job")
BUCKET, PREFIX = "bench", "NEX-GDDP-CMIP6"
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def job(inputs: str, out: Path, years: tuple[int, int], workers: int, engine: str, endpoint: str) -> dict[str, Any]:
    """The job's configuration (as docs/cluster.md's throughput job)."""
    first, last = years
    return {
        "input_dirs": [inputs],
        "output_dir": str(out),
        "variables": ["tas"],
        "regions": ["CONUS", "AK", "HI", "PRVI", "GU"],
        "scenarios": ["historical"],
        "window_years": 2,
        "min_years_for_normal": 1,
        "historical_end": last,
        "periods": {"historical": [first + 1, last]},
        "multiprocessing_workers": workers,
        "engine": engine,
        "storage_options": {"endpoint_url": endpoint, "anon": True},
    }


def normals(out: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(out.rglob("*.nc")):
        with netCDF4.Dataset(path) as ds:
            found[str(path.relative_to(out))] = np.ma.filled(ds.variables[ds.variable][:].astype(np.float32), np.nan)
    return found


def fetched(proxy: FaultProxy) -> dict[str, Any]:
    """Requests the proxy passed on, by kind, and the bytes the ranged GETs asked for."""
    seen = proxy.seen()
    ranged = [s for s in seen if s.method == "GET" and s.range]
    nbytes = 0
    for s in ranged:
        m = _RANGE.fullmatch(s.range or "")
        nbytes += int(m[2]) - int(m[1]) + 1 if m else 0
    return {
        "requests": len(seen),
        "ranged_gets": len(ranged),
        "whole_gets": len([s for s in seen if s.method == "GET" and not s.range and "list-type" not in s.path]),
        "heads": len([s for s in seen if s.method == "HEAD"]),
        "listings": len([s for s in seen if "list-type" in s.path]),
        "bytes_fetched": nbytes,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", type=float, default=0.5, help="grid spacing in degrees (global grid)")
    p.add_argument("--years", type=int, default=8, help="file-years, ending 2014")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--engine", choices=["local", "dask"], default="local")
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("climnorm").setLevel(logging.WARNING)
    years = (2015 - args.years, 2014)
    spec = SynthSpec(variables=("tas",), historical_years=years, resolution=args.grid, layout="s3")
    with tempfile.TemporaryDirectory(prefix="storage-job-", dir=args.workdir) as tmp:
        root = Path(tmp) / "archive"
        log.info("writing %d files at %g degrees", args.years, args.grid)
        files = write_archive(root, spec, workers=args.workers)
        stored = sum(f.stat().st_size for f in files)
        server = MotoServer().start()
        proxy = FaultProxy(server.port).start()
        try:
            server.create_bucket(BUCKET)
            server.set_policy(BUCKET, public_read=True)
            for f in files:
                server.put(BUCKET, f"{PREFIX}/{f.relative_to(root).as_posix()}", f)
            url = f"s3://{BUCKET}/{PREFIX}"
            best: dict[str, dict[str, Any]] = {}
            for i in range(args.repeat):
                for name, inputs in (("local disk", str(root)), ("S3 (moto)", url)):
                    out = Path(tmp) / f"out-{name[:5]}-{i}"
                    config = parse_config(job(inputs, out, years, args.workers, args.engine, proxy.endpoint))
                    proxy.clear()
                    start = time.perf_counter()
                    summary = run(config, force=True)
                    wall = time.perf_counter() - start
                    assert summary.exit_code == 0, summary.failures
                    figures: dict[str, Any] = {"wall_s": round(wall, 2), "out": str(out)}
                    if inputs == url:
                        figures.update(fetched(proxy))
                    log.info("%s run %d: %.1f s", name, i + 1, wall)
                    if name not in best or wall < best[name]["wall_s"]:
                        best[name] = figures
            same = all(
                np.array_equal(a, b, equal_nan=True)
                for a, b in zip(
                    normals(Path(best["local disk"]["out"])).values(),
                    normals(Path(best["S3 (moto)"]["out"])).values(),
                    strict=True,
                )
            )
        finally:
            proxy.stop()
            server.stop()
    result: dict[str, Any] = {
        "grid": args.grid,
        "files": len(files),
        "stored_MB": round(stored / 1e6, 1),
        "workers": args.workers,
        "engine": args.engine,
        "normals_identical": same,
    }
    for name, figures in best.items():
        figures.pop("out")
        figures["files_per_s"] = round(len(files) / figures["wall_s"], 3)
        figures["stored_MB_per_s"] = round(stored / 1e6 / figures["wall_s"], 1)
        if "bytes_fetched" in figures:
            figures["fetched_over_stored"] = round(figures["bytes_fetched"] / stored, 3)
            figures["requests_per_object"] = round(figures["requests"] / len(files), 1)
        result[name] = figures
    result["s3_over_local"] = round(best["S3 (moto)"]["wall_s"] / best["local disk"]["wall_s"], 2)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
