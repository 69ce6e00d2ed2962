"""The job the engine tests (local pool and dask) run: a small archive, its config, and how much it produces."""

from __future__ import annotations

from pathlib import Path

from climnorm.config.model import Config, parse_config
from climnorm.synth import SynthSpec

SPEC = SynthSpec(
    variables=("tas", "pr"),
    scenarios=("historical", "ssp245"),
    historical_years=(2003, 2014),
    scenario_years=(2015, 2020),
    calendar="standard",
    resolution=2.5,
    box=(10.0, 75.0, 140.0, 300.0),
    holes=0.02,
)
N_FILES, N_NORMALS = 36, 66


def job_config_dict(archive: Path | str, out: Path | str, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "input_dirs": [str(archive)],
        "output_dir": str(out),
        "variables": ["tas", "pr"],
        "regions": ["CONUS", "AK", "HI"],
        "scenarios": ["historical", "ssp245"],
        "window_years": 8,
        "min_years_for_normal": 6,
        "periods": {"historical": [2010, 2014], "hybrid": [2015, 2017], "future": [2018, 2020]},
        "multiprocessing_workers": 2,
    }
    data.update(extra)
    return data


def job_config(archive: Path | str, out: Path | str, **extra: object) -> Config:
    return parse_config(job_config_dict(archive, out, **extra))
