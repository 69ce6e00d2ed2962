"""The pseudo-random weather of synthetic archives: phases hashed from (year, day fraction) and separable waves in
(lat, lon), shared by every climate style."""

from __future__ import annotations

import numpy as np


def phase(years: np.ndarray, frac: np.ndarray | float, k: int) -> np.ndarray:
    """Pseudo-random phase in [0, 2π) from (year, day fraction) — the classic sin-hash, exact in float64."""
    x = np.sin(years * 12.9898 + frac * 78.233 + k * 37.719) * 43758.5453
    return (2.0 * np.pi) * (x - np.floor(x))


def wave(a: np.ndarray, ka: int, pa: np.ndarray, b: np.ndarray, kb: int, pb: np.ndarray) -> np.ndarray:
    """Separable wave ``sin(ka*a + pa) * cos(kb*b + pb)``: cheap on (day, lat, 1) x (day, 1, lon) grids."""
    return np.sin(ka * a + pa) * np.cos(kb * b + pb)
