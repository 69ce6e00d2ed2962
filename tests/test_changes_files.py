"""A member's change file, from its output files of a target and of the baseline that a run with ``changes:``
writes: against xarray's float64 difference (or ratio) of the two normals, computed here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from climnorm.config.model import parse_config
from climnorm.outputs.index import OutputIndex
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from climnorm.write.changes import ChangeTask, change_variable, write_change
from climnorm.write.orders import Encoding
from helpers import T_Archive

SPEC = SynthSpec(
    variables=("pr", "tas"), scenarios=("historical", "ssp245"), historical_years=(2006, 2014),
    scenario_years=(2015, 2022), resolution=2.0, box=(18.0, 24.0, 198.0, 206.0), holes=0.002,
)  # fmt: skip


@pytest.fixture(scope="module")
def changes_run(synth_archive: T_Archive, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with a 2010-2014 baseline no period has: its normals are written with every target's."""
    out = tmp_path_factory.mktemp("changes") / "out"
    config = parse_config(
        {
            "input_dirs": [str(synth_archive(SPEC))], "output_dir": str(out), "variables": ["pr", "tas"],
            "regions": ["all"], "scenarios": ["historical", "ssp245"], "window_years": 5, "min_years_for_normal": 4,
            "periods": {"future": [2021, 2022]}, "products": ["daily", "monthly"],
            "indicators": [{"index": "tg_mean"}], "changes": {"baseline": [2010, 2014]},
            "multiprocessing_workers": 1,
        }
    )  # fmt: skip
    summary = run(config)
    assert summary.written == (2 * 2 + 1) * 3, summary  # (2 products x 2 variables + tg_mean) x (baseline + 2)
    return out


@pytest.mark.parametrize(("variable", "product", "name"), [("tas", "daily", "tas"), ("pr", "monthly", "pr"),
                                                           ("tas", "tg_mean", "tg_mean")])  # fmt: skip
def test_a_change_file_equals_the_difference_of_the_two_normals(
    changes_run: Path, variable: str, product: str, name: str, tmp_path: Path
) -> None:
    index = OutputIndex.load(changes_run)
    [target] = index.select(variable=variable, product=product, target_year=2022)
    [baseline] = index.select(variable=variable, product=product, target_year=2014)
    assert baseline.period == "baseline" and baseline.scenario == "historical"
    kind = "relative" if variable == "pr" else "additive"
    path = tmp_path / f"{name}_change.nc"
    task = ChangeTask(
        str(path), name, str(changes_run / target.path), str(changes_run / baseline.path), kind, (2010, 2014),
        Encoding(),
    )  # fmt: skip
    size, checksum = write_change(task)
    assert size == path.stat().st_size and checksum.startswith("sha256:")
    with (
        xr.open_dataset(changes_run / target.path, decode_times=False) as t,
        xr.open_dataset(changes_run / baseline.path, decode_times=False) as b,
        xr.open_dataset(path, decode_times=False) as c,
    ):
        a, z = t[name].values.astype(np.float64), b[name].values.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = (a - z) if kind == "additive" else 100.0 * (a - z) / np.where(z == 0, np.nan, z)
        got = c[change_variable(name)].values
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        ok = ~np.isnan(expected)
        assert ok.sum() > 0.5 * ok.size
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-6, atol=1e-6 * np.abs(expected[ok]).max())
        assert c[change_variable(name)].attrs["units"] == ("%" if kind == "relative" else t[name].attrs["units"])
        assert c.attrs["baseline"] == "2010-2014" and c.attrs["change_kind"] == kind
        np.testing.assert_array_equal(c["climatology_bnds"].values, t["climatology_bnds"].values)
        assert name not in c.variables


def test_change_files_pass_the_cf_checker(changes_run: Path, tmp_path: Path) -> None:
    from test_cf import _checker, _errors

    check = _checker(tmp_path)
    index = OutputIndex.load(changes_run)
    for variable, product, name in (("tas", "daily", "tas"), ("pr", "monthly", "pr"), ("tas", "tg_mean", "tg_mean")):
        [target] = index.select(variable=variable, product=product, target_year=2022)
        [baseline] = index.select(variable=variable, product=product, target_year=2014)
        path = tmp_path / f"{name}_{product}_change.nc"
        kind = "relative" if variable == "pr" else "additive"
        write_change(
            ChangeTask(
                str(path), name, str(changes_run / target.path), str(changes_run / baseline.path), kind,
                (2010, 2014), Encoding(),
            )
        )  # fmt: skip
        assert _errors(check(str(path))) == [], path.name
