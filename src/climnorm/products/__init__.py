"""The products: what one output of a chain and target holds (being redesigned into specs)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

T_Product = Literal["daily", "daily_smoothed", "monthly", "seasonal", "annual"]

PRODUCTS: tuple[T_Product, ...] = ("daily", "daily_smoothed", "monthly", "seasonal", "annual")

#: How each product is named in its files' titles.
PRODUCT_TITLES: dict[str, str] = {
    "daily": "daily climate normal",
    "daily_smoothed": "smoothed daily climate normal",
    "monthly": "monthly climate normal",
    "seasonal": "seasonal climate normal",
    "annual": "annual climate normal",
}


def product_path(daily_path: str, product: T_Product) -> str:
    """The output path of ``product`` beside the daily normal's: ``…_30yr_normal.nc`` → ``…_30yr_monthly_normal.nc``.

    The daily path is unchanged; a name not ending in ``_normal`` gets ``_{product}`` before its suffix.
    """
    if product not in PRODUCTS:
        raise ValueError(f"unknown product {product!r}: one of {', '.join(PRODUCTS)}")
    if product == "daily":
        return daily_path
    path = PurePosixPath(daily_path)
    stem = path.stem
    stem = f"{stem[: -len('_normal')]}_{product}_normal" if stem.endswith("_normal") else f"{stem}_{product}"
    return str(path.with_name(stem + path.suffix))
