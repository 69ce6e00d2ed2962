"""Outputs in a bucket (``output_dir: s3://…``) on a real S3-compatible server (moto) on 127.0.0.1: both layouts
give, object for object, the local run's outputs (members, changes and their ensemble, which are read back from the
bucket), the bucket holds nothing but outputs and the published manifest, readers (`verify`, `open_normals`) read it
there, a rerun finds everything up to date, and a run killed at any moment resumes to identical outputs and
manifest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import yaml

from climnorm.config.model import parse_config
from climnorm.outputs.datasets import open_normals
from climnorm.outputs.verify import verify_outputs
from climnorm.runner.pipeline import run
from climnorm.storage import StorageOptions, list_objects
from climnorm.write.manifest import manifest_outputs
from climnorm.write.readback import open_output
from helpers import T_Archive, killed_once_recorded
from layouts_job import layout_config, made_layouts
from s3server import TEST_KEY, TEST_SECRET, MotoServer

pytest.importorskip("obstore", reason="needs the s3 extra")
pytest.importorskip("moto.server", reason="needs the test extra (moto[server])")
pytest.importorskip("zarr", reason="needs the export extra (zarr)")
pytest_plugins = ("conftest_s3",)

RETRY = {"max_attempts": 4, "base_delay": 0.01, "max_delay": 0.05, "request_timeout": 10.0, "connect_timeout": 2.0}
N_SMALL = 48  # the small job's outputs: tasmax's daily and monthly normals, their changes, their ensembles


def _options(server: MotoServer) -> dict[str, Any]:
    return {"endpoint_url": server.endpoint, "key": TEST_KEY, "secret": TEST_SECRET, "retry": RETRY}


def _small(
    archive: Path,
    url: str,
    layout: str,
    server: MotoServer,
    state: Path,
    products: tuple[str, ...] = ("daily", "monthly"),
) -> dict[str, Any]:
    """The small job of the layouts' archive, its outputs under ``url`` in the bucket, its state in ``state``."""
    data = {**layout_config(archive, url, layout), "products": list(products), "variables": ["tasmax"],
            "indicators": []}  # fmt: skip
    return {**data, "output_storage_options": _options(server), "state_dir": str(state)}


def _as_file(ds: netCDF4.Dataset) -> dict[str, object]:
    """Everything an output's file holds as stored (raw values, types, dimensions, attributes but when it was made
    and a change's baseline file's name)."""
    held: dict[str, object] = {"dimensions": [(n, len(d)) for n, d in ds.dimensions.items()]}
    for name, var in ds.variables.items():
        var.set_auto_maskandscale(False)
        var.set_auto_chartostring(False)
        values = np.asarray(var[...])
        held[name] = (var.dimensions, values.dtype.str, values.tobytes(), [(k, str(var.getncattr(k)))
                                                                           for k in var.ncattrs()])  # fmt: skip
    aside = ("creation_time", "baseline_file")
    held["attributes"] = [(k, str(ds.getncattr(k))) for k in ds.ncattrs() if k not in aside]
    return held


def _key(record: dict[str, object]) -> tuple[object, ...]:
    keys = ("variable", "region", "scenario", "period", "target_year", "product", "model", "change")
    return tuple(record.get(k) for k in keys)


@pytest.fixture(scope="module")
def layouts(synth_archive: T_Archive, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return made_layouts(synth_archive, tmp_path_factory)


@pytest.fixture(scope="module")
def bucket(moto_server: MotoServer) -> str:
    """A private bucket for this module's outputs (each test under a prefix of its own)."""
    import uuid

    name = f"out-{uuid.uuid4().hex[:10]}"
    moto_server.create_bucket(name)
    return name


def _same_as_local(files: Path, state: Path, url: str, storage: StorageOptions, outputs: int = N_SMALL) -> None:
    """Every output recorded in ``state`` (read from the bucket under ``url``) is the local files layout's output of
    the same target, value for value; the records say the same but where an output is."""
    ours = {_key(r): r for r in manifest_outputs(state)}
    theirs = {k: r for r in manifest_outputs(files) if (k := _key(r)) in ours}
    assert len(ours) == len(theirs) == outputs
    assert {k[6] for k in ours} == {"ZL-A", "ZL-B", "ensemble"} and {k[7] for k in ours} == {"additive", None}
    for key, record in theirs.items():
        with netCDF4.Dataset(files / str(record["path"])) as a, open_output(f"{url}/{ours[key]['path']}", storage) as b:
            assert _as_file(a) == _as_file(b), key
        aside = ("path", "size", "member_outputs", "fingerprint", "window_statistics")
        assert {k: v for k, v in record.items() if k not in aside} == {
            k: v for k, v in ours[key].items() if k not in aside
        }


@pytest.mark.parametrize(("layout", "products"), [("files", ("daily", "monthly")), ("zarr", ("monthly",))])
def test_outputs_in_a_bucket_are_the_local_runs_and_read_where_they_are(
    layouts: tuple[Path, Path, Path], moto_server: MotoServer, bucket: str, tmp_path: Path, layout: str,
    products: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The small job with its outputs in the bucket (its daily and monthly normals; the zarr layout's monthly ones,
    whose baselines' yearly values are groups of their stores): every output (normals, changes and the ensemble's,
    the last two made from outputs read back from the bucket) is the local run's; the bucket holds the outputs, the
    published manifest and the run's log, nothing else (no temporary object, no probe, no lock); `verify` and
    `open_normals` read the outputs there; a rerun with a fresh state directory starts from the published manifest
    and writes nothing."""
    archive, files, stores = layouts
    storage = StorageOptions.from_config(_options(moto_server))
    url = f"s3://{bucket}/{layout}/normals"
    data = _small(archive, url, layout, moto_server, tmp_path / "state", products)
    outputs = N_SMALL // 2 * len(products)
    summary = run(parse_config(data))
    assert summary.failures == [] and summary.written == outputs, summary
    _same_as_local(files, tmp_path / "state", url, storage, outputs)
    records = manifest_outputs(tmp_path / "state")  # and the same layout's records on local disk, field for field
    paths = {str(r["path"]) for r in records}
    assert records == [r for r in manifest_outputs(stores if layout == "zarr" else files) if r["path"] in paths]

    keys = {info.url[len(url) + 1 :] for info in list_objects(url, storage)}
    recorded = {str(r["path"]) for r in manifest_outputs(tmp_path / "state")}
    assert [k for k in keys if k.startswith("logs/run-")], "the run's log is published"
    if layout == "files":
        assert {k for k in keys if not k.startswith("logs/")} == recorded | {"manifest.sqlite"}
    else:
        assert {k.split(".zarr/")[0] + ".zarr" for k in keys if ".zarr/" in k} == {p.split("#")[0] for p in recorded}
        assert all("#" in p for p in recorded)
        assert not [k for k in keys if "climnorm-tmp" in k or "probe" in k or k.endswith(".nc")]

    checked, problems = verify_outputs(url, storage)
    assert checked == outputs and problems == []
    from climnorm.cli.main import main

    for name, value in (("ENDPOINT_URL", moto_server.endpoint), ("ACCESS_KEY_ID", TEST_KEY),
                        ("SECRET_ACCESS_KEY", TEST_SECRET)):  # fmt: skip
        monkeypatch.setenv(f"AWS_{name}", value)
    assert main(["verify", url]) == 0 and f"checked {outputs} outputs: 0 problem(s)" in capsys.readouterr().out
    chain = {"variable": "tasmax", "region": "all", "scenario": "ssp245", "product": "monthly", "model": "ensemble"}
    remote = open_normals(url, **chain, change=True, storage_options=_options(moto_server)).load()
    local = open_normals(files, **chain, change=True).load()
    assert list(remote["target_year"].values) == [2013, 2014, 2021, 2022]
    assert set(remote.data_vars) == set(local.data_vars) and any("_change" in str(v) for v in remote.data_vars)
    for name in remote.data_vars:
        assert np.array_equal(remote[name].values, local[name].values, equal_nan=True), name

    again = run(parse_config({**data, "state_dir": str(tmp_path / "elsewhere")}))
    assert (again.written, again.up_to_date, again.failures) == (0, outputs, [])


def test_a_prefix_without_a_published_manifest_is_named_in_one_line(moto_server: MotoServer, bucket: str) -> None:
    from climnorm.errors import OutputError

    with pytest.raises(OutputError, match=rf"s3://{bucket}/nowhere: no manifest"):
        verify_outputs(f"s3://{bucket}/nowhere", StorageOptions.from_config(_options(moto_server)))


# ---- kill -9, then resume to identical outputs and manifest --------------------------------------------------
def _contents(records: list[dict[str, Any]], where: str, storage: StorageOptions | None) -> dict[str, object]:
    """Every recorded output's contents as :func:`_as_file` sees them, by path."""
    found = {}
    for record in records:
        with open_output(f"{where}/{record['path']}", storage) as ds:
            found[str(record["path"])] = _as_file(ds)
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("layout", "lines"), [("files", 3), ("files", 14), ("zarr", 8)])
def test_kill_9_then_resume_in_the_bucket_gives_the_uninterrupted_outputs(
    layouts: tuple[Path, Path, Path], moto_server: MotoServer, bucket: str, tmp_path: Path, layout: str, lines: int
) -> None:
    """Killed (the run and its workers) once its manifest holds ``lines`` of the 24 outputs (monthly normals, with
    their baselines' yearly values, their changes and their ensembles): what is recorded reads back from the
    bucket, whole, and the resumed run ends with the manifest and every output identical to an uninterrupted run's
    on local disk (the layouts' job, which computes these among others: its records of them field for field, their
    outputs but their creation time); nothing temporary is left in the bucket."""
    archive, files, stores = layouts
    local = files if layout == "files" else stores
    storage = StorageOptions.from_config(_options(moto_server))
    url = f"s3://{bucket}/killed-{layout}-{lines}/normals"
    data = _small(archive, url, layout, moto_server, tmp_path / "state", ("monthly",))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data))
    cmd = [sys.executable, "-m", "climnorm.cli", "run", str(config), "--progress", "none"]
    killed_once_recorded(cmd, tmp_path / "state", lines)
    recorded = manifest_outputs(tmp_path / "state")
    assert len(recorded) >= lines
    assert _contents(recorded, url, storage)  # every recorded output is there, whole
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    records = manifest_outputs(tmp_path / "state")
    paths = {str(r["path"]) for r in records}
    assert len(records) == N_SMALL // 2 and records == [r for r in manifest_outputs(local) if r["path"] in paths]
    assert _contents(records, url, storage) == _contents(records, str(local), None)
    keys = [i.key for i in list_objects(url, storage)]
    assert not [k for k in keys if "climnorm-tmp" in k or "probe" in k]
