"""Which optional extras are installed, checked without importing their libraries (a config check stays fast)."""

from __future__ import annotations

import importlib.util

#: The libraries each optional extra of pyproject.toml brings, as imported.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "zonal": ("shapely", "pyogrio", "pyproj", "scipy", "pandas", "pyarrow"),
    "plot": ("matplotlib",),
}


def missing_modules(extra: str) -> list[str]:
    """The libraries of ``extra`` that cannot be imported here."""
    return [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]


def install_hint(extra: str) -> str:
    return f"pip install 'climnorm[{extra}]'"


def missing_extra_message(extra: str, needed_for: str) -> str | None:
    """One line saying what ``needed_for`` lacks and how to install it; None when the extra is complete."""
    missing = missing_modules(extra)
    if not missing:
        return None
    return f"{needed_for} need the {extra} extra ({', '.join(missing)} not installed): {install_hint(extra)}"
