"""``output_layout: zarr``: one Zarr v3 store per chain and product, each target landed in its own chunks. Its values
equal the files layout's bit for bit (every product, indicators, changes, an ensemble), xarray reads a store as it
is, ``verify`` checks each target, a second run finds everything up to date, and a run killed at any moment resumes
to identical stores and manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import yaml

from climnorm._atomic import TMP_MARK
from climnorm.config.model import parse_config
from climnorm.errors import ConfigError
from climnorm.outputs.datasets import chains, open_chain
from climnorm.outputs.index import OutputIndex
from climnorm.outputs.verify import verify_outputs
from climnorm.runner.pipeline import prepare, run
from climnorm.write.manifest import manifest_outputs
from climnorm.write.readback import open_output
from helpers import T_Archive, killed_once_recorded, made_once
from layouts_job import layout_config as _config
from layouts_job import made_layouts

zarr = pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def layouts(synth_archive: T_Archive, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The same job in both layouts: (archive, files output, zarr output), made once for the session's workers."""
    return made_layouts(synth_archive, tmp_path_factory)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (floats by their bytes, so NaNs and their places too)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return a.tobytes() == b.tobytes() if a.dtype.kind in "fiub" else bool(np.array_equal(a, b))


def _as_file(ds: netCDF4.Dataset) -> dict[str, object]:
    """Everything an output's file holds as stored (raw values, types, dimensions, attributes)."""
    held: dict[str, object] = {"dimensions": [(n, len(d)) for n, d in ds.dimensions.items()]}
    for name, var in ds.variables.items():
        var.set_auto_maskandscale(False)
        var.set_auto_chartostring(False)
        values = np.asarray(var[...])
        attrs = [(k, str(var.getncattr(k))) for k in var.ncattrs()]
        held[name] = (var.dimensions, values.dtype.str, values.tobytes(), attrs)
    # aside: when it was made, and a change's baseline_file, the baseline's name (a file, or a target in a store)
    held["attributes"] = [
        (k, str(ds.getncattr(k))) for k in ds.ncattrs() if k not in ("creation_time", "baseline_file")
    ]
    return held


def _key(record: dict[str, object]) -> tuple[object, ...]:
    return tuple(record.get(k) for k in ("variable", "region", "scenario", "period", "target_year", "product", "model",
                                         "change"))  # fmt: skip


def test_zarr_layout_values_equal_the_files_layout_bit_for_bit(layouts: tuple[Path, Path, Path]) -> None:
    """Every output (five products and an indicator, two members and their ensemble, normals and changes): the
    target read back from its store is its file as the files layout wrote it, value for value, bit for bit, with
    the same types, dimensions and attributes; and the manifest says the same of both but where they are."""
    _, files, stores = layouts
    ours = {_key(r): r for r in manifest_outputs(stores)}
    theirs = {_key(r): r for r in manifest_outputs(files)}
    assert ours.keys() == theirs.keys() and len(ours) == 264
    products = {k[5] or "daily" for k in ours}  # a daily normal's record predates products
    assert products == {"daily", "daily_smoothed", "monthly", "seasonal", "annual", "tx_days_above"}
    for key, record in theirs.items():
        with netCDF4.Dataset(files / str(record["path"])) as a, open_output(stores / str(ours[key]["path"])) as b:
            assert _as_file(a) == _as_file(b), key
        # what names other outputs differs (an ensemble's or a change's fingerprint digests its members' paths)
        aside = ("path", "size", "member_outputs", *(("fingerprint",) if record.get("member_outputs") else ()))
        assert {k: v for k, v in record.items() if k not in aside} == {
            k: v for k, v in ours[key].items() if k not in aside
        }


def test_open_normals_reads_either_layout(layouts: tuple[Path, Path, Path]) -> None:
    """A member's and the ensemble's chains with their historical targets and changes, through `open_normals`."""
    _, files, stores = layouts
    every = chains(OutputIndex.load(files).records)
    assert every == chains(OutputIndex.load(stores).records) and len(every) == 66
    for chain in (c for c in every if c.scenario == "ssp245" and c.product == "seasonal" and c.variable == "pr"):
        a, b = open_chain(files, chain, change=True).load(), open_chain(stores, chain, change=True).load()
        assert set(a.variables) == set(b.variables) and any("_change" in str(v) for v in a.variables), chain
        for name in a.variables:
            assert _same(a[name].values, b[name].values), (chain, name)
            assert json.dumps(a[name].attrs, default=str) == json.dumps(b[name].attrs, default=str), (chain, name)


def test_one_store_per_chain_read_by_xarray_as_it_is(layouts: tuple[Path, Path, Path]) -> None:
    """A store is what xarray opens (consolidated metadata): its ``target_year`` dimension holds the chain's targets
    and each target's values are those of the same target's NetCDF file, read with netCDF4."""
    import xarray as xr

    _, files, stores = layouts
    found = sorted(stores.rglob("*.zarr"))
    assert len(found) == 66 * 2  # each chain's normals and their changes
    assert not list(stores.rglob("*.nc")), "the zarr layout writes no NetCDF files"
    store = stores / "ZL-A/tasmax/all/ssp245/tasmax_ZL-A_all_ssp245_5yr_monthly_normal.zarr"
    with xr.open_zarr(store, consolidated=True, decode_times=False) as ds:
        assert list(ds["target_year"].values) == [2021, 2022]
        for i, year in enumerate((2021, 2022)):
            [path] = files.glob(f"ZL-A/tasmax/all/ssp245/*_{year}_5yr_monthly_normal.nc")
            with netCDF4.Dataset(path) as nc:
                expected = np.ma.filled(nc["tasmax"][:].astype(np.float32), np.nan)
                bounds = nc["climatology_bnds"][:]
            assert _same(ds["tasmax"].values[i], expected)
            assert np.array_equal(ds["climatology_bnds"].values[i] - ds["climatology_bnds"].values[i][0, 0],
                                  bounds - bounds[0, 0])  # fmt: skip
        assert "month" in ds.coords and ds["tasmax"].dims == ("target_year", "time", "lat", "lon")


def test_county_tables_and_pictures_read_either_layout(layouts: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A zonal table (a period product and an indicator, of the members and the ensemble) and a picture's normal are
    the same from either layout."""
    from shapely.geometry import box

    from climnorm.outputs.index import OutputIndex
    from climnorm.pictures.normals import read_normal
    from climnorm.zonal import zonal_table
    from zonal_files import write_vector

    _, files, stores = layouts
    shapes = write_vector(tmp_path / "s.geojson", [box(-163, 18, -157, 23), box(-157, 18, -153, 23)], ["a", "b"])
    wanted = {"variables": ["tasmax"], "products": ["seasonal", "tx_days_above"]}
    a, b = zonal_table(files, shapes, "id", **wanted), zonal_table(stores, shapes, "id", **wanted)
    assert len(a) > 100 and set(a["model"]) == {"ZL-A", "ZL-B", "ensemble"}
    keys = [c for c in a.columns if c not in ("value", "path")]
    a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
    assert a[keys].equals(b[keys]) and np.array_equal(a["value"].to_numpy(), b["value"].to_numpy(), equal_nan=True)
    [one] = OutputIndex.load(stores).select(variable="tasmax", model="ensemble", product="seasonal", target_year=2022)
    [two] = OutputIndex.load(files).select(variable="tasmax", model="ensemble", product="seasonal", target_year=2022)
    x, y = read_normal(stores, one, "p90"), read_normal(files, two, "p90")
    assert _same(x.values, y.values) and x.steps == y.steps == ("DJF", "MAM", "JJA", "SON") and x.units == y.units


def test_a_second_run_finds_every_target_up_to_date(layouts: tuple[Path, Path, Path]) -> None:
    archive, _, stores = layouts
    plan, _ = prepare(parse_config(_config(archive, stores, "zarr")))
    outputs = [*plan.outputs, *plan.changes, *plan.ensembles]
    assert outputs and all(o.up_to_date for o in outputs if getattr(o, "computable", True))
    assert all("#" in o.path for o in outputs)


def test_verify_checks_each_target(uninterrupted: tuple[Path, dict], tmp_path: Path) -> None:
    """A target whose chunk was damaged, and one whose chunks are gone, are the only problems `verify` reports."""
    copy = shutil.copytree(uninterrupted[0].parent / "out", tmp_path / "out", symlinks=True)
    store = copy / "ZL-B/tasmax/all/ssp245/tasmax_ZL-B_all_ssp245_5yr_monthly_normal.zarr"
    chunk = store / "tasmax" / "1.0.0.0"
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.write_bytes(bytes(data))
    (store / "tasmax" / "0.0.0.0").unlink()
    checked, problems = verify_outputs(copy)
    assert checked == 72 and len(problems) == 2, problems
    assert any(p.startswith(f"{store.relative_to(copy)}#2021: ") for p in problems)
    assert any(p.startswith(f"{store.relative_to(copy)}#2022: ") for p in problems)


def test_a_template_with_targets_in_folder_names_is_refused(tmp_path: Path) -> None:
    data = _config(tmp_path, tmp_path / "out", "zarr")
    data["output_template"] = "{target}/{variable}_{region}_{scenario}_{period}_{model}_normal.nc"
    with pytest.raises(ConfigError, match="output_layout: zarr"):
        parse_config(data)


# ---- kill -9, then resume to identical stores and manifest ----------------------------------------------------
def _snapshot(out: Path) -> dict[str, str]:
    """Every recorded target's values (read back from its store as its file) and attributes, and the manifest."""
    records = sorted(manifest_outputs(out), key=lambda r: str(r["path"]))
    snap = {"manifest": hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()}
    for record in records:
        digest = hashlib.sha256()
        with open_output(out / record["path"]) as ds:
            for name in sorted(ds.variables):
                var = ds.variables[name]
                var.set_auto_maskandscale(False)
                var.set_auto_chartostring(False)
                digest.update(name.encode() + np.asarray(var[...]).tobytes())
            attrs = {k: str(ds.getncattr(k)) for k in ds.ncattrs() if k != "creation_time"}
        snap[record["path"]] = digest.hexdigest() + json.dumps(attrs, sort_keys=True)
    return snap


@pytest.fixture(scope="module")
def uninterrupted(layouts: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A smaller job of the same archive (daily and monthly normals, the indicator, changes, the ensemble), run
    once uninterrupted."""
    archive = layouts[0]

    def make(root: Path) -> None:
        data = {**_config(archive, root / "out", "zarr"), "products": ["daily", "monthly"], "variables": ["tasmax"]}
        (root / "run.yaml").write_text(yaml.safe_dump(data))
        summary = run(parse_config(data))
        assert summary.failures == [] and summary.written == 72, summary

    root = made_once(tmp_path_factory, "zarr-uninterrupted", make)
    return root / "run.yaml", _snapshot(root / "out")


@pytest.mark.slow
@pytest.mark.parametrize("lines", [3, 30])
def test_kill_9_then_resume_gives_identical_stores_and_manifest(
    uninterrupted: tuple[Path, dict], tmp_path: Path, lines: int
) -> None:
    """Killed once the manifest holds 3 or 30 of the 72 outputs: every recorded target reads back as recorded
    (verify finds nothing), and the resumed run ends with stores and a manifest identical to an uninterrupted run."""
    config, expected = uninterrupted
    data = yaml.safe_load(config.read_text())
    data["output_dir"] = str(tmp_path / "out")
    mine = tmp_path / "run.yaml"
    mine.write_text(yaml.safe_dump(data))
    cmd = [sys.executable, "-m", "climnorm.cli", "run", str(mine), "--progress", "none"]
    killed_once_recorded(cmd, tmp_path / "out", lines)
    checked, problems = verify_outputs(tmp_path / "out")
    assert checked >= lines and problems == [], problems
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert _snapshot(tmp_path / "out") == expected
    assert not list((tmp_path / "out").rglob(f"*{TMP_MARK}")), "temporary files or stores left"
