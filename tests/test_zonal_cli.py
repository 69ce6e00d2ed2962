"""`climnorm zonal`, the `zonal:` configuration section and the tables at the end of `climnorm run`."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from shapely.geometry import box

from climnorm._atomic import TMP_MARK
from climnorm.cli import main
from climnorm.config.model import load_config, parse_config
from climnorm.errors import ConfigError
from climnorm.events import Failure, T_Event
from climnorm.runner.pipeline import run
from climnorm.runner.zonal_step import zonal_request
from climnorm.zonal import zonal_table
from conftest import pictures_config
from zonal_files import write_shapes, write_two_regions, write_vector


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return write_two_regions(tmp_path / "out")


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return write_shapes(tmp_path / "shapes.gpkg")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line a failed command printed."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ---- climnorm zonal ------------------------------------------------------------------------------------------
def test_cli_writes_the_table_and_says_what(
    outputs: Path, shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tables" / "t.parquet"
    fields = ["--polygons", str(shapes), "--id", "id", "--name", "name", "--state", "state"]
    assert main(["-q", "zonal", str(outputs), *fields, "-o", str(out)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"wrote {out}: 30 rows from 2 outputs, 6 polygons (5 with values, 1 flagged, 1 outside every region)" in said
    expected = zonal_table(outputs, shapes, "id", "name", "state")
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected, check_categorical=False)
    assert set(expected["state"]) == {"W", "E"}
    east = tmp_path / "east.csv"
    assert (
        main(["-q", "zonal", str(outputs), *fields[:4], "--region", "EAST", "--variable", "tas", "-o", str(east)]) == 0
    )
    table = pd.read_csv(east, dtype={"id": str})
    assert set(table["region"]) == {"EAST"} and set(table["id"]) == {"straddle", "island"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--id", "id", "-o", "t.xlsx"], r"t\.xlsx: unknown table format; use a name ending in \.parquet"),
        (["-o", "t.csv"], r"--polygons .*shapes\.gpkg: say which field holds each polygon's unique id with --id"),
        (["--id", "nope", "-o", "t.csv"], r"shapes\.gpkg: no field 'nope'; the fields are id, name, state"),
        (
            ["--id", "id", "--variable", "pr", "-o", "t.csv"],
            r"outputs: no variable 'pr' \(there are: tas\)",
        ),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    outputs: Path, shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    extra = [str(tmp_path / x) if x.startswith("t.") else x for x in extra]
    assert main(["-q", "zonal", str(outputs), "--polygons", str(shapes), *extra]) == 2
    assert not list(tmp_path.glob("t.*"))
    assert re.search(message, _error(capsys))


def test_cli_usage_errors(outputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "zonal", str(outputs), "--name", "NAME", "-o", str(tmp_path / "t.csv")]) == 2
    assert "--name names a field of a polygon file: give the file with --polygons FILE" in _error(capsys)
    assert main(["-q", "zonal", str(tmp_path / "nowhere"), "-o", str(tmp_path / "t.csv")]) == 2
    assert "nowhere: no manifest here; is this a climnorm output directory?" in _error(capsys)
    with pytest.raises(SystemExit) as stop:  # argparse: -o is required
        main(["-q", "zonal", str(outputs)])
    assert stop.value.code == 2


def test_cli_without_the_zonal_extra_names_it(
    outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "climnorm.zonal" or m.startswith("climnorm.zonal.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "shapely", None)  # import shapely (and find_spec) now fail
    assert main(["-q", "zonal", str(outputs), "-o", str(tmp_path / "t.csv")]) == 2
    line = _error(capsys)
    assert "need the zonal extra (shapely not installed): pip install 'climnorm[zonal]'" in " ".join(line.split())


# ---- the zonal: section --------------------------------------------------------------------------------------
def _config(tmp_path: Path, zonal: object) -> Path:
    path = tmp_path / "job" / "job.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"input_dirs": ["archive"], "zonal": zonal}))
    return path


def test_section_one_table_or_several_paths_relative_to_the_config(shapes: Path, tmp_path: Path) -> None:
    assert parse_config({"input_dirs": ["a"]}).zonal == []
    one = load_config(_config(tmp_path, {"variables": ["tas"]})).zonal
    assert len(one) == 1 and one[0].polygons is None and str(one[0].output) == "tables/counties.parquet"
    assert one[0].table_path(Path("/out")) == Path("/out/tables/counties.parquet")
    shutil.copy(shapes, tmp_path / "job" / "basins.gpkg")
    two = [{"output": "a.csv"}, {"polygons": "basins.gpkg", "id_field": "id", "state_field": "state", "output": "b.pq"}]
    tables = load_config(_config(tmp_path, two)).zonal
    assert tables[1].polygons == tmp_path / "job" / "basins.gpkg"
    request = zonal_request(tables[1])
    assert (request.polygons, request.id_field, request.state_field) == (tables[1].polygons, "id", "state")


@pytest.mark.parametrize(
    ("zonal", "message"),
    [
        ({"output": "t.xlsx"}, r"zonal\.0\.output: the table's name must end in \.parquet, \.pq, \.csv, \.csv\.gz"),
        ({"polygons": "nope.gpkg", "id_field": "id"}, r"zonal\.0\.polygons: no such polygon file: .*job/nope\.gpkg"),
        (
            {"polygons": "s.gpkg", "id_field": "ID"},
            r"s\.gpkg has no field id_field 'ID'; its fields are id, name, state",
        ),
        ({"polygons": "s.gpkg"}, r"say which field holds each polygon's unique id \(id_field\)"),
        ({"state_field": "STATE"}, r"state_field names a field of a polygon file: give polygons too"),
        ([{"output": "a.csv"}, {"output": "a.csv"}], r"two tables would be written to the same file: a\.csv"),
        ({"ouptut": "a.csv"}, r"unknown key 'zonal\.0\.ouptut' \(did you mean 'output'\?\); allowed keys: polygons"),
    ],
)
def test_section_errors_before_any_work(shapes: Path, tmp_path: Path, zonal: object, message: str) -> None:
    path = _config(tmp_path, zonal)
    shutil.copy(shapes, path.parent / "s.gpkg")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_section_without_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ConfigError, match=r"zonal tables need the zonal extra \(pyarrow not installed\)"):
        load_config(_config(tmp_path, {}))


# ---- the tables at the end of a run --------------------------------------------------------------------------
def test_run_ends_with_its_tables_and_a_failed_table_fails_the_run(
    pictures_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    shutil.copytree(pictures_run, out, ignore=shutil.ignore_patterns("zonal-cache", "tables", "logs"))
    data = pictures_config(pictures_run.parent / "archive", out)
    boxes = [box(-110.0, 35.0, -100.0, 45.0), box(-90.0, 30.0, -80.0, 40.0), box(-150.0, 60.0, -140.0, 65.0)]
    basins = write_vector(tmp_path / "basins.geojson", boxes, ["west", "east", "alaska"])
    good = {"polygons": str(basins), "id_field": "id", "output": "tables/conus.parquet", "variables": ["tas"]}
    good |= {"regions": ["CONUS"], "scenarios": ["ssp245"]}
    config = parse_config({**data, "zonal": good})
    summary = run(config)
    assert summary.exit_code == 0 and summary.written == 0 and summary.up_to_date == 60
    table = pd.read_parquet(out / "tables" / "conus.parquet")
    assert set(table["region"]) == {"CONUS"} and set(table["scenario"]) == {"ssp245"}
    assert set(table["id"]) == {"west", "east"} and set(table["target_year"]) == {2015, 2016, 2017, 2019, 2020, 2021}
    assert len(table) == 2 * 6 * 365
    assert list((out / "zonal-cache").glob("weights-*.npz"))
    bad = {"output": "tables/bad.csv", "scenarios": ["ssp126"]}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({**data, "zonal": [good, bad]}))
    assert main(["-q", "run", str(path), "--progress", "none"]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert f"failed: zonal table {out / 'tables' / 'bad.csv'}: outputs: no scenario 'ssp126'" in said
    assert not (out / "tables" / "bad.csv").exists() and not list(out.rglob(f"*{TMP_MARK}"))
    # the failed table reaches the live display as a failure of the run
    events: list[T_Event] = []
    again = run(parse_config({**data, "zonal": [good, bad]}), on_event=events.append)
    failures = [e for e in events if isinstance(e, Failure)]
    assert again.exit_code == 1 and [(e.variable, e.what) for e in failures] == [("", "")]
    assert failures[0].message.startswith(f"zonal table {out / 'tables' / 'bad.csv'}: outputs: no scenario 'ssp126'")
