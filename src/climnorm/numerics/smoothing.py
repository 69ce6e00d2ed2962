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
_CHUNK = 8192  # cells fitted one by one at once (bounds the memory of their normal equations)
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

    A cell with fewer than 2K+1 valid slots stays NaN. Cells with the same valid slots share one SVD of their
    design rows; the others by the normal equations of their own rows (ill-conditioned ones, by
    ``numpy.linalg.lstsq``).
    """
    nslots = normal.shape[0]
    design = harmonic_design(nslots, harmonics)
    values = np.ascontiguousarray(normal.reshape(nslots, -1).T, dtype=np.float64)  # (cells, slots): rows gather fast
    valid = ~np.isnan(values)
    out = np.full(values.shape, np.nan, dtype=np.float64)
    fit = np.flatnonzero(valid.sum(axis=1) >= design.shape[1])
    done = np.zeros(values.shape[0], dtype=bool)
    for cells in _shared_patterns(valid, fit):
        rows = valid[cells[0]]
        out[cells] = _fit_shared(design[rows], values[cells][:, rows].T).T @ design.T
        done[cells] = True
    single = fit[~done[fit]]
    for start in range(0, single.size, _CHUNK):
        cells = single[start : start + _CHUNK]
        out[cells] = _fit_each(design, values[cells], valid[cells])
    return np.ascontiguousarray(out.T, dtype=np.float32).reshape(normal.shape)


def _shared_patterns(valid: np.ndarray, cells: np.ndarray) -> list[np.ndarray]:
    """The ``cells`` (rows of ``valid``) whose valid slots are those of at least ``_GROUP`` cells, by group."""
    packed = np.packbits(valid[cells], axis=1)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()  # one bytes key per cell: a fast unique
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    groups = np.split(cells[order], np.cumsum(counts)[:-1])
    return [g for g in groups if g.size >= _GROUP]


def _fit_shared(design: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of many columns on one design, from its SVD (``numpy.linalg.lstsq``'s
    solution); an ill-conditioned design goes to ``numpy.linalg.lstsq`` itself."""
    u, sv, vt = np.linalg.svd(design, full_matrices=False)
    if sv.min() * _CONDITION <= sv.max():
        return np.linalg.lstsq(design, values, rcond=None)[0]
    return vt.T @ ((u.T @ values) / sv[:, np.newaxis])


def _fit_each(design: np.ndarray, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per row of ``values`` (cells, slots), the least-squares fit on its own valid slots by its normal
    equations (one matrix product for all), evaluated at every slot; an ill-conditioned row (valid slots
    bunched together) goes to ``numpy.linalg.lstsq`` instead, as squaring its condition would cost accuracy."""
    nslots, p = design.shape
    outer = (design[:, :, np.newaxis] * design[:, np.newaxis, :]).reshape(nslots, p * p)
    gram = (valid.astype(np.float64) @ outer).reshape(-1, p, p)  # (cells, 2K+1, 2K+1)
    rhs = np.where(valid, values, 0.0) @ design  # (cells, 2K+1)
    eigen = np.linalg.eigvalsh(gram)  # ascending
    good = eigen[:, 0] * _CONDITION**2 > eigen[:, -1]
    coef = np.zeros((values.shape[0], p))
    coef[good] = np.linalg.solve(gram[good], rhs[good][:, :, np.newaxis])[:, :, 0]
    for cell in np.flatnonzero(~good):
        rows = valid[cell]
        coef[cell] = np.linalg.lstsq(design[rows], values[cell, rows], rcond=None)[0]
    return coef @ design.T


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
