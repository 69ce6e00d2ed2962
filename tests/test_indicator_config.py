"""The ``indicators:`` section: thresholds with units, and every bad entry one configuration error naming the entry,
before any data is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from climnorm.cli import main
from climnorm.config.model import parse_config
from climnorm.errors import ConfigError
from climnorm.products.indicators import BY_NAME, resolve
from climnorm.units import threshold


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("90 degF", "temperature", (90 - 32) * 5 / 9 + 273.15),
        ("32 degF", "temperature", 273.15),
        ("-10 degC", "temperature", 263.15),
        ("300 K", "temperature", 300.0),
        ("0.01 in/day", "precipitation", 0.254),  # 0.01 inch = 0.254 mm
        ("1 mm/d", "precipitation", 1.0),
        ("1e-5 kg m-2 s-1", "precipitation", 1e-5 * 86400),  # 1 kg of water per m2 is 1 mm
        ("2.5 mm day-1", "precipitation", 2.5),
    ],
)
def test_thresholds_are_converted_by_their_units(text: str, kind: str, expected: float) -> None:
    assert threshold(text, kind) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("90 mm", "temperature", "'90 mm' is a length, not a temperature"),
        ("90 degF", "precipitation", "'90 degF' is a temperature, not a precipitation rate"),
        ("25 C", "temperature", "is of dimension [current] * [time], not a temperature"),
        ("90", "temperature", "'90' is not a number with units"),
        ("9 furlongs per", "temperature", "unknown units"),
    ],
)
def test_a_threshold_of_the_wrong_dimension_says_what_it_is(text: str, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("*", r"\*")):
        threshold(text, kind)


def _error(indicators: list[dict[str, Any]], variables: list[str], **extra: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"input_dirs": ["."], "variables": variables, "indicators": indicators, **extra})
    return str(info.value)


@pytest.mark.parametrize(
    ("entries", "variables", "message"),
    [
        (
            [{"index": "tx_day_above"}],
            ["tasmax"],
            "indicators.0: unknown index 'tx_day_above' (did you mean 'tx_days_above'?); known indices: tx_days_above,",
        ),
        (
            [{"index": "tx_days_above"}],
            ["tas"],
            "indicators.0: tx_days_above needs tasmax, which is not among the run's",
        ),
        (
            [{"index": "wetdays"}, {"index": "tx_days_above", "thresh": "90 mm"}],
            ["pr", "tasmax"],
            "indicators.1: tx_days_above: thresh '90 mm' is a length, not a temperature",
        ),
        (
            [{"index": "last_spring_frost", "freq": "MS"}],
            ["tasmin"],
            "indicators.0: last_spring_frost: freq 'MS' is not one it can take (YS)",
        ),
        (
            [{"index": "tx_days_above", "thresh": "90 degF"}, {"index": "tx_days_above", "thresh": "100 degF"}],
            ["tasmax"],
            "indicators.1: id 'tx_days_above' is also indicators.0's (an index used twice needs an id for each entry)",
        ),
        ([{"index": "tx_max", "id": "monthly"}], ["tasmax"], "indicators.0: id 'monthly' is the name of a product"),
        ([{"index": "tx_max", "id": "2hot"}], ["tasmax"], "indicators.0: id '2hot' must start with a letter"),
        ([{"index": "tx_max", "thresh": "3 degC"}], ["tasmax"], "tx_max: unknown parameter(s) thresh (it takes: none)"),
        ([{"index": "tx_days_above", "op": "<"}], ["tasmax"], "tx_days_above: op '<' is not one of >, gt, >=, ge"),
        ([{"index": "tx90p"}], ["tasmax"], "indicators.0: tx90p: base_period is required"),
        (
            [{"index": "tx90p", "base_period": [1991, 2020]}],
            ["tasmax"],
            "indicators.0: base_period 1991-2020 reaches past historical_end (2014)",
        ),
        (
            [{"index": "max_n_day_precipitation_amount", "window": 0}],
            ["pr"],
            "window must be a whole number of days from 1 to 31",
        ),
        ([{"index": "last_spring_frost", "before_date": "7/1"}], ["tasmin"], "before_date must be a month and day"),
    ],
)
def test_every_bad_entry_is_one_error_naming_it(
    entries: list[dict[str, Any]], variables: list[str], message: str
) -> None:
    error = _error(entries, variables)
    assert message in error
    assert sum(line.startswith("  ") for line in error.splitlines()) == 1, "one line per problem"


def test_a_bad_entry_stops_plan_and_run_before_any_data_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The input directory does not even exist: the configuration is refused first, with exit code 2."""
    config = tmp_path / "job.yaml"
    config.write_text(
        "input_dirs: [nowhere]\nvariables: [tasmax]\nindicators:\n  - {index: tx_days_above, thresh: 90 mm}\n"
    )
    for command in ("plan", "run"):
        assert main([command, str(config)]) == 2
        err = capsys.readouterr().err
        assert "indicators.0: tx_days_above: thresh '90 mm' is a length" in err and "nowhere" not in err


def test_defaults_are_xclims_and_ids_default_to_the_index() -> None:
    indicator = resolve({"index": "heating_degree_days", "thresh": "65 degF"})
    assert indicator.id == "heating_degree_days" and indicator.freq == "YS"
    assert dict(indicator.values)["thresh"] == pytest.approx((65 - 32) * 5 / 9 + 273.15)
    assert dict(resolve({"index": "frost_days"}).values) == {"thresh": pytest.approx(273.15), "op": "<"}
    assert dict(resolve({"index": "tx90p", "base_period": [1981, 2010]}).params)["per"] == 90
    assert all(index.name == name for name, index in BY_NAME.items())


def test_equal_thresholds_in_other_units_shape_the_same_outputs() -> None:
    """Resume compares the thresholds' values, not their text: 32 degC and 305.15 K (89.6 degF) are one indicator;
    another threshold is another."""
    celsius = resolve({"index": "tx_days_above", "thresh": "32 degC"})
    assert celsius.shaping() == resolve({"index": "tx_days_above", "thresh": "305.15 K"}).shaping()
    assert celsius.shaping() == resolve({"index": "tx_days_above", "thresh": "89.6 degF"}).shaping()
    assert celsius.shaping() != resolve({"index": "tx_days_above", "thresh": "90 degF"}).shaping()
