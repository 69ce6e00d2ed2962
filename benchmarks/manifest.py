"""The manifest at the scale of the whole NEX-GDDP-CMIP6 ensemble (issue 31): its size, the cost of recording one
output, and ``climnorm plan`` over it with everything up to date.

    python benchmarks/manifest.py --root /tmp/manifest-bench          # ~33,000 inputs, ~745,000 outputs
    python benchmarks/manifest.py --root /tmp/mb --models 3            # a quick look

The archive is empty files named like the ensemble's (35 models x 4 variables x historical 1950-2014 and two
scenarios 2015-2100: 33,180 files; the catalog and the plan work by name). The job: 5 regions, 207 targets
(1980-2014 historical, 2015-2100 per scenario), 5 products, an ensemble of the members: ~725,000 member outputs and
~21,000 ensemble outputs. The manifest is synthesized from the plan itself (each output recorded as a run would
record it, with its 30 inputs), and each output file is an empty file of the recorded size, so that the plan finds
everything up to date. Measured: the manifest's bytes per output, the time to record one more output (the mean of
2,000, each its own transaction), and ``climnorm plan`` (a subprocess: wall time and peak memory).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.plan.build import make_plan
from climnorm.records import MemberOutput, OutputRecord
from climnorm.write.manifest import MANIFEST_NAME, Manifest

VARIABLES = ("pr", "tas", "tasmax", "tasmin")
SCENARIOS = ("historical", "ssp245", "ssp585")
CHECKSUM = "sha256:" + "0" * 64


def make_archive(root: Path, models: int) -> int:
    """Empty files named like the ensemble's; returns how many."""
    count = 0
    for m in range(models):
        model = f"MODEL-{m + 1:02d}"
        for scenario, years in (("historical", range(1950, 2015)), ("ssp245", range(2015, 2101)),
                                ("ssp585", range(2015, 2101))):  # fmt: skip
            for variable in VARIABLES:
                folder = root / model / scenario / "r1i1p1f1" / variable
                folder.mkdir(parents=True, exist_ok=True)
                for year in years:
                    (folder / f"{variable}_day_{model}_{scenario}_r1i1p1f1_gn_{year}.nc").touch()
                    count += 1
    return count


def config_data(root: Path) -> dict[str, object]:
    return {
        "input_dirs": [str(root / "archive")], "output_dir": str(root / "out"), "models": "all",
        "variables": list(VARIABLES), "regions": ["CONUS", "AK", "HI", "PRVI", "GU"], "scenarios": list(SCENARIOS),
        "window_years": 30, "min_years_for_normal": 25, "historical_end": 2014,
        "periods": {"historical": [1980, 2014], "future": [2015, 2100]},
        "products": ["daily", "daily_smoothed", "monthly", "seasonal", "annual"],
        "ensemble": {"statistics": ["mean", "p10", "p90"]},
    }  # fmt: skip


def synthesize(root: Path, config_path: Path) -> tuple[int, float]:
    """The manifest a finished run would leave, and its (empty) output files; returns (outputs, seconds)."""
    start = time.perf_counter()
    config = parse_config(yaml.safe_load(config_path.read_text()))
    catalog = build_catalog(config.input_dirs, variables=config.variables)
    plan = make_plan(config, catalog)
    manifest = Manifest(config.output_dir)
    batch: list[OutputRecord] = []
    checksums: dict[str, str] = {}

    def flush() -> None:
        manifest.add_many(batch)
        batch.clear()

    made: set[Path] = set()
    for out in plan.outputs:
        t = out.target
        record = OutputRecord(
            path=out.path, variable=t.variable, region=out.region.key, scenario=t.scenario, period=t.period,
            target_year=t.year, window_years=config.window_years, model=t.member.model, variant=t.member.variant,
            calendar="noleap", leap_day=config.leap_day, fingerprint=out.fingerprint, years=t.available,
            inputs=tuple(e.record for e in out.inputs), product=out.product, name=out.spec.data_name, size=0,
            checksum=CHECKSUM,
        )  # fmt: skip
        checksums[out.path] = CHECKSUM
        batch.append(record)
        _touch(config.output_dir / out.path, made)
        if len(batch) >= 20_000:
            flush()
    for ens in plan.ensembles:
        refs = tuple(MemberOutput(o.member_label, o.path, CHECKSUM) for o in ens.members)
        batch.append(OutputRecord(
            path=ens.path, variable=ens.variable, region=ens.region.key, scenario=ens.scenario, period=ens.period,
            target_year=ens.year, window_years=config.window_years, model="ensemble", variant="", calendar="noleap",
            leap_day=config.leap_day, fingerprint=ens.fingerprint, product=ens.spec.name, size=0, checksum=CHECKSUM,
            statistics=("mean", "p10", "p90"), min_members=1, members=tuple(o.member_label for o in ens.members),
            member_outputs=refs,
        ))  # fmt: skip
        _touch(config.output_dir / ens.path, made)
    flush()
    total = manifest.count()
    manifest.save()
    return total, time.perf_counter() - start


def _touch(path: Path, made: set[Path]) -> None:
    if path.parent not in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        made.add(path.parent)
    path.touch()


def record_cost(output_dir: Path, n: int = 2000) -> float:
    """Seconds to record one more output in the big manifest, each its own committed transaction (the mean)."""
    manifest = Manifest(output_dir)
    template = next(manifest.select(model="MODEL-01", variable="tas", region="CONUS", product="monthly"))
    records = [OutputRecord.from_json({**template.to_json(), "path": f"extra/{i}.nc"}) for i in range(n)]
    start = time.perf_counter()
    for record in records:
        manifest.add(record)
    seconds = (time.perf_counter() - start) / n
    manifest.db.execute("DELETE FROM outputs WHERE path LIKE 'extra/%'")
    manifest.save()
    return seconds


def measured_plan(config_path: Path) -> tuple[float, float, str]:
    """``climnorm plan`` in a subprocess: (wall seconds, peak RSS GiB, its last line)."""
    start = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-m", "climnorm.cli", "plan", str(config_path)], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)  # fmt: skip
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"climnorm plan failed:\n{out}")
    return seconds, peak / 2**30, [line for line in out.splitlines() if line.strip()][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("/tmp/manifest-bench"))
    parser.add_argument("--models", type=int, default=35)
    parser.add_argument("--keep", action="store_true", help="reuse the archive and manifest of an earlier run")
    args = parser.parse_args()
    root: Path = args.root
    config_path = root / "job.yaml"
    if not (args.keep and (root / "out" / MANIFEST_NAME).exists()):
        shutil.rmtree(root, ignore_errors=True)
        files = make_archive(root / "archive", args.models)
        config_path.write_text(yaml.safe_dump(config_data(root)))
        outputs, seconds = synthesize(root, config_path)
        print(f"archive: {files:,} empty files; manifest of {outputs:,} outputs synthesized in {seconds:.0f} s")
    db = root / "out" / MANIFEST_NAME
    count = Manifest(root / "out").count()
    size = db.stat().st_size
    per_record = record_cost(root / "out")
    seconds, peak, last = measured_plan(config_path)
    result = {
        "outputs": count, "manifest_bytes": size, "bytes_per_output": size / count,
        "record_ms": per_record * 1e3, "plan_seconds": seconds, "plan_peak_gib": peak, "plan_says": last,
        "cpu": os.cpu_count(),
    }  # fmt: skip
    (root / "result.json").write_text(json.dumps(result, indent=1))
    print(f"manifest: {count:,} outputs, {size / 2**20:.0f} MiB, {size / count:.0f} bytes per output (target 1 KB)")
    print(f"recording one output: {per_record * 1e3:.3f} ms (target 1 ms)")
    print(f"climnorm plan, everything up to date: {seconds:.1f} s, peak {peak:.2f} GiB (targets 10 s, 1 GB): {last}")


if __name__ == "__main__":
    main()
