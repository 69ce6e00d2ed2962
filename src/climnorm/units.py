"""Unit conversions climnorm applies on its own: only the unambiguous ones between spellings seen in archives."""

from __future__ import annotations

import functools
import re
from typing import Any

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


#: The units index thresholds are given in after parsing (what `climnorm.numerics.indicators` computes in), by kind
#: of quantity: temperatures in K, precipitation (a rate, or a daily amount) in mm day-1.
THRESHOLD_UNITS = {"temperature": "K", "precipitation": "mm day-1"}
_PINT_UNITS = {"temperature": "K", "precipitation": "mm/day"}
_NUMBER = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*")


def threshold(text: str, kind: str) -> float:
    """A quantity written with its units ("90 degF", "0.01 in/day", "1 mm/d", "1e-5 kg m-2 s-1") in the units of
    its ``kind`` (:data:`THRESHOLD_UNITS`), parsed by pint; precipitation fluxes and rates convert through the
    density of water, as xclim's ``hydro`` context does. ValueError saying what the quantity is otherwise."""
    match = _NUMBER.fullmatch(str(text))
    if match is None or not match.group(2):
        raise ValueError(f"{text!r} is not a number with units (e.g. '90 degF', '1 mm/day')")
    registry = _registry()
    import pint

    spelled = re.sub(r"(?<=[A-Za-z])(-?\d+)", r"**\1", match.group(2)).replace(" ", "*")
    try:
        quantity = registry.Quantity(float(match.group(1)), spelled)
        return float(quantity.to(_PINT_UNITS[kind], "hydro").magnitude)
    except pint.errors.DimensionalityError:
        wanted = {
            "temperature": "a temperature (e.g. '90 degF')",
            "precipitation": "a precipitation rate (e.g. '1 mm/day')",
        }
        raise ValueError(f"{text!r} is {_dimension(quantity)}, not {wanted[kind]}") from None
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, TypeError) as err:
        raise ValueError(f"{text!r}: unknown units {match.group(2)!r} ({err})") from None


def _dimension(quantity: Any) -> str:
    dims = str(quantity.dimensionality)
    names = {"[temperature]": "a temperature", "[length]": "a length", "[length] / [time]": "a rate"}
    return names.get(dims, f"of dimension {dims}")


@functools.cache
def _registry() -> Any:
    """pint's registry with xclim's ``hydro`` context (imported on first use: only configurations with thresholds
    need it)."""
    import pint

    registry: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    hydro = pint.Context("hydro")
    hydro.add_transformation("[mass] / [length]**2", "[length]", _per_water)
    hydro.add_transformation("[length]", "[mass] / [length]**2", _times_water)
    hydro.add_transformation("[mass] / [length]**2 / [time]", "[length] / [time]", _per_water)
    hydro.add_transformation("[length] / [time]", "[mass] / [length]**2 / [time]", _times_water)
    registry.add_context(hydro)
    return registry


def _per_water(ureg: Any, value: Any, **kwargs: Any) -> Any:
    """A mass of water per area as its depth (1000 kg m-3)."""
    return value / (1000 * ureg.kg / ureg.m**3)


def _times_water(ureg: Any, value: Any, **kwargs: Any) -> Any:
    """A depth of water as its mass per area."""
    return value * (1000 * ureg.kg / ureg.m**3)
