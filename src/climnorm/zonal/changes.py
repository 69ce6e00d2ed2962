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
from climnorm.numerics.ensemble import member_statistics
from climnorm.products import product_names
from climnorm.records import ENSEMBLE

KEYS = ("id", "name", "state", "region", "model", "variable", "product", "slot_kind", "slot", "slot_label")
"""What a county change is matched on between a target's row and the baseline's (and the scenario, for a hybrid
baseline)."""
TARGET = ("scenario", "period", "target_year")
NORMAL_COLUMNS = (*KEYS, "statistic", "units", *TARGET, "value")
"""The columns of a zonal table a change table is made of."""
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
    """Every member's county change against its baseline, and (``statistics``, with several members) the
    ensemble's statistics of them and ``agree``, the largest of the fractions of members with a positive,
    negative and no change, where at least ``min_members`` members (default: half of them) have one."""
    first, last = changes.window(window_years)
    members = table[(table["model"] != ENSEMBLE) & (table["statistic"].astype(str) == "")]  # the normals themselves
    base = members[members["target_year"] == last]
    if last > historical_end:  # a hybrid baseline: each scenario's own, and no change of historical targets
        on = [*KEYS, "scenario"]
        targets = members[members["scenario"] != "historical"]
    else:
        on = list(KEYS)
        targets = members
    merged = targets.merge(base[[*on, "value", "units"]], on=on, suffixes=("", "_baseline"), how="inner")
    combos = merged[["product", "variable", "units"]].drop_duplicates()
    normals = product_names()  # the other products are indicators, named by their id
    kinds = {(p, v, u): changes.kind_of(v if p in normals else p, u) for p, v, u in combos.itertuples(index=False)}
    keys = zip(merged["product"], merged["variable"], merged["units"], strict=True)
    kind = np.array([kinds[k] for k in keys], dtype=object)
    value, base_value = merged["value"].to_numpy(np.float64), merged["value_baseline"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = 100.0 * (value - base_value) / np.where(base_value == 0, np.nan, base_value)
    out = merged.assign(
        statistic="change",
        value=np.where(kind == "relative", relative, value - base_value),
        units=np.where(kind == "relative", "%", merged["units"].astype(str)),
        kind=kind,
        baseline=f"{first}-{last}",
        n_members=1,
    )[list(CHANGE_COLUMNS)]
    out = out.astype({"name": str, "state": str}).replace(
        {"name": {"None": "", "nan": ""}, "state": {"None": "", "nan": ""}}
    )
    models = out["model"].nunique()
    if statistics and models > 1:
        need = min_members if min_members is not None else -(-models // 2)
        out = pd.concat([out, _ensemble(out, statistics, need)], ignore_index=True)
    return out.sort_values(["variable", "product", "scenario", "target_year", "model", "statistic", "id", "slot"],
                           ignore_index=True)  # fmt: skip


def _ensemble(members: pd.DataFrame, statistics: Sequence[str], min_members: int) -> pd.DataFrame:
    """Per county, target and slot: the statistics of the members' changes, and their agreement on the sign
    (grouped by codes, not strings: a county table has millions of rows)."""
    group = [c for c in CHANGE_COLUMNS if c not in ("model", "statistic", "value", "n_members")]
    ids = members.groupby(group, observed=True, sort=False, dropna=False).ngroup().to_numpy()
    models = pd.Categorical(members["model"])
    values = np.full((len(models.categories), int(ids.max()) + 1 if ids.size else 0), np.nan)
    values[models.codes, ids] = members["value"].to_numpy(np.float64)
    stats, n = member_statistics(values, statistics, min_members)
    valid = ~np.isnan(values)
    count = np.maximum(valid.sum(axis=0), 1)
    positive = (np.where(valid, values, 0) > 0).sum(axis=0) / count
    negative = (np.where(valid, values, 0) < 0).sum(axis=0) / count
    agree = np.max(np.stack([positive, negative, 1 - positive - negative]), axis=0)
    stats["agree"] = np.where(n >= min_members, agree, np.nan)
    first = np.unique(ids, return_index=True)[1]
    index = members.iloc[first][group].reset_index(drop=True)  # each group's keys, in group order
    parts = [index.assign(statistic=name, value=v, n_members=n) for name, v in stats.items()]
    frame = pd.concat(parts, ignore_index=True).assign(model=ENSEMBLE)
    frame["units"] = np.where(frame["statistic"] == "agree", "1", frame["units"].astype(str))
    return frame[list(CHANGE_COLUMNS)]
