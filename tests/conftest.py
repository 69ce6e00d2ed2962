"""Fixtures shared by several test modules."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from climnorm.config.model import parse_config
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec, write_archive
from helpers import T_Archive

PICTURES_SPEC = SynthSpec(
    variables=("tas", "pr"),
    scenarios=("historical", "ssp245", "ssp585"),
    historical_years=(2007, 2014),
    scenario_years=(2015, 2020),
    calendar="noleap",
    resolution=5.0,
    box=(15.0, 75.0, 140.0, 300.0),
    holes=0.01,
)


def pictures_config(archive: Path, out: Path) -> dict[str, object]:
    """The configuration of `pictures_run` (a run of it on its archive and outputs has nothing left to do)."""
    return {
        "input_dirs": [str(archive)],
        "output_dir": str(out),
        "variables": ["tas", "pr"],
        "regions": ["CONUS", "AK"],
        "scenarios": ["historical", "ssp245", "ssp585"],
        "window_years": 6,
        "min_years_for_normal": 5,
        "periods": {"historical": [2012, 2014], "hybrid": [2015, 2017], "future": [2019, 2022]},
        "multiprocessing_workers": 1,
    }


@pytest.fixture(scope="session")
def synth_archive(tmp_path_factory: pytest.TempPathFactory) -> T_Archive:
    """``synth_archive(spec, prepare=None)``: the synthetic archive of ``spec`` (then changed by ``prepare(root,
    spec)``, e.g. days punched out), written once per session and shared by every test that asks for the same:
    tests only read it."""
    made: dict[tuple[str, str], Path] = {}

    def archive(spec: SynthSpec, prepare: Callable[[Path, SynthSpec], None] | None = None) -> Path:
        key = (json.dumps(asdict(spec), sort_keys=True), prepare.__qualname__ if prepare else "")
        if key not in made:
            root = tmp_path_factory.mktemp("archive") / "archive"
            write_archive(root, spec)
            if prepare is not None:
                prepare(root, spec)
            made[key] = root
        return made[key]

    return archive


@pytest.fixture(scope="session")
def pictures_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small run for the picture and report tests: tas and pr over CONUS and AK, 6-year windows, three
    periods. Target 2021 is computed from 5 years (2021 is missing), 2022 is skipped with a warning (4 years).
    Returns the output directory."""
    root = tmp_path_factory.mktemp("plotrun")
    write_archive(root / "archive", PICTURES_SPEC)
    config = parse_config(pictures_config(root / "archive", root / "out"))
    summary = run(config)
    assert summary.written == 2 * 2 * (3 + 2 * 6), summary
    return config.output_dir


@pytest.fixture(scope="session")
def products_run(pictures_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``pictures_run`` run again for tas with smoothed daily and monthly normals too: its daily
    normals are up to date, the products are written beside them (pr keeps its daily normals only)."""
    out = tmp_path_factory.mktemp("productsrun") / "out"
    shutil.copytree(pictures_run, out)
    archive = pictures_run.parent / "archive"
    config = {**pictures_config(archive, out), "variables": ["tas"], "products": ["daily", "daily_smoothed", "monthly"]}
    summary = run(parse_config(config))
    assert (summary.written, summary.up_to_date) == (2 * 2 * (3 + 2 * 6), 2 * (3 + 2 * 6)), summary
    return out


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 96 KiB filesystem (tmpfs) to fill up; the test is skipped, saying why, where none can be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(done.stderr or done.stdout).strip() or 'mount failed'})")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)
