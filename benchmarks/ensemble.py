"""One run over N members against N one-member runs of the same archive, and the ensemble step's cost per target.

    python benchmarks/ensemble.py                      # 4 members, 1-degree grid, 30-year windows
    python benchmarks/ensemble.py --members 8 --grid 0.5

Every contender is `python -m climnorm.cli run CONFIG --force --progress none` measured as a whole process tree
(wall time, CPU, peak resident memory: benchmarks/harness.py). Results go to --out (JSON) and are printed as a
table; nothing is committed. The members share one grid and differ as real ones do (offset, weather, warming).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from harness import manifest_records, measure

CALENDARS = ("noleap", "360_day", "standard")


def _members(n: int, grid: float) -> list[Any]:
    from climnorm.synth import SynthSpec

    base = SynthSpec(
        variables=("tas",),
        scenarios=("historical", "ssp245"),
        historical_years=(1981, 2014),
        scenario_years=(2015, 2019),
        resolution=grid,
        box=(12.0, 73.0, 143.0, 297.0),
        holes=0.002,
        layout="s3",
    )
    return [
        replace(base, model=f"BENCH-{i:02d}", calendar=CALENDARS[i % 3], offset=0.3 * i, noise=i + 1) for i in range(n)
    ]


def _config(archive: Path, out: Path, **extra: Any) -> dict[str, Any]:
    return {
        "input_dirs": [str(archive)],
        "output_dir": str(out),
        "variables": ["tas"],
        "regions": ["CONUS", "AK", "HI", "PRVI", "GU"],
        "scenarios": ["historical", "ssp245"],
        "window_years": 30,
        "min_years_for_normal": 25,
        "periods": {"historical": [2010, 2014], "hybrid": [2015, 2019]},
        **extra,
    }


def _run(label: str, config: dict[str, Any], work: Path, workers: int) -> dict[str, Any]:
    path = work / f"{label}.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "climnorm.cli", "-q", "run", str(path), "--force", "--progress", "none"]
    m = measure(label, [*command, "--workers", str(workers)], work / f"{label}.log")
    if not m.ok:
        raise SystemExit(f"{label} failed, see {m.log}")
    return {"label": label, "wall": m.wall, "cpu": m.cpu, "peak_rss": m.peak_rss, "peak_rss_single": m.peak_rss_single}


def _ensemble_step(out: Path) -> dict[str, float]:
    """The ensemble step alone, per output: the same code the run's ensemble tasks run, on the finished member
    outputs of the first 20 ensemble outputs, one at a time in this process."""
    import time

    from climnorm.write.ensemble import write_ensemble
    from climnorm.write.orders import EnsembleMember, EnsembleTask

    records = manifest_records(out)
    ensembles = [r for r in records if r["model"] == "ensemble"]
    members = {r["path"]: r for r in records if r["model"] != "ensemble"}
    seconds = []
    for r in ensembles[:20]:
        task = EnsembleTask(
            path=str(out / "bench-ensemble.nc"),
            variable=r["variable"],
            members=tuple(
                EnsembleMember(m["member"], str(out / m["path"]), members[m["path"]]["calendar"], "calendar_day")
                for m in r["member_outputs"]
            ),
            statistics=tuple(r["statistics"]),
            min_members=r["min_members"],
            window=(r["target_year"] - 29, r["target_year"]),
            attrs=(),
            zlib=True,
            complevel=1,
            shuffle=True,
        )
        start = time.perf_counter()
        write_ensemble(task)
        seconds.append(time.perf_counter() - start)
    (out / "bench-ensemble.nc").unlink(missing_ok=True)
    return {"outputs": len(ensembles), "seconds_per_output": sum(seconds) / max(1, len(seconds))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--grid", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/climnorm-bench-ensemble"))
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: WORK/results.json)")
    args = parser.parse_args(argv)
    from climnorm.synth import write_archive

    archive = args.work / f"archive-{args.members}-{args.grid:g}"
    specs = _members(args.members, args.grid)
    if not archive.is_dir():
        for spec in specs:
            write_archive(archive, spec, workers=args.workers)
    rows = [_run("one run, all members", _config(archive, args.work / "all", models="all"), args.work, args.workers)]
    ensemble = _config(archive, args.work / "ens", models="all", ensemble={})
    rows.append(_run("one run + ensemble", ensemble, args.work, args.workers))
    singles = [
        _run(f"alone {s.model}", _config(archive, args.work / s.model, model=s.model), args.work, args.workers)
        for s in specs
    ]
    rows.append(
        {
            "label": f"{len(specs)} one-member runs",
            "wall": sum(r["wall"] for r in singles),
            "cpu": sum(r["cpu"] for r in singles),
            "peak_rss": max(r["peak_rss"] for r in singles),
            "peak_rss_single": max(r["peak_rss_single"] for r in singles),
        }
    )
    step = _ensemble_step(args.work / "ens")
    results = {"members": len(specs), "grid": args.grid, "workers": args.workers, "rows": rows, "ensemble": step}
    (args.out or args.work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"{'contender':32s} {'wall s':>8s} {'CPU s':>8s} {'peak tree MB':>13s}")
    for r in rows:
        print(f"{r['label']:32s} {r['wall']:8.1f} {r['cpu']:8.1f} {r['peak_rss'] / 2**20:13.0f}")
    print(f"ensemble step: {step['seconds_per_output'] * 1000:.0f} ms per output ({step['outputs']} outputs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
