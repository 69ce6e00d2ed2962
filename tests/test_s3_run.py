"""Whole runs on `s3://` inputs against a real S3-compatible server (moto) on 127.0.0.1, behind the fault proxy:
outputs bit-identical to the run of the same files from local disk, on the local pool and on a Dask LocalCluster
(detached: the client lands the outputs), the listing pruned by the NEX layout, resume when one object changes,
and the faults a store has (missing, truncated, not NetCDF, denied, transient, the server going away)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.events import FileRead, T_Event
from climnorm.runner.pipeline import run
from climnorm.synth import write_archive
from climnorm.write.manifest import manifest_outputs
from parallel_job import SPEC, job_config_dict
from s3server import FaultProxy, MotoServer

pytest.importorskip("obstore", reason="needs the s3 extra")
pytest.importorskip("moto.server", reason="needs the test extra (moto[server])")
pytest_plugins = ("conftest_s3",)

S3_SPEC = replace(SPEC, layout="s3")  # {model}/{scenario}/{variant}/{variable}/file.nc, as the public bucket
PREFIX = "NEX-GDDP-CMIP6"
RETRY = {"max_attempts": 4, "base_delay": 0.01, "max_delay": 0.05, "request_timeout": 5.0, "connect_timeout": 1.0}
# the input's identity (path, mtime, etag) is in these attributes; everything else must be the same
_IDENTITY_ATTRS = {"input_files_digest", "creation_time"}


@dataclass(frozen=True)
class Remote:
    """The synthetic archive on local disk and uploaded to a bucket, keys as under the public bucket's prefix."""

    local: Path
    bucket: str
    files: tuple[Path, ...]

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}"

    def key(self, path: Path) -> str:
        return f"{PREFIX}/{path.relative_to(self.local).as_posix()}"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("s3run") / "archive"
    return root, write_archive(root, S3_SPEC)


@pytest.fixture(scope="module")
def remote(moto_server: MotoServer, archive: tuple[Path, list[Path]]) -> Remote:
    """The archive in a public bucket (one per module: runs only read it)."""
    import uuid

    root, files = archive
    bucket = f"run-{uuid.uuid4().hex[:10]}"
    moto_server.create_bucket(bucket)
    moto_server.set_policy(bucket, public_read=True)
    out = Remote(root, bucket, tuple(files))
    for path in files:
        moto_server.put(bucket, out.key(path), path)
    return out


def _config(inputs: str | Path, out: Path | str, endpoint: str, attempts: int = 4, **extra: Any) -> Any:
    data = job_config_dict(inputs, out, **extra)
    data["storage_options"] = {"endpoint_url": endpoint, "anon": True, "retry": {**RETRY, "max_attempts": attempts}}
    return parse_config(data)


def _outputs(out: Path) -> dict[str, tuple[np.ndarray, dict[str, str]]]:
    """Every output's data (NaN for masked) and its global attributes but the inputs' identity."""
    found = {}
    for path in sorted(out.rglob("*.nc")):
        with netCDF4.Dataset(path) as ds:
            var = ds.variables[ds.variable]
            data = np.ma.filled(var[:].astype(np.float32), np.nan)
            attrs = {k: str(ds.getncattr(k)) for k in ds.ncattrs() if k not in _IDENTITY_ATTRS}
        found[str(path.relative_to(out))] = (data, attrs)
    return found


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys() and got
    for key, (data, attrs) in want.items():
        assert np.array_equal(got[key][0], data, equal_nan=True), key
        assert got[key][1] == attrs, key


def _tas(outputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outputs.items() if k.startswith("tas/")}


def _leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp" in p.name or p.name.startswith(".climnorm-")]


@pytest.fixture(scope="module")
def local_outputs(archive: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root, _ = archive
    out = tmp_path_factory.mktemp("local") / "out"
    summary = run(parse_config(job_config_dict(root, out)))
    assert summary.exit_code == 0, summary.failures
    return _outputs(out)


@pytest.fixture
def s3_run(remote: Remote, proxy: FaultProxy, tmp_path: Path) -> Callable[..., tuple[Any, Path]]:
    """`s3_run(**config)`: a run of the bucket's archive through the proxy into a fresh output directory."""

    def go(out: Path | None = None, on_event: Callable[[T_Event], None] | None = None, **extra: Any) -> Any:
        out = out or tmp_path / "out"
        return run(_config(remote.url, out, proxy.endpoint, **extra), on_event=on_event), out

    return go


def test_a_run_on_s3_equals_the_local_run_with_ranged_reads_only(
    s3_run: Callable[..., Any], local_outputs: dict[str, Any], proxy: FaultProxy
) -> None:
    summary, out = s3_run()
    assert summary.exit_code == 0, summary.failures
    _assert_same(_outputs(out), local_outputs)
    gets = [s for s in proxy.seen(r"\.nc", "GET")]
    assert gets and all(s.range is not None for s in gets), "an object was fetched whole: not the fast path"
    assert not proxy.seen(r"\.nc", "HEAD"), "the listing's size and etag should make HEAD requests unnecessary"
    inputs = manifest_outputs(out)[0]["inputs"]
    assert inputs[0]["path"].startswith("s3://") and inputs[0]["etag"]


def test_objects_off_the_fast_path_are_read_whole_through_netcdf4_to_the_same_normals(
    s3_run: Callable[..., Any], local_outputs: dict[str, Any], proxy: FaultProxy
) -> None:
    summary, out = s3_run(variables=["tas"], fast_read=False)
    assert summary.exit_code == 0, summary.failures
    assert summary.fast_reads == 0 < summary.files_read
    _assert_same(_outputs(out), _tas(local_outputs))
    assert proxy.seen(r"\.nc", "GET")


def test_the_listing_enters_only_the_requested_variables_folders(remote: Remote, proxy: FaultProxy) -> None:
    options = _config(remote.url, Path("/unused"), proxy.endpoint).storage()
    catalog = build_catalog([remote.url], variables=["tas"], storage=options)
    assert {c.key.variable for c in catalog.chains.values()} == {"tas"}
    assert catalog.n_files == len([f for f in remote.files if f.name.startswith("tas_")])
    listed = [s.path for s in proxy.seen("list-type=2")]
    assert listed and not [p for p in listed if "%2Fpr%2F" in p or "/pr/" in p], listed


def test_a_dask_cluster_without_shared_disk_gives_the_same_files(
    s3_run: Callable[..., Any], local_outputs: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    summary, out = s3_run(tmp_path / "dask", engine="dask", variables=["tas"])
    assert summary.exit_code == 0, summary.failures
    _assert_same(_outputs(out), _tas(local_outputs))  # the client landed the bytes the workers wrote
    assert summary.bytes_handed_back == sum(p.stat().st_size for p in out.rglob("*.nc"))
    assert not list(out.glob(".dask-check-*")), "a detached run has no shared-disk marker"


def test_a_detached_cluster_puts_its_outputs_in_a_bucket_and_hands_back_no_bytes(
    remote: Remote, proxy: FaultProxy, moto_server: MotoServer, local_outputs: dict[str, Any], tmp_path: Path
) -> None:
    """Inputs and outputs in buckets: the workers put each output under its key themselves and only records come
    back (no output byte passes through the client, where the same job with local outputs hands back every file's
    bytes: the test above); the objects are the local run's files."""
    pytest.importorskip("distributed")
    from climnorm.storage import StorageOptions
    from climnorm.write.readback import open_output
    from s3server import TEST_KEY, TEST_SECRET

    moto_server.create_bucket(bucket := f"out-{remote.bucket}")
    url = f"s3://{bucket}/normals"
    signed = {"endpoint_url": proxy.endpoint, "key": TEST_KEY, "secret": TEST_SECRET, "retry": RETRY}
    extra = {"engine": "dask", "variables": ["tas"], "output_storage_options": signed, "state_dir": str(tmp_path)}
    summary = run(_config(remote.url, url, proxy.endpoint, **extra))  # type: ignore[arg-type]
    assert summary.exit_code == 0, summary.failures
    assert summary.bytes_handed_back == 0
    got = {}
    for record in manifest_outputs(tmp_path):
        with open_output(f"{url}/{record['path']}", StorageOptions.from_config(signed)) as ds:
            var = ds.variables[ds.variable]
            attrs = {k: str(ds.getncattr(k)) for k in ds.ncattrs() if k not in _IDENTITY_ATTRS}
            got[str(record["path"])] = (np.ma.filled(var[:].astype(np.float32), np.nan), attrs)
    _assert_same(got, _tas(local_outputs))
    assert proxy.seen(r"normals/tas/.*\.nc", "PUT"), "the outputs were put through the proxy, by the workers"


def test_a_dask_cluster_without_shared_disk_lands_zarr_targets(
    s3_run: Callable[..., Any], local_outputs: dict[str, Any], tmp_path: Path
) -> None:
    """``output_layout: zarr`` on workers that share no disk with the client: each target's file comes back as bytes
    and the client lands it in its chain's store; read back, every target is the local run's file."""
    pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    from climnorm.write.manifest import manifest_outputs
    from climnorm.write.readback import open_output

    summary, out = s3_run(tmp_path / "zarr", engine="dask", variables=["tas"], output_layout="zarr")
    assert summary.exit_code == 0, summary.failures
    assert not list(out.rglob("*.nc")) and list(out.rglob("*.zarr"))

    def by_target(outputs: dict[str, Any]) -> dict[tuple[str, ...], Any]:
        keys = ("variable", "region", "scenario", "period", "target_year", "product")
        return {tuple(attrs.get(k, "") for k in keys): (data, attrs) for data, attrs in outputs.values()}

    got = {}
    for record in manifest_outputs(out):
        with open_output(out / str(record["path"])) as ds:
            var = ds.variables[ds.variable]
            attrs = {k: str(ds.getncattr(k)) for k in ds.ncattrs() if k not in _IDENTITY_ATTRS}
            got[str(record["path"])] = (np.ma.filled(var[:].astype(np.float32), np.nan), attrs)
    _assert_same(by_target(got), by_target(_tas(local_outputs)))


def test_a_detached_write_never_touches_the_output_directory(tmp_path: Path) -> None:
    """What a Dask worker without the client's disk runs: the file is written in its own scratch, handed back."""
    from climnorm.engines.tasks import write_detached
    from climnorm.engines.worker import WorkerContext
    from climnorm.write.orders import Written

    target = tmp_path / "nowhere" / "deep" / "out.nc"

    def fake_write(ctx: WorkerContext, task: Any) -> Written:
        Path(task.path).write_bytes(b"CDF\x01 bytes of a file")
        return Written(20, "abc", 0.0)

    @dataclass(frozen=True)
    class Task:
        path: str

    result = write_detached(WorkerContext(), fake_write, Task(str(target)))  # type: ignore[type-var]
    assert result.data == b"CDF\x01 bytes of a file" and result.size == 20
    assert not (tmp_path / "nowhere").exists()


def test_changing_one_object_rereads_exactly_its_windows(
    s3_run: Callable[..., Any], remote: Remote, moto_server: MotoServer, tmp_path: Path
) -> None:
    first, out = s3_run(variables=["tas"])
    assert first.exit_code == 0 and first.written > 0
    before = _outputs(out)
    changed = next(f for f in remote.files if f.name.startswith("tas_") and "_2012" in f.name)
    url = f"s3://{remote.bucket}/{remote.key(changed)}"
    records = manifest_outputs(out)
    using = {r["path"] for r in records if any(i["path"] == url for i in r["inputs"])}
    assert 0 < len(using) < len(records)
    time.sleep(1.1)  # last-modified times have whole seconds
    moto_server.put(remote.bucket, remote.key(changed), changed)  # same bytes, a new version of the object
    read: list[str] = []

    def note(event: T_Event) -> None:
        if isinstance(event, FileRead):
            read.append(event.path)

    again, _ = s3_run(out, on_event=note, variables=["tas"])
    assert again.exit_code == 0, again.failures
    assert again.written == len(using) and again.up_to_date == len(records) - len(using)
    assert url in read
    _assert_same(_outputs(out), before)


@pytest.fixture
def faulty(moto_server: MotoServer, archive: tuple[Path, list[Path]], make_bucket: Callable[..., str]) -> Iterator[Any]:
    """`faulty(name, data=None, deny=False)`: a fresh public bucket with the archive's tas files, one of them
    replaced by ``data`` (bytes) or readable by nobody (``deny``); yields (url, key of that file)."""
    root, files = archive

    def make(name: str, data: bytes | None = None, deny: bool = False) -> tuple[str, str]:
        victim = next(f for f in files if f.name.startswith("tas_") and name in f.name)
        key = f"{PREFIX}/{victim.relative_to(root).as_posix()}"
        bucket = make_bucket(public=True, deny=(key,) if deny else ())
        for path in files:
            if path.name.startswith("tas_"):
                body: bytes | Path = data if (path == victim and data is not None) else path
                moto_server.put(bucket, f"{PREFIX}/{path.relative_to(root).as_posix()}", body)
        return f"s3://{bucket}/{PREFIX}", f"s3://{bucket}/{key}"

    yield make


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("truncated", "truncated or corrupt"),
        ("not-netcdf", "not a NetCDF or HDF5 file"),
        ("denied", "access denied"),
        ("missing", "object not found"),
    ],
)
def test_a_bad_object_is_named_in_one_line_and_the_run_goes_on(
    case: str,
    expect: str,
    faulty: Callable[..., tuple[str, str]],
    archive: tuple[Path, list[Path]],
    proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    _, files = archive
    victim = next(f for f in files if f.name.startswith("tas_") and "_2013" in f.name)
    data = {"truncated": victim.read_bytes()[: victim.stat().st_size // 2], "not-netcdf": b"<html>oops</html>" * 50}
    url, bad = faulty("_2013", data=data.get(case), deny=case == "denied")
    if case == "missing":  # listed, then gone: the store answers 404 to reads of it
        proxy.add(bad.split("/", 3)[3], "status", status=404)
    summary = run(_config(url, tmp_path / "out", proxy.endpoint, variables=["tas"]))
    assert summary.exit_code == 1
    lines = [f for f in summary.failures if bad in f]
    assert lines and expect in lines[0] and "\n" not in lines[0], summary.failures
    assert summary.written > 0  # the windows without that year were written
    assert not _leftovers(tmp_path / "out")


def test_transient_errors_are_retried_and_the_outputs_are_the_same(
    s3_run: Callable[..., Any], local_outputs: dict[str, Any], proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(r"\.nc", "status", count=3, status=503)
    proxy.add(r"\.nc", "reset", count=2)
    proxy.add(r"\.nc", "status", count=1, status=500)
    summary, out = s3_run(tmp_path / "retried", variables=["tas"], attempts=8)  # 6 faults can't exhaust 8 tries
    assert summary.exit_code == 0, summary.failures
    assert len([s for s in proxy.seen(r"\.nc") if s.outcome != "pass"]) == 6
    _assert_same(_outputs(out), _tas(local_outputs))


def test_the_server_going_away_mid_run_fails_cleanly_and_a_later_run_resumes(
    remote: Remote, moto_server: MotoServer, local_outputs: dict[str, Any], tmp_path: Path
) -> None:
    own = FaultProxy(moto_server.port).start()  # this test stops it: not the session's proxy
    out = tmp_path / "out"
    reads = 0

    def stop_after_a_few(event: T_Event) -> None:
        nonlocal reads
        if isinstance(event, FileRead):
            reads += 1
            if reads == 4:
                own.stop()

    try:
        summary = run(_config(remote.url, out, own.endpoint, batch_size_years=1), on_event=stop_after_a_few)
        assert summary.exit_code == 1
        assert summary.failures and all(remote.url in f for f in summary.failures[:3]), summary.failures[:3]
        assert any("unreachable" in f for f in summary.failures), summary.failures[:3]
        assert not _leftovers(out)
    finally:
        own.stop()
    back = FaultProxy(moto_server.port, port=own.port).start()
    try:
        again = run(_config(remote.url, out, back.endpoint))
        assert again.exit_code == 0, again.failures
    finally:
        back.stop()
    _assert_same(_outputs(out), local_outputs)
    shutil.rmtree(out)


def test_a_signed_run_keeps_its_secret_out_of_every_record(
    faulty: Callable[..., tuple[str, str]], moto_server: MotoServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    from s3server import TEST_KEY, TEST_SECRET

    url, denied = faulty("_2013", deny=True)  # one object nobody may read: its error names it, not the secret
    data = job_config_dict(url, tmp_path / "out", variables=["tas"])
    data["storage_options"] = {"endpoint_url": proxy.endpoint, "key": TEST_KEY, "secret": TEST_SECRET, "retry": RETRY}
    config = parse_config(data)
    summary = run(config)
    assert summary.written > 0 and any(denied in f and "access denied" in f for f in summary.failures)
    assert all(s.signed for s in proxy.seen(r"\.nc"))
    texts = [p.read_text(errors="replace") for p in (tmp_path / "out").rglob("*") if p.suffix in (".json", ".log")]
    texts += [repr(config), config.to_yaml(), *summary.failures]
    for path in (tmp_path / "out").rglob("*.nc"):
        with netCDF4.Dataset(path) as ds:
            texts.append(repr({k: ds.getncattr(k) for k in ds.ncattrs()}))
    assert texts and not [t for t in texts if TEST_SECRET in t]


def test_the_catalog_command_lists_a_prefix_with_the_aws_environment(remote: Remote, proxy: FaultProxy) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "AWS_ENDPOINT_URL": proxy.endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    env.pop("AWS_PROFILE", None)
    cmd = [sys.executable, "-m", "climnorm.cli", "catalog", remote.url, "--variables", "tas", "--check", "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert found["n_files"] == len([f for f in remote.files if f.name.startswith("tas_")])
    assert found["problems"] == [] and found["roots"] == [remote.url]
