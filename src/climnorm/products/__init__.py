"""The products: what one output of a chain and target holds, each declared once as a :class:`ProductSpec`
(`climnorm.products.normals`); the rest of climnorm looks a product up here by name.

Adding a product is one declaration (and its numerics, if its per-year values are new): see
docs/architecture.md, "A new product".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from climnorm.products.indicators import indicator_specs, resolve
from climnorm.products.normals import NORMALS
from climnorm.products.spec import (
    DaySlots,
    FileProduct,
    Periods,
    PeriodStep,
    ProductSettings,
    ProductSpec,
    Source,
    T_Layout,
    YearContext,
    YearSource,
    file_product,
)

__all__ = [
    "DaySlots",
    "FileProduct",
    "PeriodStep",
    "Periods",
    "ProductSettings",
    "ProductSpec",
    "Source",
    "T_Layout",
    "YearContext",
    "YearSource",
    "file_product",
    "product",
    "product_names",
    "product_path",
    "product_paths",
    "registered",
    "spec_of",
]

_REGISTRY: dict[str, ProductSpec] = {spec.name: spec for spec in NORMALS}


def product_names() -> tuple[str, ...]:
    """Every product's name, in declaration order."""
    return tuple(_REGISTRY)


def product(name: str) -> ProductSpec:
    """The product called ``name``; ValueError naming the closest and every product otherwise."""
    spec = _REGISTRY.get(name)
    if spec is None:
        match = difflib.get_close_matches(name, list(_REGISTRY), n=1, cutoff=0.6)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise ValueError(f"unknown product {name!r}{hint}: one of {', '.join(_REGISTRY)}")
    return spec


def spec_of(name: str, indicator: Mapping[str, Any] | None = None) -> ProductSpec:
    """The product of an output as its manifest record says: a registered product by name, or an indicator's
    rebuilt from its configuration entry (ValueError if neither)."""
    if indicator is None:
        return product(name)
    (spec,) = indicator_specs((resolve(indicator),))
    return spec


@contextmanager
def registered(spec: ProductSpec) -> Iterator[ProductSpec]:
    """A product known only while the block runs (a test's, or an extension's trial); its name must be new."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a product named {spec.name!r} exists already")
    _REGISTRY[spec.name] = spec
    try:
        yield spec
    finally:
        del _REGISTRY[spec.name]


def product_path(daily_path: str, spec: ProductSpec | str) -> str:
    """The output path of a product beside the daily normal's: ``…_30yr_normal.nc`` → ``…_30yr_monthly_normal.nc``.

    A product that is not named in paths keeps the daily path; a name not ending in ``_normal`` gets ``_{product}``
    before its suffix. ``spec``: the product, or a registered product's name.
    """
    return product_paths(daily_path, [product(spec) if isinstance(spec, str) else spec])[0]


def product_paths(daily_path: str, specs: Sequence[ProductSpec]) -> list[str]:
    """The output paths of several products beside one daily normal's (:func:`product_path`, the daily path
    split once)."""
    folder, _, file = daily_path.rpartition("/")
    dot = file.rfind(".")
    stem, suffix = (file[:dot], file[dot:]) if dot > 0 else (file, "")
    normal = stem.endswith("_normal")
    base = stem[: -len("_normal")] if normal else stem
    prefix = f"{folder}/{base}_" if folder else f"{base}_"
    end = f"_normal{suffix}" if normal else suffix
    return [f"{prefix}{spec.name}{end}" if spec.named else daily_path for spec in specs]
