"""The ``changes:`` section: the baseline window, the kind of each variable's and indicator's change, and every bad
entry one configuration error naming it, before any data is read."""

from __future__ import annotations

from typing import Any

import pytest

from climnorm.config.model import parse_config
from climnorm.errors import ConfigError

BASE: dict[str, Any] = {
    "input_dirs": ["in"],
    "variables": ["pr", "tasmax"],
    "window_years": 30,
    "min_years_for_normal": 25,
    "indicators": [
        {"index": "prcptot"},
        {"index": "wetdays", "thresh": "1 mm/day"},
        {"index": "tx_days_above", "id": "tx_ge_90F", "thresh": "90 degF"},
    ],
}


def test_a_baseline_year_is_the_window_ending_then() -> None:
    config = parse_config({**BASE, "changes": {"baseline": 2020}})
    assert config.changes is not None and config.changes.window(config.window_years) == (1991, 2020)
    given = parse_config({**BASE, "changes": {"baseline": [1981, 2010]}})
    assert given.changes is not None and given.changes.window(30) == (1981, 2010)


def test_precipitation_amounts_change_relatively_and_counts_additively() -> None:
    changes = parse_config({**BASE, "changes": {"baseline": 2020}}).changes
    assert changes is not None
    # units as the outputs carry them: pr's normals, prcptot (mm), wetdays (days), tasmax (K)
    kinds = {n: changes.kind_of(n, u) for n, u in [("pr", "kg m-2 s-1"), ("prcptot", "mm"), ("wetdays", "days")]}
    assert kinds == {"pr": "relative", "prcptot": "relative", "wetdays": "additive"}
    assert changes.kind_of("tasmax", "K") == "additive"
    chosen = parse_config({**BASE, "changes": {"baseline": 2020, "kind": {"pr": "additive", "default": "relative"}}})
    assert chosen.changes is not None
    assert chosen.changes.kind_of("pr", "kg m-2 s-1") == "additive" and chosen.changes.kind_of("tasmax", "K") == (
        "relative"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"baseline": [1991, 2010]}, "changes.baseline: 1991-2010 is 20 years, window_years is 30"),
        ({"baseline": [2020, 1991]}, "baseline starts after it ends (2020 > 1991)"),
        ({"baseline": 2020, "kind": {"tas": "relative"}}, "changes.kind: 'tas' is no variable or indicator of the run"),
        ({"baseline": 2020, "kind": {"pr": "percent"}}, "changes.kind.pr"),
        ({"baseline": 2020, "agreement": 1.5}, "changes.agreement"),
        ({"baseline": 2020, "robustness": "ipcc"}, "changes.robustness"),
        ({"kind": {"pr": "relative"}}, "changes.baseline"),
    ],
)
def test_bad_changes_are_one_configuration_error_naming_the_entry(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "changes": changes})
    assert message in str(err.value)


def test_the_kind_error_lists_what_the_run_has() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "changes": {"baseline": 2020, "kind": {"tx_ge_95F": "additive"}}})
    assert "there are: pr, prcptot, tasmax, tx_ge_90F, wetdays; or 'default'" in str(err.value)
