"""An ensemble run with an indicator ends with a county table of it (`climnorm run` with a `zonal:` section): every
polygon's value, of each member and each ensemble statistic, is the area-weighted mean of the gridded indicator
normal over its cells (the slow, obvious reference of zonal_reference, not climnorm.zonal); its county, map and
change pictures and the report show it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import yaml
from shapely import affinity
from shapely.geometry import Polygon, box

from climnorm.cli import main
from climnorm.outputs.index import OutputIndex
from climnorm.synth import SynthSpec
from conftest import T_Archive
from helpers import link_archives
from zonal_files import write_vector
from zonal_reference import bounds_from_centres, reference_mean, reference_weights

pytest.importorskip("pyogrio")

SPEC = SynthSpec(
    variables=("tasmax",),
    historical_years=(2011, 2014),
    resolution=2.0,
    box=(25.0, 49.0, 240.0, 290.0),
    holes=0.002,
    style="us_normals",  # values whose normals are the observed U.S. ones
)
# counties as people give them: longitudes -180..180 (the grid's are 0..360)
POLYGONS = {
    "48201": Polygon([(-95.9, 29.5), (-94.9, 29.6), (-95.1, 30.2), (-95.8, 30.1)]),  # Harris County's shape, roughly
    "17031": box(-88.3, 41.4, -87.5, 42.2),
    "04013": box(-113.4, 32.5, -111.0, 34.1),  # larger than a cell
}


def test_an_ensemble_run_ends_with_a_county_table_of_its_indicator(synth_archive: T_Archive, tmp_path: Path) -> None:
    members = (replace(SPEC, model="HOT-A"), replace(SPEC, model="HOT-B", calendar="360_day", noise=1))
    archive = link_archives(tmp_path / "archive", [synth_archive(spec) for spec in members])
    shapes = write_vector(tmp_path / "counties.geojson", list(POLYGONS.values()), list(POLYGONS))
    config = {
        "input_dirs": [str(archive)], "output_dir": str(tmp_path / "out"), "models": "all", "variables": ["tasmax"],
        "regions": ["CONUS"], "scenarios": ["historical"], "window_years": 3, "min_years_for_normal": 2,
        "periods": {"historical": [2014, 2014]}, "multiprocessing_workers": 2,
        "ensemble": {"statistics": ["mean", "p90"]},
        "indicators": [{"index": "tx_days_above", "id": "tx_ge_90F", "thresh": "90 degF", "op": ">="}],
        "zonal": {"polygons": str(shapes), "id_field": "id", "name_field": "name", "output": "tables/hot.parquet",
                  "products": ["tx_ge_90F"]},
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--progress", "none"]) == 0

    table = pd.read_parquet(tmp_path / "out" / "tables" / "hot.parquet")
    assert set(table["product"]) == {"tx_ge_90F"} and set(table["id"]) == set(POLYGONS)
    assert set(table["variable"]) == {"tasmax"}
    index = OutputIndex.load(tmp_path / "out")
    checked = 0
    for record in index.select(product="tx_ge_90F"):
        with netCDF4.Dataset(index.path(record)) as ds:
            lat, lon = ds["lat"][:], ds["lon"][:]
            fields = {
                name: np.ma.filled(ds[name][0].astype(np.float64), np.nan)
                for name in ds.variables
                if name.startswith("tx_ge_90F") and ds[name].ndim == 3
            }
        lat_b, lon_b = bounds_from_centres(lat), bounds_from_centres(lon)
        weights = {k: reference_weights(affinity.translate(p, xoff=360.0), lat_b, lon_b) for k, p in POLYGONS.items()}
        for name, field in fields.items():
            statistic = name.removeprefix("tx_ge_90F").lstrip("_")
            rows = table[(table["model"] == record.model) & (table["statistic"] == statistic)]
            assert len(rows) == len(POLYGONS), (record.model, statistic)
            for key, weight in weights.items():
                (value,) = rows[rows["id"] == key]["value"]
                assert value == pytest.approx(reference_mean(weight, field), rel=1e-6), (record.model, name, key)
                checked += 1
    assert checked == len(POLYGONS) * (2 + 2)  # two members and two ensemble statistics
    hot = table[(table["model"] == "ensemble") & (table["statistic"] == "mean")].set_index("id")["value"]
    assert hot["04013"] > hot["17031"] > 0, "more such days around Phoenix than around Chicago"
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    pictures = {
        "counties": ["--polygons", str(shapes), "--id", "id", "--name", "name"],
        "map": [],
        "change": [],
    }
    for kind, extra in pictures.items():
        image = tmp_path / f"{kind}.png"
        args = ["plot", kind, str(out), "--variable", "tasmax", "--region", "CONUS", "--product", "tx_ge_90F"]
        assert main([*args, *extra, "-o", str(image)]) == 0
        assert image.stat().st_size > 10_000
    assert main(["report", str(out), "-o", str(tmp_path / "report.html")]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "tasmax tx_ge_90F · CONUS</figcaption>" in html and "tx_ge_90F: tx_days_above YS" in html
