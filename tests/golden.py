"""A fixed job whose outputs must not change unless an issue says so: every data checksum and manifest field.

Two synthetic archives (all four variables, the five U.S. regions, three scenarios; noleap with holes, and a
standard calendar with time bounds under the ``dayofyear`` policy) are run through climnorm; the manifest
records, with input paths made relative to the archive and the times left out, are compared with
``tests/data/golden/<name>.json``, written by the commit before a refactor.

Regenerate (only when an issue changes outputs on purpose, and say so in its commit)::

    python tests/golden.py --write
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from climnorm.config.model import parse_config
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec, write_archive
from climnorm.write.manifest import manifest_outputs

GOLDEN_DIR = Path(__file__).parent / "data" / "golden"
REGIONS = ["CONUS", "AK", "HI", "PRVI", "GU"]
VARIABLES = ("pr", "tas", "tasmax", "tasmin")
SCENARIOS = ("historical", "ssp245", "ssp585")
BOX = (12.0, 73.0, 143.0, 297.0)

JOBS: dict[str, tuple[SynthSpec, dict[str, Any]]] = {
    "noleap": (
        SynthSpec(
            variables=VARIABLES,
            scenarios=SCENARIOS,
            historical_years=(2003, 2014),
            scenario_years=(2015, 2022),
            calendar="noleap",
            resolution=1.0,
            box=BOX,
            holes=0.01,
        ),
        {
            "window_years": 6,
            "min_years_for_normal": 5,
            "periods": {"historical": [2010, 2014], "hybrid": [2015, 2019], "future": [2020, 2022]},
        },
    ),
    "standard": (
        SynthSpec(
            variables=VARIABLES,
            scenarios=SCENARIOS,
            historical_years=(2007, 2014),
            scenario_years=(2015, 2019),
            calendar="standard",
            resolution=1.0,
            box=BOX,
            holes=0.02,
            time_bnds=True,
        ),
        {
            "window_years": 5,
            "min_years_for_normal": 4,
            "leap_day": "dayofyear",
            "periods": {"historical": [2012, 2014], "hybrid": [2015, 2017], "future": [2018, 2019]},
        },
    ),
}


def run_job(name: str, work: Path, workers: int = 2) -> list[dict[str, Any]]:
    """Write the job's archive under ``work``, run climnorm on it, and return its comparable records."""
    spec, extra = JOBS[name]
    archive = work / f"archive-{name}"
    write_archive(archive, spec, workers=workers)
    config = parse_config(
        {
            "input_dirs": [str(archive)],
            "output_dir": str(work / f"out-{name}"),
            "variables": list(VARIABLES),
            "regions": REGIONS,
            "scenarios": list(SCENARIOS),
            "multiprocessing_workers": workers,
            **extra,
        }
    )
    summary = run(config)
    if summary.failures:
        raise AssertionError(f"golden job {name} failed: {summary.failures}")
    manifest = manifest_outputs(config.output_dir)
    return comparable(manifest, archive)


def comparable(records: list[dict[str, Any]], archive: Path) -> list[dict[str, Any]]:
    """Manifest records without times, input paths relative to the archive root, sorted by path."""
    out = []
    for record in sorted(records, key=lambda r: r["path"]):
        record = dict(record)
        record["inputs"] = [
            {k: (str(Path(v).relative_to(archive)) if k == "path" else v) for k, v in i.items() if k != "mtime"}
            for i in record["inputs"]
        ]
        out.append(record)
    return out


def golden(name: str) -> list[dict[str, Any]]:
    return json.loads((GOLDEN_DIR / f"{name}.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write tests/data/golden/*.json from this checkout")
    args = parser.parse_args()
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    differ = 0
    for name in JOBS:
        with tempfile.TemporaryDirectory() as tmp:
            records = run_job(name, Path(tmp))
        if args.write:
            (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
            sys.stdout.write(f"{name}: wrote {len(records)} records\n")
        else:
            same = records == golden(name)
            differ += not same
            sys.stdout.write(f"{name}: {len(records)} records, {'identical' if same else 'DIFFERENT'}\n")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
