"""CDO (Climate Data Operators) computing the same normals, as many CDO processes at once as ``--workers``.

Two formulations, both writing one file per variable x region x target (zlib level 1, like climnorm's):

``--mode naive`` (design.md section 6, per region and target, every window file read again)::

    cdo ydaymean -selyear,A/B -sellonlatbox,LON1,LON2,LAT1,LAT2 -mergetime FILES... OUT

``--mode fast`` (the fastest correct formulation found; each input decompressed once):

1. per input file: ``cdo -f nc sellonlatbox,<union of the regions> IN UNION`` (one decompression of the global
   file, an uncompressed intermediate about a sixth of the globe), then per region
   ``cdo -f nc sellonlatbox,<region> UNION REGION_YEAR`` (reads the small uncompressed file), then UNION is
   deleted;
2. per region and target: ``cdo ydaymean -mergetime REGION_YEAR...`` over the window's regional files.

The intermediates go to ``--work`` (default ``OUT/.cdo-work``) and are deleted at the end.

    python benchmarks/baselines/cdo.py JOB.json --out DIR [--workers N] [--mode naive|fast] [--limit K]

``--limit K`` computes only the first K targets of every region (naive mode: a measured subset).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Job, output_path

CDO = shutil.which("cdo") or "cdo"
OUT_OPTS = ["-f", "nc4", "-z", "zip_1"]


def _lonlatbox(box: Sequence[float]) -> str:
    lat_min, lat_max, lon_min, lon_max = box
    return f"{lon_min:g},{lon_max:g},{lat_min:g},{lat_max:g}"


def _union(boxes: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    """The smallest box holding every region (regions given in 0..360 and not crossing 0)."""
    return (
        min(b[0] for b in boxes),
        max(b[1] for b in boxes),
        min(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _cdo(*args: str) -> None:
    proc = subprocess.run([CDO, "-s", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cdo {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")


def _write(out: Path, *args: str) -> None:
    """A CDO command whose last argument is ``out``, written under a temporary name and renamed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    _cdo(*args, str(tmp))
    os.replace(tmp, out)


def naive(job: Job, targets: list[int], out: Path, workers: int) -> int:
    def one(variable: str, region: str, target: int) -> None:
        box = _lonlatbox(job.regions[region])
        first = target - job.window + 1
        files = job.window_files(variable, target)
        _write(
            output_path(out, variable, region, target),
            *OUT_OPTS,
            "ydaymean",
            f"-selyear,{first}/{target}",
            f"-sellonlatbox,{box}",
            "-mergetime",
            *files,
        )

    tasks = [(v, r, t) for v in job.variables for r in job.regions for t in targets]
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(one, *t) for t in tasks]:
            f.result()
    return len(tasks)


def fast(job: Job, targets: list[int], out: Path, workers: int, work: Path) -> int:
    union = _lonlatbox(_union(list(job.regions.values())))
    years = sorted({y for t in targets for y in range(t - job.window + 1, t + 1)})

    def regional(variable: str, region: str, year: int) -> Path:
        return work / variable / region / f"{year}.nc"

    def cut(variable: str, year: int) -> None:
        tmp = work / variable / f"union_{year}.nc"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        _cdo("-f", "nc", f"sellonlatbox,{union}", job.files[variable][year], str(tmp))
        for region, box in job.regions.items():
            _write(regional(variable, region, year), "-f", "nc", f"sellonlatbox,{_lonlatbox(box)}", str(tmp))
        tmp.unlink()

    def normal(variable: str, region: str, target: int) -> None:
        files = [str(regional(variable, region, y)) for y in range(target - job.window + 1, target + 1)]
        _write(output_path(out, variable, region, target), *OUT_OPTS, "ydaymean", "-mergetime", *files)

    try:
        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(cut, v, y) for v in job.variables for y in years]:
                f.result()
            tasks = [(v, r, t) for v in job.variables for r in job.regions for t in targets]
            for f in [pool.submit(normal, *t) for t in tasks]:
                f.result()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return len(tasks)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--mode", choices=["naive", "fast"], default="fast")
    p.add_argument("--limit", type=int, default=0, help="only the first K targets of each region")
    p.add_argument("--work", type=Path, help="folder for the fast mode's intermediates (default OUT/.cdo-work)")
    args = p.parse_args(argv)
    job = Job.load(args.job)
    targets = job.targets[: args.limit] if args.limit else job.targets
    start = time.perf_counter()
    if args.mode == "naive":
        n = naive(job, targets, args.out, args.workers)
    else:
        n = fast(job, targets, args.out, args.workers, args.work or args.out / ".cdo-work")
    print(f"cdo {args.mode}: wrote {n} normals in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
