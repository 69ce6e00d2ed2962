"""The embedded demo: a small synthetic archive made on the fly, then the whole job run on it."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, replace
from importlib import resources
from pathlib import Path

from rich.console import Console

from climnorm._extras import missing_extra_message
from climnorm.config.model import Config, load_config
from climnorm.config.zonal import changes_table_path
from climnorm.products import spec_of
from climnorm.records import OutputRecord
from climnorm.synth.archive import write_archive
from climnorm.synth.spec import SynthSpec

log = logging.getLogger(__name__)

_COMMON = SynthSpec(
    variables=("pr", "tas", "tasmax", "tasmin"),
    scenarios=("historical", "ssp245", "ssp585"),
    historical_years=(1985, 2014),
    scenario_years=(2015, 2049),
    # 1.875 degrees (the N96 longitude spacing): every region holds cell centres, PRVI and GU included
    resolution=1.875,
    box=(12.0, 73.0, 143.0, 297.0),
    # no missing values, as in the real archive: a hole makes a month's precipitation total, and so the season's
    # and the year's, missing in that year (WMO's rules), and the county table would flag every county
    time_bnds=True,
    layout="s3",
    style="us_normals",  # normals like the observed U.S. ones, so the pictures look like the places they show
)
#: Three members the way real ones differ: calendars, a steady offset, their own weather (and precipitation
#: change), and how fast each warms under each scenario (ssp585 faster than ssp245).
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
_ZONAL_SECTION = "\nzonal:"
_HOUSTON = "48201"  # Harris County, Texas
CATEGORY_NAMES = {1: "robust signal", 2: "no change or no robust signal", 3: "conflicting signals"}


def demo_config_text() -> str:
    """The demo's configuration; without the zonal extra, without its county table (the rest still runs)."""
    text = resources.files("climnorm").joinpath("data/demo.yaml").read_text()
    problem = missing_extra_message("zonal", "county tables")
    if problem is None or _ZONAL_SECTION not in text:
        return text
    log.warning("the demo writes no county table: %s", problem)
    return text[: text.index(_ZONAL_SECTION)] + f"\n# zonal: left out, {problem}\n"


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
    """Say where the products, the ensemble and the county table are, with a taste of each, and how to draw them."""
    from climnorm.write.manifest import Manifest

    assert isinstance(config.output_dir, Path)  # the demo's outputs are local
    every = list(Manifest.read(config.output_dir).select())
    records = [r for r in every if not r.is_change]
    counts = Counter(r.product for r in records)
    names = [*config.products, *(spec.name for spec in config.product_specs()[len(config.products) :])]
    shown = ", ".join(f"{counts[name]} {name}" for name in names)
    changes = f", and {len(every) - len(records)} changes against their baseline" if len(every) > len(records) else ""
    console.print(f"outputs: {config.output_dir} ({len(records)} normals: {shown}{changes}; the manifest lists them)")
    _show_products(config, records, console)
    _show_ensemble(config, records, console)
    for entry in config.zonal:
        _show_county_table(entry.table_path(config.output_dir), console)
        _show_county_changes(changes_table_path(entry.table_path(config.output_dir)), console)
    output = config.output_dir
    console.print(
        f"pictures (the plot extra): climnorm plot map {output} --variable tas --region CONUS --scenario ssp245 "
        f"--target 2049 --day 196 -o map.png; climnorm plot change {output} --variable tas --region CONUS "
        f"-o change.png; climnorm plot map {output} --variable tasmax --region CONUS --product tx_ge_90F "
        f"--scenario ssp585 -o hot-days.png; climnorm plot map {output} --variable pr --region CONUS --product annual "
        f"--scenario ssp585 --model ensemble --change -o pr-change.png; climnorm report {output} -o report.html",
        markup=False,
    )


def _show_county_changes(path: Path, console: Console) -> None:
    """Where the county change table is, and Harris County's change of days at or above 90 °F from it."""
    if not path.exists() or path.suffix not in (".parquet", ".pq"):
        return
    import pyarrow.parquet as pq

    console.print(f"county change table: {path} ({pq.read_metadata(path).num_rows:,} rows)")
    filters = [("id", "=", _HOUSTON), ("product", "=", "tx_ge_90F"), ("scenario", "=", "ssp585"),
               ("model", "=", "ensemble"), ("target_year", "=", 2049)]  # fmt: skip
    rows = pq.read_table(path, filters=filters, columns=["statistic", "value", "baseline"]).to_pylist()
    found = {row["statistic"]: row for row in rows}
    if {"mean", "agree"} <= set(found):
        category = CATEGORY_NAMES.get(int(found["robustness"]["value"]), "") if "robustness" in found else ""
        console.print(
            f"... {found['mean']['value']:+.0f} days a year at or above 90 °F against {found['mean']['baseline']} "
            f"(ensemble mean; {found['agree']['value']:.0%} of the members agree on the sign"
            + (f"; IPCC AR6: {category})" if category else ")")
        )


def _show_products(config: Config, records: list[OutputRecord], console: Console) -> None:
    """Where one member's products of one target are: the daily normal and its siblings, side by side."""
    mine = {
        r.product: r.path
        for r in records
        if (r.variable, r.region, r.scenario, r.model, r.target_year) == ("tas", "CONUS", "ssp585", "SYNTH-A", 2049)
    }
    if not mine:
        return
    daily = min(mine.values(), key=len)
    stem = daily[: daily.rindex("_normal.nc")]  # the daily normal's name: the others add their product's name
    kinds = [mine[name][len(stem) + 1 :].removesuffix(".nc") for name in config.products if name in mine]
    shown = ", ".join(kind or "normal" for kind in kinds)
    stem = str(Path(config.output_dir) / stem)
    console.print(f"one member's products for one target: {stem}_{{{shown}}}.nc", markup=False)


def _show_ensemble(config: Config, records: list[OutputRecord], console: Console) -> None:
    """Summarise one ensemble daily normal (tas over CONUS under ssp585, the last target), in °C."""
    import xarray as xr

    wanted = [
        r
        for r in records
        if (r.variable, r.region, r.scenario, r.model) == ("tas", "CONUS", "ssp585", "ensemble")
        and not spec_of(r.product, r.indicator).named  # the daily normal, whose files and records predate products
    ]
    if not wanted:
        return
    record = max(wanted, key=lambda r: r.target_year)
    path = Path(config.output_dir) / record.path
    with xr.open_dataset(path, decode_times=False) as ds:
        mean, low, high = (ds[f"tas_{s}"].mean(("lat", "lon")) - 273.15 for s in ("mean", "p10", "p90"))
        console.print(
            f"the ensemble's statistics, e.g. {path}: ensemble of "
            f"{ds.attrs['ensemble_members']}, {ds.attrs['window_years']}-year normal ending {ds.attrs['target_year']}; "
            f"CONUS mean {float(mean.mean()):.1f} °C (members' p10-p90 {float(low.mean()):.1f}-"
            f"{float(high.mean()):.1f}), 15 Jul {float(mean[195]):.1f} °C",
            markup=False,
        )


def _show_county_table(path: Path, console: Console) -> None:
    """Where the county table is, and Harris County's (Houston's) July normals of the ensemble mean from it."""
    if not path.exists():
        return
    import pyarrow.parquet as pq

    rows = pq.read_metadata(path).num_rows if path.suffix in (".parquet", ".pq") else None
    console.print(f"county table: {path}" + (f" ({rows:,} rows)" if rows is not None else ""))
    if rows is None:
        return
    filters = [("id", "=", _HOUSTON), ("statistic", "=", "mean"), ("product", "=", "monthly"), ("slot", "=", 7)]
    columns = ["variable", "units", "scenario", "target_year", "value"]
    table = pq.read_table(path, filters=filters, columns=columns).to_pylist()
    shown = [
        f"{row['variable']} {_display(row['value'], row['units'])}"
        for row in sorted(table, key=lambda row: str(row["variable"]))
        if (row["scenario"], row["target_year"]) == ("ssp585", 2049)
    ]
    if shown:
        console.print(
            f"Harris County TX (Houston), July normals 2020-2049 under ssp585, ensemble mean: {', '.join(shown)}"
        )
    filters = [("id", "=", _HOUSTON), ("product", "=", "tx_ge_90F"), ("scenario", "=", "ssp585")]
    hot = pq.read_table(path, filters=filters, columns=["statistic", "target_year", "value"]).to_pylist()
    days = {row["statistic"]: row["value"] for row in hot if row["target_year"] == 2049}
    if "mean" in days:
        spread = f" (members' p10-p90 {days['p10']:.0f}-{days['p90']:.0f})" if {"p10", "p90"} <= set(days) else ""
        console.print(f"... and {days['mean']:.0f} days a year at or above 90 °F{spread}")


def _display(value: float, units: str) -> str:
    """A value in the units people quote: °C for kelvin, as it is otherwise (a month's precipitation in mm)."""
    return f"{value - 273.15:.1f} °C" if units == "K" else f"{value:.0f} {units}"
