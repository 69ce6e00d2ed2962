"""The embedded demo: a small synthetic archive made on the fly, then the whole job run on it."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from importlib import resources
from pathlib import Path

from rich.console import Console

from climnorm.config.model import Config, load_config
from climnorm.synth.archive import write_archive
from climnorm.synth.spec import SynthSpec

log = logging.getLogger(__name__)

_COMMON = SynthSpec(
    variables=("pr", "tas", "tasmax", "tasmin"),
    scenarios=("historical", "ssp245", "ssp585"),
    historical_years=(1983, 2014),
    scenario_years=(2015, 2049),
    # 1.875 degrees (the N96 longitude spacing): every region holds cell centres, PRVI and GU included
    resolution=1.875,
    box=(12.0, 73.0, 143.0, 297.0),
    holes=0.002,
    time_bnds=True,
    layout="s3",
)
#: Three members the way real ones differ: calendars, a steady offset, their own weather, and how fast each warms
#: under each scenario (ssp585 faster than ssp245).
DEMO_MEMBERS: tuple[SynthSpec, ...] = (
    replace(_COMMON, model="SYNTH-A", calendar="noleap", noise=1, warming=(("ssp245", 0.25), ("ssp585", 0.55))),
    replace(
        _COMMON, model="SYNTH-B", calendar="360_day", offset=0.8, noise=2, warming=(("ssp245", 0.35), ("ssp585", 0.7))
    ),
    replace(
        _COMMON, model="SYNTH-C", calendar="standard", offset=-0.6, noise=3, warming=(("ssp245", 0.2), ("ssp585", 0.45))
    ),
)
_MARKER = "archive.json"


def demo_config_text() -> str:
    return resources.files("climnorm").joinpath("data/demo.yaml").read_text()


def prepare_demo(directory: Path, *, workers: int = 1) -> Config:
    """Write the demo archive (unless an identical one is there) and its config; return the config."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / "archive"
    marker = directory / _MARKER
    wanted = json.dumps([asdict(spec) for spec in DEMO_MEMBERS], sort_keys=True)
    if not (marker.exists() and marker.read_text() == wanted and archive.is_dir()):
        log.info("writing the demo archive under %s", archive)
        for spec in DEMO_MEMBERS:
            write_archive(archive, spec, workers=workers)
        marker.write_text(wanted)
    config_path = directory / "demo.yaml"
    config_path.write_text(demo_config_text())
    return load_config(config_path, multiprocessing_workers=workers)


def show_demo_result(config: Config, console: Console) -> None:
    """Say where the outputs are and summarise one ensemble normal (tas over CONUS under ssp585)."""
    import xarray as xr

    from climnorm.write.manifest import Manifest

    records = Manifest.load(config.output_dir).records
    console.print(f"outputs: {config.output_dir} ({len(records)} normals, manifest.json lists them)")
    wanted = [
        r
        for r in records.values()
        if (r.variable, r.region, r.scenario, r.model) == ("tas", "CONUS", "ssp585", "ensemble")
    ]
    if not wanted:
        return
    record = max(wanted, key=lambda r: r.target_year)
    with xr.open_dataset(config.output_dir / record.path, decode_times=False) as ds:
        mean, low, high = (ds[f"tas_{s}"].mean(("lat", "lon")) for s in ("mean", "p10", "p90"))
        console.print(
            f"{record.path}: ensemble of {ds.attrs['ensemble_members']}, {ds.attrs['window_years']}-year normal "
            f"ending {ds.attrs['target_year']}; CONUS mean {float(mean.mean()):.2f} K (members' p10-p90 "
            f"{float(low.mean()):.2f}-{float(high.mean()):.2f}), 15 Jul {float(mean[195]):.2f} K"
        )
