"""A year's day-slot field: the time steps of a file averaged per day slot, and a year assembled from the pieces of
its files (numpy in, numpy out: no files, no logging, no configuration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from climnorm.types import YearPiece


def day_means(values: np.ndarray, slots: np.ndarray, nslots: int) -> tuple[np.ndarray, np.ndarray]:
    """Average time steps falling on the same slot; returns (float32 per-slot field, steps per slot).

    ``values`` is (time, ...) with NaN for missing data; steps with slot -1 are dropped. The common case of
    one step per slot is a plain scatter, so daily data never pays for averaging.
    """
    keep = slots >= 0
    if not keep.all():
        slots = slots[keep]
        values = values[keep]
    steps = np.bincount(slots, minlength=nslots)[:nslots]
    if steps.max(initial=0) <= 1:
        if steps.min(initial=1) == 1:  # every slot once: each is written, none needs NaN first
            out = np.empty((nslots, *values.shape[1:]), dtype=np.float32)
        else:
            out = np.full((nslots, *values.shape[1:]), np.nan, dtype=np.float32)
        out[slots] = values
        return out, steps
    out = np.full((nslots, *values.shape[1:]), np.nan, dtype=np.float32)
    total = np.zeros(out.shape, dtype=np.float64)
    count = np.zeros(out.shape, dtype=np.int32)
    valid = ~np.isnan(values)
    np.add.at(total, slots, np.where(valid, values, 0))
    np.add.at(count, slots, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[...] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out, steps


@dataclass(frozen=True)
class YearFields:
    """One year's day-slot field per region, assembled from the pieces of its files.

    ``overlap``: two files hold the same day (the year is refused: values are never averaged across files);
    ``missing_days``: days of the year no file holds (the year is refused as incomplete). ``fields`` is empty
    when either is set.
    """

    fields: dict[str, np.ndarray]
    overlap: bool = False
    missing_days: int = 0
    ranges: dict[str, np.ndarray] = field(default_factory=dict)  # block ranges of the fields made of one piece


def assemble_year(pieces: Mapping[str, Sequence[YearPiece]], expected: np.ndarray) -> YearFields:
    """Combine each region's pieces of one year (one per file) and check that every ``expected`` slot is there."""
    fields: dict[str, np.ndarray] = {}
    ranges: dict[str, np.ndarray] = {}
    for region, parts in pieces.items():
        if not parts:
            continue
        merged = merge_pieces(parts)
        if merged is None:
            return YearFields({}, overlap=True)
        values, steps = merged
        present = steps > 0
        if not present[expected].all():
            return YearFields({}, missing_days=int((~present[expected]).sum()))
        fields[region] = values
        if len(parts) == 1 and parts[0].ranges is not None:
            ranges[region] = parts[0].ranges
    return YearFields(fields, ranges=ranges)


def merge_pieces(pieces: Sequence[YearPiece]) -> tuple[np.ndarray, np.ndarray] | None:
    """Combine one year's pieces from several files; None when two files hold the same day."""
    if len(pieces) == 1:
        return pieces[0].values, pieces[0].steps
    values = pieces[0].values.copy()
    steps = pieces[0].steps.copy()
    for p in pieces[1:]:
        has = p.steps > 0
        if (steps[has] > 0).any():
            return None
        values[has] = p.values[has]
        steps += p.steps
    return values, steps
