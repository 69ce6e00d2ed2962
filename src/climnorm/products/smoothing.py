"""Smoothed daily normals (docs/normals.md, "Smoothed daily normals"): a harmonic fit or a wrapped running mean.

numpy in, numpy out. Both work on a normal of N slots (slot, *cells) with NaN where it is missing, over the slot
index s = 0 … N-1 as a circle (the last slot is followed by the first), and fill missing slots from the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

_GROUP = 8  # cells sharing a missing-slot pattern at least this often are fitted together
_CHUNK = 1024  # cells fitted at once one by one (bounds the memory of the stacked design matrices)
_CONDITION = 1e3  # a QR whose diagonal spans more than this is refitted by SVD (numpy.linalg.lstsq)


@dataclass(frozen=True)
class Smoothing:
    """``harmonic``: a constant and the first ``harmonics`` harmonics; ``running``: a centred mean over ``days``."""

    method: Literal["harmonic", "running"]
    harmonics: int = 3
    days: int = 31

    def __post_init__(self) -> None:
        if self.method not in ("harmonic", "running"):
            raise ValueError(f"unknown smoothing method {self.method!r}: use harmonic or running")
        if self.method == "harmonic" and self.harmonics < 1:
            raise ValueError(f"harmonic smoothing needs harmonics >= 1, not {self.harmonics}")
        if self.method == "running" and (self.days < 1 or self.days % 2 == 0):
            raise ValueError(f"a centred running mean needs an odd number of days, not {self.days}")

    def describe(self) -> str:
        """What the file's ``smoothing`` attribute says."""
        if self.method == "harmonic":
            return (
                f"harmonic: least-squares fit of a constant and the first {self.harmonics} harmonics "
                "over the valid day slots"
            )
        return f"running: centred {self.days}-slot running mean, wrapping around the year, missing slots skipped"

    def apply(self, normal: np.ndarray) -> np.ndarray:
        """The smoothed normal, float32, shaped as ``normal``."""
        if self.method == "harmonic":
            return harmonic_smooth(normal, self.harmonics)
        return running_smooth(normal, self.days)


def smoothing(spec: Mapping[str, object]) -> Smoothing:
    """The smoothing ``{method: harmonic, harmonics: K}`` or ``{method: running, days: D}`` names."""
    method = spec.get("method")
    allowed = {"harmonic": {"method", "harmonics"}, "running": {"method", "days"}}.get(str(method))
    if allowed is None:
        raise ValueError(f"unknown smoothing method {method!r}: use harmonic or running")
    if set(spec) - allowed:
        raise ValueError(f"{method} smoothing takes {sorted(allowed)}, not {sorted(set(spec) - allowed)}")
    numbers = {k: v for k, v in spec.items() if k != "method" and isinstance(v, int) and not isinstance(v, bool)}
    if len(numbers) != len(spec) - 1:
        raise ValueError(f"smoothing parameters must be whole numbers, not {dict(spec)}")
    if method == "harmonic":
        return Smoothing("harmonic", harmonics=numbers.get("harmonics", 3))
    return Smoothing("running", days=numbers.get("days", 31))


def harmonic_design(nslots: int, harmonics: int) -> np.ndarray:
    """(nslots, 2K+1) design matrix: 1, then cos(2πks/N) and sin(2πks/N) for k = 1 … K."""
    s = np.arange(nslots, dtype=np.float64)
    columns = [np.ones(nslots)]
    for k in range(1, harmonics + 1):
        angle = 2.0 * np.pi * k * s / nslots
        columns += [np.cos(angle), np.sin(angle)]
    return np.stack(columns, axis=1)


def harmonic_smooth(normal: np.ndarray, harmonics: int) -> np.ndarray:
    """Per cell, the least-squares fit of ``harmonic_design`` to its valid slots, evaluated at every slot.

    A cell with fewer than 2K+1 valid slots stays NaN. Cells with the same valid slots share one
    ``numpy.linalg.lstsq``; the others are fitted by a stacked QR factorisation of their own rows.
    """
    nslots = normal.shape[0]
    design = harmonic_design(nslots, harmonics)
    flat = normal.reshape(nslots, -1).astype(np.float64)
    valid = ~np.isnan(flat)
    out = np.full(flat.shape, np.nan, dtype=np.float64)
    fit = np.flatnonzero(valid.sum(axis=0) >= design.shape[1])
    packed = np.packbits(valid[:, fit], axis=0).T.copy()
    _, inverse, counts = np.unique(packed, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    shared = counts[inverse] >= _GROUP
    order = np.argsort(inverse[shared], kind="stable")
    groups = np.split(fit[shared][order], np.cumsum(np.bincount(inverse[shared])[:-1]))
    for cells in groups:
        if cells.size:
            rows = valid[:, cells[0]]
            coef = np.linalg.lstsq(design[rows], flat[rows][:, cells], rcond=None)[0]
            out[:, cells] = design @ coef
    single = fit[~shared]
    for start in range(0, single.size, _CHUNK):
        cells = single[start : start + _CHUNK]
        out[:, cells] = _fit_each(design, flat[:, cells], valid[:, cells])
    return out.astype(np.float32).reshape(normal.shape)


def _fit_each(design: np.ndarray, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Least squares per column of ``values`` on its valid rows: QR of the design with the other rows zeroed;
    an ill-conditioned column (valid slots bunched together) goes to ``numpy.linalg.lstsq`` instead."""
    stacked = design[np.newaxis] * valid.T[:, :, np.newaxis]  # (cells, slots, 2K+1)
    q, r = np.linalg.qr(stacked)
    y = np.where(valid, values, 0.0).T  # (cells, slots)
    qty = np.einsum("csp,cs->cp", q, y)
    diagonal = np.abs(np.diagonal(r, axis1=1, axis2=2))
    good = diagonal.min(axis=1) * _CONDITION > diagonal.max(axis=1)
    coef = np.zeros((values.shape[1], design.shape[1]))
    coef[good] = np.linalg.solve(r[good], qty[good][:, :, np.newaxis])[:, :, 0]
    for cell in np.flatnonzero(~good):
        rows = valid[:, cell]
        coef[cell] = np.linalg.lstsq(design[rows], values[rows, cell], rcond=None)[0]
    return design @ coef.T


def running_smooth(normal: np.ndarray, days: int) -> np.ndarray:
    """Centred mean over ``days`` (odd) slots, wrapping from the last slot to the first, NaN slots skipped.

    NaN where all ``days`` slots around a slot are NaN.
    """
    nslots = normal.shape[0]
    if days < 1 or days % 2 == 0 or days > nslots:
        raise ValueError(f"a centred running mean needs an odd number of days up to {nslots}, not {days}")
    half = days // 2
    flat = normal.reshape(nslots, -1)
    valid = ~np.isnan(flat)
    values = np.where(valid, flat, 0.0).astype(np.float64)
    wrap = np.r_[nslots - half : nslots, 0:nslots, 0:half]
    sums = np.zeros((wrap.size + 1, flat.shape[1]), dtype=np.float64)
    counts = np.zeros(sums.shape, dtype=np.int64)
    np.cumsum(values[wrap], axis=0, out=sums[1:])
    np.cumsum(valid[wrap], axis=0, out=counts[1:])
    total = sums[days:] - sums[:-days]
    n = counts[days:] - counts[:-days]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return out.astype(np.float32).reshape(normal.shape)
