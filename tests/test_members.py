"""Tests of climnorm.plan.members: which members a run takes (models, variants) and what each covers, by name only."""

from __future__ import annotations

from pathlib import Path

import pytest

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.errors import ConfigError
from climnorm.plan.members import natural_key, select_members
from climnorm.types import Member
from helpers import nex, touch


def _archive(root: Path) -> Path:
    """A: r1 and r10 (tas, pr), r2 (tas only); B: r1 (tas, pr); C: r1 (tas, no ssp245)."""
    files = [
        ("A", "r1i1p1f1", ("tas", "pr"), ("historical", "ssp245")),
        ("A", "r10i1p1f1", ("tas", "pr"), ("historical", "ssp245")),
        ("A", "r2i1p1f1", ("tas",), ("historical", "ssp245")),
        ("B", "r1i1p1f1", ("tas", "pr"), ("historical", "ssp245")),
        ("C", "r1i1p1f1", ("tas",), ("historical",)),
    ]
    for model, variant, variables, scenarios in files:
        for var in variables:
            for scenario in scenarios:
                for year in (2013, 2014) if scenario == "historical" else (2015,):
                    name = nex(var, year, model=model, scenario=scenario).replace("r1i1p1f1", variant)
                    touch(root / model / name)
    return root


def _select(root: Path, **keys: object) -> tuple[list[Member], list[str]]:
    config = parse_config(
        {"input_dirs": [str(root)], "variables": ["tas", "pr"], "scenarios": ["historical", "ssp245"], **keys}
    )
    members, _, problems = select_members(config, build_catalog(config.input_dirs))
    return members, problems


def test_natural_order_of_variants() -> None:
    assert sorted(["r10i1p1f1", "r2i1p1f1", "r1i1p1f1", "r1i2p1f1"], key=natural_key) == [
        "r1i1p1f1",
        "r1i2p1f1",
        "r2i1p1f1",
        "r10i1p1f1",
    ]


def test_first_variant_per_model_is_the_lowest_with_every_variable(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    members, problems = _select(root, models="all")
    assert members == [Member("A", "r1i1p1f1"), Member("B", "r1i1p1f1"), Member("C", "r1i1p1f1")]
    assert problems == [
        "C r1i1p1f1: no files for pr; no outputs for them",
        "C r1i1p1f1: no ssp245 files for tas; no ssp245 outputs for them",
    ]
    everything, _ = _select(root, models=["A"], variants="all")
    assert everything == [Member("A", v) for v in ("r1i1p1f1", "r2i1p1f1", "r10i1p1f1")]
    listed, _ = _select(root, models=["A", "B"], variants=["r10i1p1f1"])
    assert listed == [Member("A", "r10i1p1f1")]


def test_one_model_by_name_and_its_variant(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    assert _select(root, model="B")[0] == [Member("B", "r1i1p1f1")]
    assert _select(root, model="A", variant="r2i1p1f1")[0] == [Member("A", "r2i1p1f1")]
    with pytest.raises(ConfigError, match=r"variant: A: no files for variant\(s\) r9i1p1f1 \(found: r1i1p1f1"):
        _select(root, model="A", variant="r9i1p1f1")


def test_choosing_models_that_are_not_there_or_none_of_several(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    with pytest.raises(ConfigError, match=r"several models \(A, B, C\); choose one with `model:`.*`models: all`"):
        _select(root)
    with pytest.raises(ConfigError, match=r"models: Z has no files in the input directories \(found: A, B, C\)"):
        _select(root, models=["A", "Z"])
    with pytest.raises(ConfigError, match=r"model: 'Z' has no files"):
        _select(root, model="Z")


def test_model_and_models_together_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"model \('A'\) and models \('all'\) are both given"):
        parse_config({"input_dirs": ["x"], "model": "A", "models": "all"})
    with pytest.raises(ConfigError, match=r"variant .* and variants .* are both given"):
        parse_config({"input_dirs": ["x"], "variant": "r1i1p1f1", "variants": "all"})
