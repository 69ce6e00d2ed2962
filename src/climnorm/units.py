"""Unit conversions climnorm applies on its own: only the unambiguous ones between spellings seen in archives."""

from __future__ import annotations

import numpy as np

_ALIASES = {
    "k": "K",
    "kelvin": "K",
    "degk": "K",
    "degc": "degC",
    "deg_c": "degC",
    "°c": "degC",
    "celsius": "degC",
    "degreesc": "degC",
    "degree_celsius": "degC",
    "degrees_celsius": "degC",
    "kgm-2s-1": "kg m-2 s-1",
    "kg/m2/s": "kg m-2 s-1",
    "kgm**-2s**-1": "kg m-2 s-1",
    "kg/m^2/s": "kg m-2 s-1",
    "mms-1": "kg m-2 s-1",
    "mm/s": "kg m-2 s-1",
    "mmday-1": "mm day-1",
    "mm/day": "mm day-1",
    "mmd-1": "mm day-1",
    "mm/d": "mm day-1",
}
# (from, to) -> (scale, offset): to = from * scale + offset
_CONVERSIONS = {
    ("K", "degC"): (1.0, -273.15),
    ("degC", "K"): (1.0, 273.15),
    ("mm day-1", "kg m-2 s-1"): (1.0 / 86400.0, 0.0),
    ("kg m-2 s-1", "mm day-1"): (86400.0, 0.0),
}


def canonical(units: str | None) -> str | None:
    """One spelling per unit (water flux in mm s-1 is kg m-2 s-1); unknown units come back unchanged."""
    if units is None:
        return None
    key = units.strip().lower().replace(" ", "")
    return _ALIASES.get(key, units.strip())


def converter(source: str | None, target: str | None) -> tuple[float, float] | None:
    """(scale, offset) taking values in ``source`` units to ``target`` units; None when not unambiguous."""
    a, b = canonical(source), canonical(target)
    if a == b:
        return (1.0, 0.0)
    return _CONVERSIONS.get((a, b)) if a is not None and b is not None else None


def convert(values: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """Apply a conversion in float64 and store as float32 (NaN stays NaN)."""
    if scale == 1.0 and offset == 0.0:
        return values
    return (values.astype(np.float64) * scale + offset).astype(np.float32)


def display(values: np.ndarray, units: str) -> tuple[np.ndarray, str]:
    """Values in the units people read: K → °C, kg m-2 s-1 → mm/day; anything else unchanged."""
    unit = canonical(units)
    if unit == "K":
        return values - 273.15, "°C"
    if unit == "kg m-2 s-1":
        return values * 86400.0, "mm/day"
    return values, units
