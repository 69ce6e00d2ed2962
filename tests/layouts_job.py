"""The job the output-layout tests run (tests/test_zarr_layout.py, tests/test_s3_outputs.py): two members, every
product, an indicator, window statistics, changes and their ensemble; made once per session in both layouts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from climnorm.config.model import parse_config
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from helpers import T_Archive, link_archives, made_once

SPEC = SynthSpec(
    variables=("pr", "tasmax"), scenarios=("historical", "ssp245"), historical_years=(2006, 2014),
    scenario_years=(2015, 2022), resolution=2.0, box=(18.0, 26.0, 196.0, 208.0),
)  # fmt: skip
MEMBERS = (replace(SPEC, model="ZL-A"), replace(SPEC, model="ZL-B", noise=1))
N_OUTPUTS = 264


def layout_config(archive: Path, out: Path | str, layout: str) -> dict[str, object]:
    return {
        "input_dirs": [str(archive)], "output_dir": str(out), "models": "all", "variables": ["pr", "tasmax"],
        "regions": ["all"], "scenarios": ["historical", "ssp245"], "window_years": 5, "min_years_for_normal": 4,
        "periods": {"historical": [2013, 2014], "future": [2021, 2022]},
        "products": ["daily", "daily_smoothed", "monthly", "seasonal", "annual"],
        "indicators": [{"index": "tx_days_above", "thresh": "25 degC"}], "window_statistics": ["mean", "p90"],
        "changes": {"baseline": [2010, 2014]}, "ensemble": {"statistics": ["mean", "p90"], "min_members": 2},
        "multiprocessing_workers": 2, "output_layout": layout,
    }  # fmt: skip


def made_layouts(synth_archive: T_Archive, factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The job in both layouts, on local disk: (archive, files output, zarr output)."""

    def make(root: Path) -> None:
        archive = link_archives(root / "archive", [synth_archive(spec) for spec in MEMBERS])
        for layout in ("files", "zarr"):
            summary = run(parse_config(layout_config(archive, root / layout, layout)))
            assert summary.failures == [] and summary.written == N_OUTPUTS, summary

    root = made_once(factory, "zarr-layouts", make)
    return root / "archive", root / "files", root / "zarr"
