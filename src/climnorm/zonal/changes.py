"""County (polygon) changes: each member's change computed from the county's own normals of a target and of the
baseline (for a relative change their ratio, never an average of cell changes), then across the members the
statistics of those county changes and how many agree on the sign (docs/changes.md, "County tables").

From a zonal table of normals (`climnorm.zonal.table`), as a DataFrame in, a DataFrame out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from climnorm.config.changes import Changes
from climnorm.numerics.changes import NO_CATEGORY, categories, robustness, significant
from climnorm.numerics.ensemble import member_statistics
from climnorm.products import product_names
from climnorm.records import ENSEMBLE
from climnorm.zonal.variability import VARIABILITY

KEYS = ("id", "name", "state", "region", "model", "variable", "product", "slot_kind", "slot", "slot_label")
"""What a county change is matched on between a target's row and the baseline's (and the scenario, for a hybrid
baseline)."""
TARGET = ("scenario", "period", "target_year")
NORMAL_STATISTICS = ("", VARIABILITY)
"""The rows of a zonal table a change table is made of: the normals, and the baselines' variability."""
NORMAL_COLUMNS = (*KEYS, "statistic", "units", *TARGET, "value")
"""The columns of a zonal table a change table is made of."""
SPREAD = "baseline_detrended_std"
"""A member's row of its baseline's variability, in the change's units (the significance test's σ)."""
FRACTIONS = ("agree", "significant", "robustness")
"""The ensemble's rows whose units are 1 (the category too: its flag, 1 robust, 2 no change, 3 conflicting)."""
CHANGE_COLUMNS = (
    *KEYS[:5], "statistic", *KEYS[5:7], "units", *TARGET, *KEYS[7:], "kind", "baseline", "value", "n_members",
)  # fmt: skip


def county_changes(
    table: pd.DataFrame,
    changes: Changes,
    window_years: int,
    historical_end: int,
    statistics: Sequence[str] = (),
    min_members: int | None = None,
) -> pd.DataFrame:
    """Every member's county change against its baseline and its baseline's variability in the change's units
    (``baseline_detrended_std``, where the table has the county's own: period products and indicators); with
    ``statistics`` and several members, the ensemble's statistics of the changes, ``agree`` and, with IPCC AR6
    robustness and the variability, ``significant`` and ``robustness`` (the category), where at least
    ``min_members`` members (default: half of them) have a change."""
    first, last = changes.window(window_years)
    members = table[table["model"] != ENSEMBLE]
    statistic = members["statistic"].astype(str)
    normals = members[statistic == ""]
    base = normals[normals["target_year"] == last]
    sigma = members[(statistic == VARIABILITY) & (members["target_year"] == last)]
    if last > historical_end:  # a hybrid baseline: each scenario's own, and no change of historical targets
        on = [*KEYS, "scenario"]
        targets = normals[normals["scenario"] != "historical"]
    else:
        on = list(KEYS)
        targets = normals
    merged = targets.merge(base[[*on, "value", "units"]], on=on, suffixes=("", "_baseline"), how="inner")
    merged = merged.merge(sigma[[*on, "value"]].rename(columns={"value": "sigma"}), on=on, how="left")
    kind = _kinds(merged, changes)
    value, base_value = merged["value"].to_numpy(np.float64), merged["value_baseline"].to_numpy(np.float64)
    relative = kind == "relative"
    with np.errstate(divide="ignore", invalid="ignore"):
        nonzero = np.where(base_value == 0, np.nan, base_value)
        delta = np.where(relative, 100.0 * (value - base_value) / nonzero, value - base_value)
        spread = merged["sigma"].to_numpy(np.float64)  # for a relative change, in % of the baseline's normal
        spread = np.where(relative, 100.0 * spread / np.abs(nonzero), spread)
    units = np.where(relative, "%", merged["units"].astype(str))
    common = {"units": units, "kind": kind, "baseline": f"{first}-{last}"}
    out = pd.concat(
        [
            merged.assign(statistic="change", value=delta, n_members=1, **common),
            merged.assign(statistic=SPREAD, value=spread, n_members=1, **common)[~np.isnan(merged["sigma"])],
        ],
        ignore_index=True,
    )[list(CHANGE_COLUMNS)]
    out = out.astype({"name": str, "state": str}).replace(
        {"name": {"None": "", "nan": ""}, "state": {"None": "", "nan": ""}}
    )
    models = out["model"].nunique()
    if statistics and models > 1:
        need = min_members if min_members is not None else -(-models // 2)
        out = pd.concat([out, _ensemble(out, statistics, need, changes)], ignore_index=True)
    return out.sort_values(["variable", "product", "scenario", "target_year", "model", "statistic", "id", "slot"],
                           ignore_index=True)  # fmt: skip


def _kinds(merged: pd.DataFrame, changes: Changes) -> np.ndarray:
    """Each row's change kind, from its variable or indicator id and units."""
    combos = merged[["product", "variable", "units"]].drop_duplicates()
    normals = product_names()  # the other products are indicators, named by their id
    kinds = {(p, v, u): changes.kind_of(v if p in normals else p, u) for p, v, u in combos.itertuples(index=False)}
    keys = zip(merged["product"], merged["variable"], merged["units"], strict=True)
    return np.array([kinds[k] for k in keys], dtype=object)


def _ensemble(members: pd.DataFrame, statistics: Sequence[str], min_members: int, changes: Changes) -> pd.DataFrame:
    """Per county, target and slot: the statistics of the members' changes, their agreement on the sign and, where
    their variability is known, the fraction changing significantly and the AR6 category (grouped by codes, not
    strings: a county table has millions of rows)."""
    group = [c for c in CHANGE_COLUMNS if c not in ("model", "statistic", "value", "n_members")]
    deltas = members[members["statistic"] == "change"]
    ids = deltas.groupby(group, observed=True, sort=False, dropna=False).ngroup().to_numpy()
    models = pd.Categorical(deltas["model"])
    values = np.full((len(models.categories), int(ids.max()) + 1 if ids.size else 0), np.nan)
    values[models.codes, ids] = deltas["value"].to_numpy(np.float64)
    sigmas = np.full_like(values, np.nan)
    spread = deltas.merge(members[members["statistic"] == SPREAD], on=[*group, "model"], how="left")["value_y"]
    sigmas[models.codes, ids] = spread.to_numpy(np.float64)
    stats, n = member_statistics(values, statistics, min_members)
    fractions = robustness(values, significant(values, sigmas), min_members)
    stats["agree"] = fractions.agree
    known = np.asarray(~np.isnan(sigmas).all(axis=0))  # daily slots have no county variability: no significance test
    if changes.robustness == "ipcc_ar6":
        stats["significant"] = np.where(known, fractions.changed, np.nan)
        category = categories(fractions, changes.significant, changes.agreement).astype(np.float64)
        stats["robustness"] = np.where(known & (category != NO_CATEGORY), category, np.nan)
    first = np.unique(ids, return_index=True)[1]
    index = deltas.iloc[first][group].reset_index(drop=True)  # each group's keys, in group order
    parts = [index.assign(statistic=name, value=v, n_members=n)[_rows(name, known)] for name, v in stats.items()]
    frame = pd.concat(parts, ignore_index=True).assign(model=ENSEMBLE)
    frame["units"] = np.where(frame["statistic"].isin(FRACTIONS), "1", frame["units"].astype(str))
    return frame[list(CHANGE_COLUMNS)]


def _rows(statistic: str, known: np.ndarray) -> np.ndarray | slice:
    """Which groups a statistic has rows for: the significance test's only where the variability is known."""
    return known if statistic in ("significant", "robustness") else slice(None)
