"""The embedded demo: a small synthetic archive made on the fly, then the whole job run on it."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from importlib import resources
from pathlib import Path

from rich.console import Console

from climnorm.config import Config, load_config
from climnorm.synth.archive import write_archive
from climnorm.synth.spec import SynthSpec

log = logging.getLogger(__name__)

DEMO_SPEC = SynthSpec(
    model="SYNTH-ESM",
    variables=("pr", "tas", "tasmax", "tasmin"),
    scenarios=("historical", "ssp245", "ssp585"),
    historical_years=(1981, 2014),
    scenario_years=(2015, 2049),
    calendar="noleap",
    resolution=1.0,
    box=(12.0, 73.0, 143.0, 297.0),
    holes=0.002,
    time_bnds=True,
)
_MARKER = "archive.json"


def demo_config_text() -> str:
    return resources.files("climnorm").joinpath("data/demo.yaml").read_text()


def prepare_demo(directory: Path, *, workers: int = 1) -> Config:
    """Write the demo archive (unless an identical one is there) and its config; return the config."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / "archive"
    marker = directory / _MARKER
    wanted = json.dumps(asdict(DEMO_SPEC), sort_keys=True)
    if not (marker.exists() and marker.read_text() == wanted and archive.is_dir()):
        log.info("writing the demo archive under %s", archive)
        write_archive(archive, DEMO_SPEC, workers=workers)
        marker.write_text(wanted)
    config_path = directory / "demo.yaml"
    config_path.write_text(demo_config_text())
    return load_config(config_path, multiprocessing_workers=workers)


def show_demo_result(config: Config, console: Console) -> None:
    """Say where the outputs are and summarise one normal (tas over CONUS under ssp245)."""
    import xarray as xr

    from climnorm.manifest import Manifest

    records = Manifest.load(config.output_dir).records
    console.print(f"outputs: {config.output_dir} ({len(records)} normals, manifest.json lists them)")
    wanted = [r for r in records.values() if (r["variable"], r["region"], r["scenario"]) == ("tas", "CONUS", "ssp245")]
    if not wanted:
        return
    record = max(wanted, key=lambda r: r["target_year"])
    with xr.open_dataset(config.output_dir / record["path"], decode_times=False) as ds:
        tas = ds["tas"]
        by_day = tas.mean(("lat", "lon"))
        jan, jul = float(by_day.sel(time=by_day.time[14])), float(by_day.sel(time=by_day.time[195]))
        console.print(
            f"{record['path']}: {ds.attrs['window_years']}-year normal ending {ds.attrs['target_year']} "
            f"({ds.attrs['source_years']}, {ds.attrs['scenarios']}), {tas.sizes['lat']}x{tas.sizes['lon']} cells; "
            f"CONUS mean {float(by_day.mean()):.2f} {tas.attrs.get('units', '')}, "
            f"15 Jan {jan:.2f}, 15 Jul {jul:.2f}, range {float(tas.min()):.2f}..{float(tas.max()):.2f}"
        )
