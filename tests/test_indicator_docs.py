"""docs/indicators.md checked: its worked examples recomputed with numpy (the slow, obvious way) and run through
climnorm, its configuration and error messages through parse_config, its table against the declared indices."""

from __future__ import annotations

import ast
import datetime as dt
import functools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import yaml

import climnorm
from climnorm.cli.main import main as cli
from climnorm.config.model import parse_config
from climnorm.errors import ConfigError
from climnorm.products.indicators import INDICES
from climnorm.runner.pipeline import run

DOC = Path(__file__).resolve().parents[1] / "docs" / "indicators.md"
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {name: m for m, name in enumerate(MONTH_NAMES, start=1)}
UNITS = {"tasmax": "K", "tasmin": "K", "pr": "kg m-2 s-1"}
T_Row = dict[str, str]


def kelvin(fahrenheit: float) -> float:
    """A temperature in °F as K."""
    return (fahrenheit - 32.0) * 5.0 / 9.0 + 273.15


def fahrenheit(k: float) -> float:
    """A temperature in K as °F."""
    return (k - 273.15) * 9.0 / 5.0 + 32.0


@functools.cache
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def marked(name: str) -> Iterator[int]:
    """The positions just after each ``<!-- test: name -->`` marker."""
    for match in re.finditer(rf"<!-- test: {re.escape(name)} -->\n", doc()):
        yield match.end()


def code_blocks(start: int, count: int = 1) -> list[str]:
    """The ``count`` fenced code blocks right after ``start`` (only blank lines between)."""
    blocks = []
    pattern = re.compile(r"\s*```\w*\n(.*?)\n```\n", re.S)
    for _ in range(count):
        match = pattern.match(doc(), start)
        assert match, f"no code block at {doc()[start : start + 80]!r}"
        blocks.append(match.group(1))
        start = match.end()
    return blocks


def table(start: int) -> list[T_Row]:
    """The markdown table right after ``start``: one mapping of header to cell per row."""
    lines = []
    for line in doc()[start:].splitlines():
        if not line.startswith("|"):
            break
        lines.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, rows = lines[0], lines[2:]
    return [dict(zip(header, row, strict=True)) for row in rows]


def one(name: str) -> int:
    (position,) = marked(name)
    return position


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def matches_doc(value: float, text: str) -> bool:
    """Whether ``value`` rounds to the number written as ``text`` (to as many decimals as it has)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return bool(round(value, decimals) == float(text))


def dates(text: str, year: int) -> list[dt.date]:
    """The days of "1–10 Jul", "15 Mar, 10 Nov", "5, 12, 19 Jun" ("—": none)."""
    out: list[dt.date] = []
    pending: list[tuple[int, int]] = []
    for first, last, month in re.findall(r"(\d+)(?:–(\d+))?(?:\s+([A-Z][a-z]{2}))?", text):
        pending.append((int(first), int(last or first)))
        if month:
            out += [dt.date(year, MONTHS[month], d) for a, b in pending for d in range(a, b + 1)]
            pending = []
    assert not pending, text
    return out


def year_dates(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=n) for n in range((dt.date(year + 1, 1, 1) - first).days)]


def config(name: str, archive: Path, out: Path) -> dict[str, Any]:
    """The YAML configuration marked ``name``, reading ``archive`` and writing ``out``."""
    (text,) = code_blocks(one(name))
    data: dict[str, Any] = yaml.safe_load(text)
    return data | {"input_dirs": [str(archive)], "output_dir": str(out), "multiprocessing_workers": 1}


def normal_of(values: np.ndarray, minimum: int) -> float:
    """The mean of the valid yearly values, NaN below ``minimum`` of them."""
    valid = values[~np.isnan(values)]
    return float(valid.mean()) if valid.size >= minimum else np.nan


def opened(out: Path, variable: str, product: str, scenario: str, name: str) -> np.ndarray:
    ds = climnorm.open_normals(out, variable=variable, region="all", scenario=scenario, product=product)
    return np.asarray(ds[name].values, dtype=np.float64)


# --- Why each year first: a synthetic cell near Dallas ---------------------------------------------------------


def test_why_table_is_what_the_synthetic_cell_gives(tmp_path: Path) -> None:
    """The table of counts per year against counts of the mean day: numpy on the files, and climnorm's run."""
    (commands,) = code_blocks(one("why-synth"))
    synth = next(c for c in commands.replace("\\\n", " ").splitlines() if c.startswith("climnorm synth"))
    argv = [str(tmp_path / a) if a == "why-archive" else a for a in shlex.split(synth)[1:]]
    assert cli(argv) == 0
    out = tmp_path / "why-normals"
    summary = run(parse_config(config("why-config", tmp_path / "why-archive", out)))
    assert summary.failures == []

    years = []
    for year in range(1991, 2021):
        (path,) = (tmp_path / "why-archive").rglob(f"tasmax_*_{year}.nc")
        with netCDF4.Dataset(path) as ds:
            assert ds["tasmax"].shape[1:] == (1, 1), "one cell"
            years.append(np.asarray(ds["tasmax"][:, 0, 0], dtype=np.float64))
    days = np.stack(years)  # (30 years, 365 days): a noleap calendar
    mean_day = days.mean(axis=0)
    got_daily = opened(out, "tasmax", "daily", "ssp245", "tasmax").ravel()
    np.testing.assert_allclose(got_daily, mean_day, rtol=1e-6)

    rows = table(one("why-table"))
    assert len(rows) == 3
    for row in rows:
        (threshold,) = numbers(row["days with tasmax"])
        counts = (days >= kelvin(threshold)).sum(axis=1)
        normal, fewest_most, mean_day_days = list(row.values())[1:]
        assert matches_doc(counts.mean(), normal), (threshold, counts.mean(), normal)
        assert [counts.min(), counts.max()] == numbers(fewest_most.replace("–", " ")), (threshold, counts)
        assert (mean_day >= kelvin(threshold)).sum() == int(mean_day_days), threshold
        got = opened(out, "tasmax", f"tx_ge_{threshold:.0f}F", "ssp245", f"tx_ge_{threshold:.0f}F")
        np.testing.assert_allclose(got.ravel(), [counts.mean()], rtol=1e-6)
    hottest = re.search(r"its hottest slot is ([\d.]+) °F", doc())
    assert hottest and matches_doc(fahrenheit(mean_day.max()), hottest.group(1))


# --- The worked example: a hand-made one-cell archive ----------------------------------------------------------


def write_year(path: Path, variable: str, days: list[dt.date], values: np.ndarray, units: str) -> None:
    """One year of one variable on one cell, a NEX-GDDP-CMIP6-like file (NaN written as the fill value)."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", 1)
        ds.createDimension("lon", 1)
        time = ds.createVariable("time", "f8", ("time",))
        time.setncatts({"units": "days since 2001-01-01", "calendar": "standard", "axis": "T"})
        time[:] = [(d - dt.date(2001, 1, 1)).days + 0.5 for d in days]
        for name, value, axis_units in (("lat", 32.75, "degrees_north"), ("lon", 263.25, "degrees_east")):
            coordinate = ds.createVariable(name, "f8", (name,))
            coordinate.units = axis_units
            coordinate[:] = [value]
        data = ds.createVariable(variable, "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20))
        data.units = units
        data[:] = np.ma.masked_invalid(values.reshape(-1, 1, 1))


def month_missing(missing: np.ndarray) -> bool:
    """WMO: 11 or more missing days, or 5 or more in a row."""
    run = longest = 0
    for day in missing:
        run = run + 1 if day else 0
        longest = max(longest, run)
    return bool(missing.sum() >= 11 or longest >= 5)


class Year:
    """One year of the hand-made cell, from its row of the doc's table, and its indices the obvious way."""

    def __init__(self, row: T_Row) -> None:
        self.year = int(row["year"])
        self.days = year_dates(self.year)
        hot, frost, dry = (dates(row[k], self.year) for k in ("tasmax 95 °F on", "tasmin 28 °F on", "pr missing on"))
        self.tasmax = np.array([kelvin(95.0 if d in hot else 80.0) for d in self.days])
        self.tasmin = np.array([kelvin(28.0 if d in frost else 40.0) for d in self.days])
        self.pr = np.array([np.nan if d in dry else 2.0 / 86400.0 for d in self.days])  # kg m-2 s-1: 2 mm a day
        self.months = np.array([d.month for d in self.days])

    def hot_days(self, month: int | None = None) -> int:
        where = self.months == month if month else np.ones(len(self.days), bool)
        return int((self.tasmax[where] >= kelvin(90.0)).sum())

    def frost_days(self) -> int:
        return int((self.tasmin < 273.15).sum())

    def last_spring_frost(self) -> float:
        """The day of year of the last night below 0 °C on or before 1 July; NaN without one."""
        last = np.nan
        for d, t in zip(self.days, self.tasmin, strict=True):
            if t < 273.15 and d <= dt.date(self.year, 7, 1):
                last = float(d.timetuple().tm_yday)
        return last

    def prcptot(self) -> float:
        """The year's total in mm (NaN if a month is missing under WMO): the valid days summed."""
        missing = np.isnan(self.pr)
        if any(month_missing(missing[self.months == m]) for m in range(1, 13)):
            return np.nan
        return float(np.nansum(self.pr) * 86400.0)

    def annual_total(self) -> float:
        """The annual product's total in mm: missing when any day is."""
        return float(self.pr.sum() * 86400.0)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Year], Path]:
    """The hand-made archive of the doc's table, and the output directory of a run of the doc's configuration."""
    root = tmp_path_factory.mktemp("hand")
    years = [Year(row) for row in table(one("example-years"))]
    archive = root / "hand-archive"
    archive.mkdir()
    for y in years:
        for variable, units in UNITS.items():
            path = archive / f"{variable}_day_DOC-1_historical_r1i1p1f1_gn_{y.year}.nc"
            write_year(path, variable, y.days, getattr(y, variable), units)
    summary = run(parse_config(config("example-config", archive, root / "hand-normals")))
    assert summary.failures == []
    return years, root / "hand-normals"


def test_example_years_table(example: tuple[list[Year], Path]) -> None:
    """Each year's values in the doc are the ones its days give."""
    years, _ = example
    rows = table(one("example-years"))
    assert [y.year for y in years] == list(range(2001, 2006))
    for y, row in zip(years, rows, strict=True):
        assert y.hot_days() == int(row["days ≥ 90 °F"]), y.year
        assert y.frost_days() == int(row["frost days"]), y.year
        frost = y.last_spring_frost()
        assert (np.isnan(frost) and row["last spring frost (day of year)"] == "—") or frost == float(
            row["last spring frost (day of year)"]
        ), y.year
        assert matches_doc(y.prcptot(), row["prcptot (mm)"]), y.year


def reference(years: list[Year], minimum: int) -> dict[str, list[float]]:
    """Every value of the doc's output table, by data variable, from the years' days with numpy."""
    hot = np.array([y.hot_days() for y in years], dtype=np.float64)
    frost = np.array([y.last_spring_frost() for y in years])
    spring = frost[~np.isnan(frost)]
    monthly = np.array([[y.hot_days(m) for m in range(1, 13)] for y in years], dtype=np.float64)
    slots: dict[tuple[int, int], list[float]] = {}
    for y in years:
        for d, t in zip(y.days, y.tasmax, strict=True):
            slots.setdefault((d.month, d.day), []).append(t)
    return {
        "tx_ge_90F": [normal_of(hot, minimum)],
        "tx_ge_90F_window_std": [float(np.std(hot, ddof=1))],
        "tx_ge_90F_window_median": [float(np.median(hot))],
        "tx_ge_90F_monthly": [normal_of(monthly[:, m], minimum) for m in range(12)],
        "last_frost": [normal_of(frost, minimum)],
        "last_frost_window_std": [float(np.std(spring, ddof=1))],
        "last_frost_window_median": [float(np.median(spring))],
        "frost_days": [normal_of(np.array([y.frost_days() for y in years], dtype=np.float64), minimum)],
        "prcptot": [normal_of(np.array([y.prcptot() for y in years]), minimum)],
        "pr": [normal_of(np.array([y.annual_total() for y in years]), minimum)],
        "tasmax": [fahrenheit(max(float(np.mean(v)) for v in slots.values()))],
    }


def test_example_outputs_table(example: tuple[list[Year], Path]) -> None:
    """The doc's normals and window statistics: numpy's, and what climnorm wrote."""
    years, out = example
    settings = config("example-config", Path("."), Path("."))
    expected = reference(years, settings["min_years_for_normal"])
    variables = {"tx_ge_90F": "tasmax", "last_frost": "tasmin", "frost_days": "tasmin", "prcptot": "pr", "annual": "pr"}
    rows = table(one("example-outputs"))
    assert {re.findall(r"`(\w+)`", r["data variable"])[0] for r in rows} == set(expected)
    for row in rows:
        (product,) = re.findall(r"`(\w+)`", row["product"])
        name = re.findall(r"`(\w+)`", row["data variable"])[0]
        written = [x.strip() for x in row["value"].split(",")]
        assert len(written) == len(expected[name]), name
        for value, text in zip(expected[name], written, strict=True):
            assert matches_doc(value, text), (name, value, text)
        variable = "tasmax" if product in ("daily", "tx_ge_90F_monthly") else variables[product]
        got = opened(out, variable, product, "historical", name).ravel()
        if product == "daily":
            got = np.array([fahrenheit(float(np.nanmax(got)))])
        np.testing.assert_allclose(got, expected[name], rtol=1e-5, err_msg=name)


def test_example_python_snippet(example: tuple[list[Year], Path]) -> None:
    """The snippet that opens the frost date's normal gives what its comment says (is_dayofyear, as xclim)."""
    _, out = example
    (code,) = code_blocks(one("example-python"))
    *lines, last = code.replace('"hand-normals"', repr(str(out))).splitlines()
    expression, comment = last.split("#")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)
    assert eval(expression, namespace) == ast.literal_eval(comment.strip())


# --- Configuration, errors, the table of indices ----------------------------------------------------------------


def test_config_example_validates(tmp_path: Path) -> None:
    """The configuration section's YAML is a valid configuration; its paths and NOAA names are its own."""
    (text,) = code_blocks(one("config"))
    data = yaml.safe_load(text) | {"input_dirs": [str(tmp_path)]}
    parsed = parse_config(data, base_dir=tmp_path)
    ids = {e.indicator().id: e.indicator().index for e in parsed.indicators}
    assert len(ids) == len(data["indicators"]) == 8
    assert {"tx_ge_90F", "tx90p", "rx5day_seasonal"} <= set(ids)
    for ident in re.findall(r"_30yr_(\w+)_normal\.nc", doc()):
        assert ident in ids, ident
    for line in text.splitlines():
        if "# NOAA" in line:
            entry = yaml.safe_load(line.split("#")[0].strip().removeprefix("- "))
            code = line.split("# NOAA")[1].split()[0]
            assert ids[entry["id"]].noaa.startswith(code), line


def error_examples() -> list[tuple[str, str]]:
    return [(a, b) for a, b in (code_blocks(at, 2) for at in marked("error"))]


@pytest.mark.parametrize(("entries", "message"), error_examples())
def test_error_messages(entries: str, message: str, tmp_path: Path) -> None:
    """Each bad configuration of the errors section gives exactly the message the doc shows."""
    data = {"input_dirs": [str(tmp_path)], "output_dir": str(tmp_path / "out"), **yaml.safe_load(entries)}
    with pytest.raises(ConfigError) as err:
        parse_config(data, base_dir=tmp_path, source="run.yaml")
    assert f"error: {err.value}" == message


def test_error_examples_cover_the_brief() -> None:
    """The section shows the errors an analyst meets first."""
    shown = "\n".join(m for _, m in error_examples())
    for words in ("did you mean", "not among the run's variables", "not a temperature", "not one it can take",
                  "is also indicators.0's"):  # fmt: skip
        assert words in shown, words


def test_index_table_lists_every_index() -> None:
    """One row per declared index, with its variable, units, xclim indicator, NOAA product, freqs and defaults."""
    rows = {r["index"].strip("`"): r for r in table(one("index-table"))}
    assert len(rows) == len(table(one("index-table"))) == len(INDICES)
    for index in INDICES:
        row = rows[index.name]
        assert row["variable"] == index.variable, index.name
        assert row["units"].split(" (")[0] == index.cf_units, index.name
        assert row["xclim indicator"] == f"`xclim.indicators.atmos.{index.xclim_indicator}`", index.name
        assert row["NOAA NCEI normal"] == (index.noaa or "—"), index.name
        assert row["freq"] == ", ".join(index.freqs), index.name
        definition = row["definition (defaults)"]
        for key, value in index.params.items():
            assert f"`{key}` {value}" in definition, (index.name, key)
        if index.per is not None:
            assert f"`per` {index.per:g}" in definition and "`base_period` required" in definition, index.name
