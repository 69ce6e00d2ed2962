"""The ``changes:`` section: every normal against the same member's normal of a baseline window, additive or
relative, with the ensemble's model agreement (IPCC AR6 approach C); docs/changes.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, field_validator

from climnorm.config.sections import Strict
from climnorm.numerics.changes import T_ChangeKind

ChangeKind = T_ChangeKind

DEFAULT_KIND = "default"
"""The ``kind:`` key of every variable and indicator not named."""

AMOUNT_UNITS = frozenset({"mm", "mm/day", "mm day-1", "kg m-2 s-1", "kg m-2"})
"""Units of precipitation amounts and rates: their changes are relative by default (% of the baseline); counts of
days, temperatures, degree days and dates stay additive."""


class Changes(Strict):
    """``baseline``: the window's last year (``2020``) or its years (``[1991, 2020]``, ``window_years`` of them);
    ``kind``: per variable or indicator id (and ``default``), additive or relative; ``robustness``: the AR6
    categories and fractions in ensemble change files, or none; ``agreement`` and ``significant``: the fractions of
    members the categories need (xclim's ``robustness_categories`` defaults)."""

    baseline: int | tuple[int, int]
    kind: dict[str, ChangeKind] = Field(default_factory=dict)
    robustness: Literal["ipcc_ar6", "none"] = "ipcc_ar6"
    agreement: Annotated[float, Field(gt=0, le=1)] = 0.8
    significant: Annotated[float, Field(gt=0, le=1)] = 0.66

    @field_validator("baseline")
    @classmethod
    def _ordered(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        if isinstance(value, tuple) and value[0] > value[1]:
            raise ValueError(f"baseline starts after it ends ({value[0]} > {value[1]})")
        return value

    def window(self, window_years: int) -> tuple[int, int]:
        """The baseline window's first and last year."""
        if isinstance(self.baseline, int):
            return self.baseline - window_years + 1, self.baseline
        return self.baseline

    def kind_of(self, name: str, units: str | None) -> ChangeKind:
        """How the change of a variable's or an indicator's normal is taken: as configured for ``name``, else the
        ``default`` key, else relative for precipitation amounts and rates (``units``) and additive otherwise."""
        if name in self.kind:
            return self.kind[name]
        if DEFAULT_KIND in self.kind:
            return self.kind[DEFAULT_KIND]
        return "relative" if units in AMOUNT_UNITS else "additive"


def changes_problems(changes: Changes | None, window_years: int, names: Mapping[str, str]) -> list[str]:
    """What is wrong between ``changes:`` and the rest: a baseline window of another length than ``window_years``,
    ``kind`` keys that name no variable or indicator of the run (``names``: each name and what it is)."""
    if changes is None:
        return []
    problems = []
    first, last = changes.window(window_years)
    if last - first + 1 != window_years:
        problems.append(
            f"changes.baseline: {first}-{last} is {last - first + 1} years, window_years is {window_years} "
            "(a change compares normals of the same window length)"
        )
    unknown = sorted(k for k in changes.kind if k != DEFAULT_KIND and k not in names)
    if unknown:
        known = ", ".join(sorted(names)) or "none"
        problems.append(
            f"changes.kind: {', '.join(map(repr, unknown))} is no variable or indicator of the run "
            f"(there are: {known}; or 'default')"
        )
    return problems
