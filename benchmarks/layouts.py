"""The same job in both output layouts (issue 31): ``output_layout: files`` (one NetCDF file per output) against
``zarr`` (one Zarr v3 store per chain and product, each target its own chunks): wall time, peak memory, the files
and bytes each leaves, and that their values agree.

    python benchmarks/layouts.py --root /tmp/layouts                 # 2 members, 2 variables, 3 regions, 26 targets
    python benchmarks/layouts.py --root /tmp/layouts --targets 6     # a quick look
    python benchmarks/layouts.py --root /tmp/layouts --s3            # and both layouts in a bucket (moto, here)

The archive is synthetic (``climnorm synth``'s closed-form values with noise per member) on a 1° grid covering
CONUS, AK and HI; the job is every product (daily, daily_smoothed, monthly, seasonal, annual) of 30-year normals
for targets 2010-2014 (historical) and 2015 on (ssp245), and the ensemble of the two members (mean, p10, p90).
Each layout runs in its own process (``climnorm run``), measured with its workers; the file counts are every
regular file under the output directory but the manifest and logs. With ``--s3`` each layout also runs with its
outputs in a bucket of a moto server on 127.0.0.1 (the test suite's; in memory, Python, on this machine's cores: its
CPU time is reported apart, as what a real object store would spend elsewhere), counted as objects under the prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml
from harness import PYTHON, measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from climnorm.outputs.datasets import chains, open_chain
from climnorm.outputs.index import OutputIndex
from climnorm.synth import SynthSpec, write_archive
from s3server import TEST_KEY, TEST_SECRET, MotoServer

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


def config(root: Path, layout: str, last_target: int, bucket: dict[str, Any] | None = None) -> Path:
    name = f"{layout}-s3" if bucket else layout
    data = {
        "input_dirs": [str(root / "archive")], "output_dir": bucket["url"] if bucket else str(root / layout),
        "models": "all",
        "variables": ["tas", "pr"], "regions": ["CONUS", "AK", "HI"], "scenarios": ["historical", "ssp245"],
        "window_years": 30, "min_years_for_normal": 25,
        "periods": {"historical": [2010, 2014], "future": [2015, last_target]},
        "products": ["daily", "daily_smoothed", "monthly", "seasonal", "annual"],
        "ensemble": {"statistics": ["mean", "p10", "p90"]}, "multiprocessing_workers": 2, "output_layout": layout,
    }  # fmt: skip
    if bucket:
        data.update(state_dir=str(root / name), output_storage_options=bucket["options"])
    path = root / f"{name}.yaml"
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


def objects(url: str, options: dict[str, Any]) -> tuple[int, int, int]:
    """(objects, their bytes, folders) under an output prefix in a bucket, its manifest and logs aside."""
    from climnorm.storage import StorageOptions, list_objects

    infos = [i for i in list_objects(url, StorageOptions.from_config(options)) if _an_output(i.key)]
    folders = {i.key.rsplit("/", 1)[0] for i in infos}
    return len(infos), sum(i.size for i in infos), len(folders)


def _an_output(key: str) -> bool:
    return "/logs/" not in key and not key.endswith("/manifest.sqlite")


def same_values(a: Path, b: Path | str, storage: Any = None) -> int:
    """How many chains and products the two layouts hold with identical values (all of them, or it raises)."""
    every = chains(OutputIndex.load(a).records)
    for chain in every:
        x, y = open_chain(a, chain).load(), open_chain(b, chain, storage=storage).load()
        for name in x.data_vars:
            if x[name].values.tobytes() != y[name].values.tobytes():
                raise AssertionError(f"{chain}: {name} differs between the layouts")
        if not np.array_equal(x["target_year"].values, y["target_year"].values):
            raise AssertionError(f"{chain}: other targets")
    return len(every)


def run_layout(root: Path, layout: str, targets: int, bucket: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run of the job in ``layout`` (its outputs in ``bucket`` if given), measured."""
    name = f"{layout}-s3" if bucket else layout
    cmd = [PYTHON, "-m", "climnorm.cli", "run", str(config(root, layout, 2014 + targets, bucket)), "--progress", "none"]
    server = psutil.Process(bucket["server"]._proc.pid) if bucket else None
    before = sum(server.cpu_times()[:2]) if server else 0.0
    keep = frozenset({server.pid}) if server else frozenset()
    result = measure(name, cmd, root / f"{name}.log", keep=keep)
    if result.returncode != 0:
        raise SystemExit(f"{name}: the run failed ({root / f'{name}.log'})")
    if bucket:
        files, size, folders = objects(bucket["url"], bucket["options"])
        outputs = len(OutputIndex.load(root / name).records)
    else:
        files, size, folders = leaves(root / layout)
        outputs = len(OutputIndex.load(root / layout).records)
    row = {"seconds": result.wall, "cpu": result.cpu, "peak_gib": result.peak_rss / 2**30, "outputs": outputs,
           "files": files, "bytes": size, "folders": folders, "foreign_cpu": result.foreign_cpu}  # fmt: skip
    if server:
        row["server_cpu"] = sum(server.cpu_times()[:2]) - before
    print(name, json.dumps(row), flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--targets", type=int, default=21, help="future targets from 2015 (default 21: to 2035)")
    parser.add_argument("--s3", action="store_true", help="also run both layouts with their outputs in a bucket")
    args = parser.parse_args()
    root: Path = args.root
    make_archive(root / "archive")
    rows: dict[str, Any] = {}
    for layout in ("files", "zarr"):
        shutil.rmtree(root / layout, ignore_errors=True)
        rows[layout] = run_layout(root, layout, args.targets)
    rows["identical_chains"] = same_values(root / "files", root / "zarr")
    if args.s3:
        server = MotoServer().start()
        try:
            server.create_bucket("layouts")
            options = {"endpoint_url": server.endpoint, "key": TEST_KEY, "secret": TEST_SECRET}
            for layout in ("files", "zarr"):
                bucket = {"url": f"s3://layouts/{layout}", "options": options, "server": server}
                shutil.rmtree(root / f"{layout}-s3", ignore_errors=True)
                rows[f"{layout}-s3"] = run_layout(root, layout, args.targets, bucket)
                from climnorm.storage import StorageOptions

                rows[f"{layout}-s3-identical"] = same_values(root / "files", bucket["url"],
                                                             StorageOptions.from_config(options))  # fmt: skip
        finally:
            server.stop()
    f, z = rows["files"], rows["zarr"]
    print("\n| layout | outputs | run time | peak memory | files | MB | folders |\n|---|---|---|---|---|---|---|")
    for name in ("files", "zarr", "files-s3", "zarr-s3"):
        if (r := rows.get(name)) is None:
            continue
        server = f" (+{r['server_cpu']:.0f} s the server's CPU)" if "server_cpu" in r else ""
        print(f"| {name} | {r['outputs']:,} | {r['seconds']:.1f} s{server} | {r['peak_gib']:.2f} GiB | "
              f"{r['files']:,} | {r['bytes'] / 1e6:.0f} | {r['folders']:,} |")  # fmt: skip
    print(
        f"\nzarr / files: time {z['seconds'] / f['seconds']:.2f}x, files {z['files'] / f['files']:.2f}x, bytes "
        f"{z['bytes'] / f['bytes']:.2f}x; values identical in all {rows['identical_chains']} chains and products"
    )
    if "zarr-s3" in rows:
        fs, zs = rows["files-s3"], rows["zarr-s3"]
        print(
            f"in a bucket: zarr / files: time {zs['seconds'] / fs['seconds']:.2f}x, objects "
            f"{zs['files'] / fs['files']:.2f}x; files in a bucket / on disk: time {fs['seconds'] / f['seconds']:.2f}x; "
            f"values identical to the local files layout in {rows['files-s3-identical']} and "
            f"{rows['zarr-s3-identical']} chains and products"
        )
    (root / "layouts.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
