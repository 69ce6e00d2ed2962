"""The same job in both output layouts (issue 31): ``output_layout: files`` (one NetCDF file per output) against
``zarr`` (one Zarr v3 store per chain and product, each target its own chunks): wall time, peak memory, the files
and bytes each leaves, and that their values agree.

    python benchmarks/layouts.py --root /tmp/layouts                 # 2 members, 2 variables, 3 regions, 26 targets
    python benchmarks/layouts.py --root /tmp/layouts --targets 6     # a quick look

The archive is synthetic (``climnorm synth``'s closed-form values with noise per member) on a 1° grid covering
CONUS, AK and HI; the job is every product (daily, daily_smoothed, monthly, seasonal, annual) of 30-year normals
for targets 2010-2014 (historical) and 2015 on (ssp245), and the ensemble of the two members (mean, p10, p90).
Each layout runs in its own process (``climnorm run``), measured with its workers; the file counts are every
regular file under the output directory but the manifest and logs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from harness import PYTHON, measure

from climnorm.outputs.datasets import chains, open_chain
from climnorm.outputs.index import OutputIndex
from climnorm.synth import SynthSpec, write_archive

SPEC = SynthSpec(
    variables=("tas", "pr"), scenarios=("historical", "ssp245"), historical_years=(1981, 2014),
    scenario_years=(2015, 2040), resolution=1.0, box=(18.0, 72.0, 170.0, 294.0),
)  # fmt: skip


def make_archive(root: Path) -> None:
    if (root / ".done").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    for i, model in enumerate(("LAYOUT-A", "LAYOUT-B")):
        write_archive(root, replace(SPEC, model=model, noise=i), workers=2)
    (root / ".done").touch()


def config(root: Path, layout: str, last_target: int) -> Path:
    data = {
        "input_dirs": [str(root / "archive")], "output_dir": str(root / layout), "models": "all",
        "variables": ["tas", "pr"], "regions": ["CONUS", "AK", "HI"], "scenarios": ["historical", "ssp245"],
        "window_years": 30, "min_years_for_normal": 25,
        "periods": {"historical": [2010, 2014], "future": [2015, last_target]},
        "products": ["daily", "daily_smoothed", "monthly", "seasonal", "annual"],
        "ensemble": {"statistics": ["mean", "p10", "p90"]}, "multiprocessing_workers": 2, "output_layout": layout,
    }  # fmt: skip
    path = root / f"{layout}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def leaves(out: Path) -> tuple[int, int, int]:
    """(regular files, their bytes, directories) under an output directory, its manifest and logs aside."""
    files = size = folders = 0
    for folder, dirs, names in os.walk(out):
        if Path(folder) == out:
            dirs[:] = [d for d in dirs if d != "logs"]
            names = [n for n in names if not n.startswith("manifest.sqlite")]
        folders += len(dirs)
        for name in names:
            files += 1
            size += os.lstat(os.path.join(folder, name)).st_size
    return files, size, folders


def same_values(a: Path, b: Path) -> int:
    """How many chains and products the two layouts hold with identical values (all of them, or it raises)."""
    every = chains(OutputIndex.load(a).records)
    for chain in every:
        x, y = open_chain(a, chain).load(), open_chain(b, chain).load()
        for name in x.data_vars:
            if x[name].values.tobytes() != y[name].values.tobytes():
                raise AssertionError(f"{chain}: {name} differs between the layouts")
        if not np.array_equal(x["target_year"].values, y["target_year"].values):
            raise AssertionError(f"{chain}: other targets")
    return len(every)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--targets", type=int, default=21, help="future targets from 2015 (default 21: to 2035)")
    args = parser.parse_args()
    root: Path = args.root
    make_archive(root / "archive")
    rows = {}
    for layout in ("files", "zarr"):
        shutil.rmtree(root / layout, ignore_errors=True)
        cmd = [PYTHON, "-m", "climnorm.cli", "run", str(config(root, layout, 2014 + args.targets)), "--progress",
               "none"]  # fmt: skip
        result = measure(layout, cmd, root / f"{layout}.log")
        if result.returncode != 0:
            raise SystemExit(f"{layout}: the run failed ({root / f'{layout}.log'})")
        files, size, folders = leaves(root / layout)
        outputs = len(OutputIndex.load(root / layout).records)
        rows[layout] = {"seconds": result.wall, "cpu": result.cpu, "peak_gib": result.peak_rss / 2**30,
                        "outputs": outputs, "files": files, "bytes": size, "folders": folders,
                        "foreign_cpu": result.foreign_cpu}  # fmt: skip
        print(layout, json.dumps(rows[layout]), flush=True)
    rows["identical_chains"] = same_values(root / "files", root / "zarr")
    f, z = rows["files"], rows["zarr"]
    print("\n| layout | outputs | run time | peak memory | files | MB | folders |\n|---|---|---|---|---|---|---|")
    for name, r in (("files", f), ("zarr", z)):
        print(f"| {name} | {r['outputs']:,} | {r['seconds']:.1f} s | {r['peak_gib']:.2f} GiB | {r['files']:,} | "
              f"{r['bytes'] / 1e6:.0f} | {r['folders']:,} |")  # fmt: skip
    print(
        f"\nzarr / files: time {z['seconds'] / f['seconds']:.2f}x, files {z['files'] / f['files']:.2f}x, bytes "
        f"{z['bytes'] / f['bytes']:.2f}x; values identical in all {rows['identical_chains']} chains and products"
    )
    (root / "layouts.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
