"""The ``indicators:`` section: a list of entries ``{index, id, freq, <parameters>}`` with xclim's index and
parameter names (docs/indicators.md), each checked against its index before any data is read."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, model_serializer, model_validator

from climnorm.config.sections import Strict
from climnorm.products.indicators import Indicator, indicator_specs, resolve
from climnorm.products.spec import ProductSpec

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class IndicatorEntry(Strict):
    """One indicator: an index by its xclim name, the output's ``id`` (default: the index's name), the frequency of
    its values (YS, MS or QS-DEC) and the index's own parameters (thresholds with units, e.g. ``90 degF``)."""

    index: Annotated[str, Field(min_length=1)]
    id: str | None = None
    freq: str = "YS"
    thresh: str | int | float | None = None
    op: str | None = None
    window: int | None = None
    before_date: str | None = None
    after_date: str | None = None
    mid_date: str | None = None
    base_period: tuple[int, int] | None = None
    per: float | None = None

    @model_validator(mode="after")
    def _checked(self) -> IndicatorEntry:
        if self.id is not None and not _NAME.fullmatch(self.id):
            raise ValueError(f"id {self.id!r} must start with a letter and hold only letters, digits and '_'")
        self.indicator()
        return self

    @model_serializer(mode="plain")
    def _filled(self) -> dict[str, Any]:
        """Dumped (``config show``) as the entry resolved: xclim's defaults filled, the given values as given."""
        return self.indicator().to_json()

    def indicator(self) -> Indicator:
        """The entry resolved against its index: defaults filled, thresholds converted (ValueError if invalid)."""
        data = {k: v for k in type(self).model_fields if (v := getattr(self, k)) is not None}
        if "thresh" in data:
            data["thresh"] = str(data["thresh"])
        if "base_period" in data:
            data["base_period"] = list(data["base_period"])
        return resolve(data)


IndicatorSection = list[IndicatorEntry]


def indicator_problems(
    entries: list[IndicatorEntry], variables: list[str], names: tuple[str, ...], historical_end: int
) -> list[str]:
    """What is wrong between entries and the run: an index on a variable it lacks, an id given twice (an index
    used twice needs ids), an id that is a product's or a variable's name, a base period past the historical run."""
    problems: list[str] = []
    ids: dict[str, int] = {}
    for n, entry in enumerate(entries):
        indicator = entry.indicator()
        base = indicator.base_period
        if base is not None and base[1] > historical_end:
            problems.append(
                f"indicators.{n}: base_period {base[0]}-{base[1]} reaches past historical_end ({historical_end}): "
                "its percentiles come from the historical run"
            )
        if indicator.variable not in variables:
            problems.append(
                f"indicators.{n}: {indicator.index.name} needs {indicator.variable}, which is not among the run's "
                f"variables ({', '.join(variables)})"
            )
        if indicator.id in ids:
            first = ids[indicator.id]
            hint = " (an index used twice needs an id for each entry)" if entry.id is None else ""
            problems.append(f"indicators.{n}: id {indicator.id!r} is also indicators.{first}'s{hint}")
        elif indicator.id in names or indicator.id in variables:
            problems.append(f"indicators.{n}: id {indicator.id!r} is the name of a product or variable")
        ids.setdefault(indicator.id, n)
    return problems


def indicators_specs(entries: list[IndicatorEntry]) -> tuple[ProductSpec, ...]:
    """The products of the entries (`climnorm.products.indicators`)."""
    return indicator_specs(tuple(e.indicator() for e in entries))
