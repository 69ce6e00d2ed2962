"""Tests of the `climnorm` command: help and exit codes, synth -> catalog -> plan on small archives, errors."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import netCDF4
import pytest
import yaml

from climnorm import __version__, synth
from climnorm.cli import main
from climnorm.cli.main import build_parser
from climnorm.synth import SynthSpec, write_archive
from helpers import touch

SYNTH_ARGS = [
    "--variables",
    "tas",
    "pr",
    "--scenarios",
    "historical",
    "ssp245",
    "--historical-years",
    "2000",
    "2003",
    "--scenario-years",
    "2015",
    "2016",
    "--grid",
    "10",
    "--calendar",
    "noleap",
]
MODEL, VARIANT = "SYNTH-ESM", "r1i1p1f1"


def _nex_name(variable: str, scenario: str, year: int) -> str:
    return f"{variable}_day_{MODEL}_{scenario}_{VARIANT}_gn_{year}.nc"


def _expected_synth_files() -> set[str]:
    files = set()
    for variable in ("tas", "pr"):
        for scenario, years in (("historical", range(2000, 2004)), ("ssp245", range(2015, 2017))):
            for year in years:
                files.add(f"{variable}/{scenario}/{_nex_name(variable, scenario, year)}")
    return files


def _words(text: str) -> str:
    """Text with every run of whitespace as one space (help and tables wrap with the terminal width)."""
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A wide, colourless console, and the root logger restored after `main` reconfigures it."""
    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def synth_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive `climnorm synth OUT ...` writes (through main, as a user would)."""
    out = tmp_path_factory.mktemp("cli") / "archive"
    mp = pytest.MonkeyPatch()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        mp.setenv("COLUMNS", "1000")
        assert main(["-q", "synth", str(out), *SYNTH_ARGS]) == 0
    finally:
        mp.undo()
        root.handlers[:] = handlers
        root.setLevel(level)
    return out


# ------------------------------------------------------------------------------------------------ help


SUBCOMMANDS = [
    [],
    ["synth"],
    ["catalog"],
    ["config"],
    ["config", "show"],
    ["plan"],
    ["run"],
    ["verify"],
    ["demo"],
]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_exits_0(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(['climnorm', *command])}")


def test_top_level_help_mentions_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = _words(capsys.readouterr().out)
    assert re.search(r"[Ee]xit codes: 0 success, 1 failures during a run, 2 bad usage or configuration", out), out
    for command in ("synth", "catalog", "config", "plan", "run", "verify", "demo"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"climnorm {__version__}"


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["plan"], ["synth", "out", "--grid", "fine"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: climnorm" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ synth, catalog


def test_synth_writes_the_expected_files(synth_archive: Path) -> None:
    written = {p.relative_to(synth_archive).as_posix() for p in synth_archive.rglob("*") if p.is_file()}
    assert written == _expected_synth_files()
    with netCDF4.Dataset(synth_archive / "pr" / "ssp245" / _nex_name("pr", "ssp245", 2016)) as ds:
        assert ds["time"].calendar == "noleap"
        assert ds["pr"].shape == (365, 15, 36)  # 10-degree grid: 150 / 10 by 360 / 10


def test_synth_reports_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "small"
    assert main(["-q", "synth", str(out), "--historical-years", "2001", "2002", "--grid", "30"]) == 0
    assert f"wrote 2 files under {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.rglob("*.nc")) == [_nex_name("tas", "historical", y) for y in (2001, 2002)]


def _subcommand(name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand of `climnorm`."""
    subparsers = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subparsers) == 1
    return subparsers[0].choices[name]


def test_every_synth_option_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _subcommand("synth")
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    assert len(actions) >= 20  # the options are there, so the check below cannot pass on nothing
    undocumented = [a.option_strings[0] if a.option_strings else a.dest for a in actions if not (a.help or "").strip()]
    assert undocumented == []
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    shown = _words(capsys.readouterr().out)
    for action in actions:
        assert _words(str(action.help)) in shown  # argparse prints each description


def test_synth_style_choices_are_the_styles_and_reach_the_files(tmp_path: Path) -> None:
    style = next(a for a in _subcommand("synth")._actions if a.dest == "style")
    assert tuple(style.choices or ()) == synth.STYLES and style.default == "closed_form"
    out = tmp_path / "us"
    args = ["--grid", "30", "--historical-years", "2001", "2001", "--box", "15", "75", "180", "300"]
    assert main(["-q", "synth", str(out), *args, "--style", "us_normals"]) == 0
    (path,) = out.rglob("*.nc")
    with netCDF4.Dataset(path) as ds:
        assert ds.synthetic_style == "us_normals"
        lat, lon, tas = ds["lat"][:], ds["lon"][:], ds["tas"][:]
    expected = synth.expected_value("tas", "noleap", 2001, 7, 15, lat[:, None], lon[None, :], style="us_normals")
    assert abs(tas[195] - expected).max() < 1e-4


def test_synth_bad_setting_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-q", "synth", str(tmp_path / "x"), "--grid", "7", "--historical-years", "2000", "2000"])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "resolution 7" in err
    assert not (tmp_path / "x").exists()


def test_catalog_json_lists_the_chains(synth_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "catalog", str(synth_archive), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_chains"] == 4
    assert data["n_files"] == 12
    chains = {(c["variable"], c["scenario"]): c for c in data["chains"]}
    assert set(chains) == {("tas", "historical"), ("tas", "ssp245"), ("pr", "historical"), ("pr", "ssp245")}
    for (_, scenario), chain in chains.items():
        first, last = (2000, 2003) if scenario == "historical" else (2015, 2016)
        assert (chain["first_year"], chain["last_year"]) == (first, last)
        assert chain["files"] == chain["n_complete_years"] == last - first + 1
        assert chain["complete_years"] == f"{first}-{last}"
        assert chain["gaps"] == []
        assert (chain["model"], chain["variant"]) == (MODEL, VARIANT)
    assert data["unparsed"] == []
    assert "problems" not in data  # only with --check


def test_catalog_filters(synth_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "catalog", str(synth_archive), "--json", "--variables", "pr", "--scenarios", "ssp245"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(c["variable"], c["scenario"]) for c in data["chains"]] == [("pr", "ssp245")]
    assert data["n_files"] == 2


def test_catalog_table(synth_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "catalog", str(synth_archive)]) == 0
    out = capsys.readouterr().out
    assert "12 files in 4 chains" in out
    rows = [line for line in out.splitlines() if MODEL in line]
    assert len(rows) == 4
    for line in rows:
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        assert cells[:2] == [MODEL, VARIANT]
        variable, scenario, files, years, n = cells[2:7]
        assert variable in ("tas", "pr")
        expected = ("4", "2000-2003", "4") if scenario == "historical" else ("2", "2015-2016", "2")
        assert (files, years, n) == expected, line


def test_catalog_says_its_counts_once(synth_archive: Path) -> None:
    done = _run_cli("catalog", str(synth_archive))
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert text.count("12 files in 4 chains") == 1, text
    assert f"catalogued 12 files in 4 chains under {synth_archive}" in text


def test_catalog_check_clean_archive(synth_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "catalog", str(synth_archive), "--check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []


@pytest.fixture
def archive_with_empty_file(tmp_path: Path) -> tuple[Path, Path]:
    """A two-year archive plus a zero-byte file named like a valid NEX file, deep enough for a long path."""
    root = tmp_path / "a-folder-name-long-enough-that-paths-do-not-fit-in-eighty-columns" / "archive"
    write_archive(root, SynthSpec(historical_years=(2000, 2001), resolution=30.0))
    empty = root / "tas" / "historical" / _nex_name("tas", "historical", 2002)
    empty.touch()
    return root, empty


def test_catalog_check_reports_a_zero_byte_file(
    archive_with_empty_file: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, empty = archive_with_empty_file
    assert main(["-q", "catalog", str(root), "--check", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["problems"] == [{"path": str(empty), "problem": "zero-byte file"}]

    assert main(["-q", "catalog", str(root), "--check"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if empty.name in line)
    assert str(empty) in line
    assert "zero-byte" in line


def test_catalog_check_names_the_file_on_one_line_without_a_terminal(
    archive_with_empty_file: tuple[Path, Path],
) -> None:
    root, empty = archive_with_empty_file
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    done = subprocess.run(
        [sys.executable, "-m", "climnorm.cli", "-q", "catalog", str(root), "--check"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1
    assert any(str(empty) in line for line in done.stdout.splitlines()), done.stdout


def test_catalog_of_a_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "catalog", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert "nowhere" in err


# ------------------------------------------------------------------------------------------------ config show


def _write_config(path: Path, data: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_config_show_fills_in_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_config(tmp_path / "jobs" / "job.yaml", {"input_dirs": ["archive"], "variables": ["tas"]})
    assert main(["-q", "config", "show", str(path)]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["variables"] == ["tas"]
    assert shown["window_years"] == 30
    assert shown["min_years_for_normal"] == 25
    assert shown["historical_end"] == 2014
    assert shown["leap_day"] == "calendar_day"
    assert shown["regions"] == ["CONUS", "AK", "HI", "PRVI", "GU"]
    assert shown["periods"] == {"historical": [1980, 2014], "hybrid": [2015, 2044], "future": [2045, 2100]}
    assert shown["input_dirs"] == [str(tmp_path / "jobs" / "archive")]
    assert shown["output_dir"] == str(tmp_path / "jobs" / "output")
    # what it prints is itself a valid configuration
    again = _write_config(tmp_path / "again.yaml", shown)
    assert main(["-q", "config", "show", str(again)]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == shown


def test_bad_config_exits_2_with_a_short_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_config(tmp_path / "bad.yaml", {"input_dirs": ["archive"], "varibles": ["tas"]})
    assert main(["-q", "config", "show", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("error:")
    assert str(path) in err
    assert "'varibles'" in err and "did you mean 'variables'" in err
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 3


@pytest.mark.parametrize(
    ("data", "key", "value"),
    [
        ({"input_dirs": ["a"], "window_years": "abc"}, "window_years", "'abc'"),
        ({"input_dirs": ["a"], "leap_day": "feb29"}, "leap_day", "'feb29'"),
        ({"input_dirs": ["a"], "regions": ["CONSU"]}, "regions", "'CONSU'"),
    ],
)
def test_bad_values_exit_2_naming_key_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, object], key: str, value: str
) -> None:
    path = _write_config(tmp_path / "bad.yaml", data)
    for command in (["config", "show"], ["plan"], ["run"]):
        assert main(["-q", *command, str(path)]) == 2
        err = capsys.readouterr().err
        assert key in err and value in err, err


def test_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "config", "show", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err
    assert "none.yaml" in err and "cannot read" in err


# ------------------------------------------------------------------------------------------------ plan


@pytest.fixture(scope="module")
def plan_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plan") / "archive"
    spec = SynthSpec(
        variables=("tas",),
        scenarios=("historical", "ssp245"),
        historical_years=(2010, 2014),
        scenario_years=(2015, 2017),
        resolution=30.0,
    )
    write_archive(root, spec)
    return root


def _plan_config(tmp_path: Path, archive: Path, **extra: object) -> Path:
    data: dict[str, object] = {
        "input_dirs": [str(archive)],
        "output_dir": "out",
        "variables": ["tas"],
        "regions": ["CONUS", "GU"],
        "scenarios": ["historical", "ssp245"],
        "window_years": 3,
        "min_years_for_normal": 2,
        "periods": {"historical": [2010, 2014], "hybrid": [2015, 2017]},
    }
    data.update(extra)
    return _write_config(tmp_path / "job.yaml", data)


# (scenario, period) -> (todo, done, skip) per region: historical 2010 has one window year (2010) of the two needed
EXPECTED_PLAN = {
    ("historical", "historical"): (4, 0, 1),
    ("ssp245", "hybrid"): (3, 0, 0),
}


def test_plan_json_counts(tmp_path: Path, plan_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "plan", str(_plan_config(tmp_path, plan_archive)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["model"], data["variant"]) == (MODEL, VARIANT)
    got = {(r["region"], r["scenario"], r["period"]): (r["todo"], r["done"], r["skip"]) for r in data["rows"]}
    expected = {(region, *key): counts for region in ("CONUS", "GU") for key, counts in EXPECTED_PLAN.items()}
    assert got == expected
    assert all(r["variable"] == "tas" for r in data["rows"])
    assert len(data["pending"]) == 2 * (4 + 3)
    assert "tas/CONUS/historical/tas_CONUS_historical_historical_2011_3yr_normal.nc" in data["pending"]
    assert not any("_2010_" in p for p in data["pending"])  # cannot be computed
    assert [s for s in data["skipped"] if "_2010_" in s or " 2010:" in s] == [
        f"{MODEL} {VARIANT} tas {region} historical historical 2010: skipped: only 1 of 3 window years available "
        "(minimum 2); missing 2008-2009"
        for region in ("CONUS", "GU")
    ]
    assert (
        "tas CONUS, GU historical historical 2010: the archive begins in 2010; a window needs 2 of 3 years"
        in (data["problems"])
    )
    assert data["members"] == [{"model": MODEL, "variant": VARIANT}] and data["ensembles"] == []
    assert not (tmp_path / "out" / "manifest.sqlite").exists()  # planning writes nothing


def test_plan_table(tmp_path: Path, plan_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "plan", str(_plan_config(tmp_path, plan_archive))]) == 0
    out = capsys.readouterr().out
    # 8 files: historical 2010-2014 and ssp245 2015-2017
    assert "8 input files to read for 14 normals" in _words(out)
    total = next(line for line in out.splitlines() if "total" in line)
    assert re.findall(r"\d+", total) == ["14", "0", "2"]


def test_plan_refuses_a_scenario_no_member_has(
    tmp_path: Path, plan_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is computed from historical years alone under a scenario's name: exit 2 before reading data."""
    config = _plan_config(tmp_path, plan_archive, scenarios=["historical", "ssp245", "ssp370"])
    assert main(["-q", "plan", str(config)]) == 2
    err = _words(capsys.readouterr().err)
    assert "scenarios: ssp370 has no files for any member" in err
    assert "the archive has historical, ssp245" in err
    assert main(["-q", "run", str(config)]) == 2
    assert not list((tmp_path / "out").rglob("*.nc")) and not (tmp_path / "out" / "manifest.sqlite").exists()


def test_plan_with_an_absent_model_exits_2(
    tmp_path: Path, plan_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "plan", str(_plan_config(tmp_path, plan_archive, model="NorESM2-LM"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert "model" in err and "'NorESM2-LM'" in err
    assert "Traceback" not in err


def test_plan_with_an_absent_model_lists_the_models_found(
    tmp_path: Path, plan_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "plan", str(_plan_config(tmp_path, plan_archive, model="NorESM2-LM"))]) == 2
    err = capsys.readouterr().err
    assert MODEL in err, err


# ------------------------------------------------------------------------------------------------ subprocess


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "1000"}
    return subprocess.run(
        [sys.executable, "-m", "climnorm.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_module_entry_point_in_a_real_process(tmp_path: Path) -> None:
    done = _run_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"climnorm {__version__}"
    bad = _write_config(tmp_path / "bad.yaml", {"input_dirs": ["a"], "engine": "spark"})
    done = _run_cli("-q", "config", "show", str(bad))
    assert done.returncode == 2
    assert "engine" in done.stderr and "'spark'" in done.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "climnorm"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"climnorm {__version__}"


def test_catalog_of_a_full_synthetic_archive_prints_the_right_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """4 variables x 3 scenarios over 1950-2100 (151 years): 948 files, 12 chains. The catalog reads names only,
    so the archive's files are empty ones under the names `climnorm synth` gives them."""
    from climnorm.synth.archive import archive_plan, file_path

    out = tmp_path / "archive"
    spec = SynthSpec(variables=("pr", "tas", "tasmax", "tasmin"), scenarios=("historical", "ssp245", "ssp585"))
    for item in archive_plan(spec):
        touch(file_path(out, spec, item.variable, item.scenario, item.year, item.version))
    assert main(["-q", "catalog", str(out)]) == 0
    text = capsys.readouterr().out
    assert "948 files in 12 chains" in text
    rows = [line for line in text.splitlines() if "SYNTH-ESM" in line]
    assert len(rows) == 12
    assert sum("1950-2014" in r and " 65 " in r for r in rows) == 4
    assert sum("2015-2100" in r and " 86 " in r for r in rows) == 8
    assert main(["-q", "catalog", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_files"] == 948 and data["n_chains"] == 12
    assert {c["n_complete_years"] for c in data["chains"]} == {65, 86} and all(not c["gaps"] for c in data["chains"])
