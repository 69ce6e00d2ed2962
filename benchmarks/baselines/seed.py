"""The seed's algorithm, written from the seed design (seed/phase1_multiprocessing_architecture.md), to time it.

Structure, as the seed has it:

* the stage handler loops over regions sequentially (Level 1);
* per region, every variable's target years are cut into batches of ``batch_size_years`` (2) and a
  ``ProcessPoolExecutor`` works through the batches (Level 3; the seed gives each variable its own pool of
  ``cores_per_variable`` workers - here one pool of ``--workers`` processes serves every variable's batches, so
  that every contender uses the same number of processes);
* a batch processes its target years one after the other (Level 4): skip the target if its output exists;
  for each of the window's ~30 files: open it with xarray, cut the region with ``.sel``, group by
  ``time.dayofyear`` and average; concatenate the years, average over them, write the NetCDF file;
  ``gc.collect()`` after each target.

Every file is therefore read once per target year whose window holds it (~30x) and once per region (5x).

    python benchmarks/baselines/seed.py JOB.json --out DIR [--workers N] [--limit K]

``--limit K`` computes only the first K targets of every region (a measured subset to extrapolate from).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Job, output_path

BATCH_SIZE_YEARS = 2


Box = tuple[float, float, float, float]


def process_single_file_for_climatology(path: str, variable: str, box: Box) -> xr.DataArray:
    """One window file: open, subset the region, daily climatology by day of year."""
    lat_min, lat_max, lon_min, lon_max = box
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with xr.open_dataset(path) as ds:
            regional = ds[variable].sel(lat=slice(lat_min, lat_max), lon=slice(lon_min, lon_max))
            daily = regional.groupby("time.dayofyear").mean("time").load()
    return daily


def compute_climate_normal(yearly: list[xr.DataArray], years: list[int]) -> xr.DataArray:
    """Stack the years' climatologies and average them."""
    stacked = xr.concat(yearly, dim="year")
    stacked["year"] = years
    return stacked.mean("year")


def process_target_year_batch(variable: str, region: str, box: Box, batch: list[int], job_path: str, out: str) -> int:
    """One batch of target years, one target after the other."""
    job = Job.load(job_path)
    written = 0
    for target in batch:
        path = output_path(Path(out), variable, region, target)
        if path.exists():
            continue
        years = list(range(target - job.window + 1, target + 1))
        yearly = [process_single_file_for_climatology(f, variable, box) for f in job.window_files(variable, target)]
        normal = compute_climate_normal(yearly, years)
        normal.attrs.update(region=region, target_year=target, window_years=job.window)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        normal.to_dataset(name=variable).to_netcdf(tmp, encoding={variable: {"zlib": True, "complevel": 1}})
        os.replace(tmp, path)
        written += 1
        del yearly, normal
        gc.collect()
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="only the first K targets of each region")
    args = p.parse_args(argv)
    job = Job.load(args.job)
    targets = job.targets[: args.limit] if args.limit else job.targets
    start = time.perf_counter()
    written = 0
    for region, box in job.regions.items():  # Level 1: regions one after the other
        batches = [targets[i : i + BATCH_SIZE_YEARS] for i in range(0, len(targets), BATCH_SIZE_YEARS)]
        with ProcessPoolExecutor(max_workers=args.workers) as pool:  # Level 3: batches of target years
            futures = [
                pool.submit(process_target_year_batch, v, region, box, b, str(args.job), str(args.out))
                for v in job.variables
                for b in batches
            ]
            written += sum(f.result() for f in futures)
        print(f"seed: {region} done at {time.perf_counter() - start:.1f} s", flush=True)
    print(f"seed: wrote {written} normals in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
