"""The rules between fields of the configuration (`climnorm.config.model`): each reads a few fields and says what
is wrong between them, checked once those fields are valid on their own."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

from climnorm.config.changes import changes_problems
from climnorm.config.indicators import indicator_problems
from climnorm.products import product_names

if TYPE_CHECKING:
    from climnorm.config.model import Config


def _min_years(c: Config) -> str | None:
    if c.min_years_for_normal > c.window_years:
        return (
            f"min_years_for_normal ({c.min_years_for_normal}) is greater than window_years "
            f"({c.window_years}): no window could ever qualify"
        )
    return None


def _data_years(c: Config) -> str | None:
    if c.data_years is None:
        return None
    first, last = c.data_years
    if first > last:
        return f"data_years starts after it ends ({first} > {last})"
    if c.window_years > last - first + 1:
        return (
            f"window_years ({c.window_years}) is longer than the data range data_years "
            f"{first}-{last} ({last - first + 1} years)"
        )
    outside = [n for n, (s, e) in c.periods.items() if s < first or e > last]
    if outside:
        return f"period(s) {', '.join(outside)} reach outside data_years {first}-{last}"
    return None


def _one_form(c: Config) -> str | None:
    if c.model is not None and c.models is not None:
        return f"model ({c.model!r}) and models ({c.models!r}) are both given: use model for one, models for several"
    if c.variant is not None and c.variants is not None:
        return (
            f"variant ({c.variant!r}) and variants ({c.variants!r}) are both given: use variant for one, "
            "variants for several"
        )
    return None


def _indicators(c: Config) -> str | None:
    return "; ".join(indicator_problems(c.indicators, c.variables, product_names(), c.historical_end)) or None


def _changes(c: Config) -> str | None:
    names = {v: "variable" for v in c.variables} | {e.indicator().id: "indicator" for e in c.indicators}
    return "; ".join(changes_problems(c.changes, c.window_years, names)) or None


def _layout(c: Config) -> str | None:
    if c.output_layout != "zarr":
        return None
    if importlib.util.find_spec("zarr") is None:
        return "output_layout: zarr needs the zarr package: pip install 'climnorm[export]'"
    folder = c.output_template.rpartition("/")[0]
    if "{target}" in folder or "{period}" in folder:
        return (
            f"output_template ({c.output_template!r}) names folders by {{target}} or {{period}}: with output_layout: "
            "zarr, a chain's targets share one store"
        )
    return None


def _state(c: Config) -> str | None:
    """Outputs on object storage keep what cannot live in a bucket in a local ``state_dir``; local outputs keep it
    beside them."""
    if c.remote_outputs and c.state_dir is None:
        return (
            f"output_dir ({c.output_dir}) is on object storage: set state_dir to a local directory for the run's "
            "lock, logs, scratch and manifest (docs/storage.md)"
        )
    if not c.remote_outputs and c.state_dir is not None:
        return f"state_dir ({c.state_dir}) is only used when output_dir is an s3:// prefix (output_dir keeps it)"
    if not c.remote_outputs and c.output_storage_options is not None:
        return "output_storage_options is only used when output_dir is an s3:// prefix"
    if (c.output_storage_options or {}).get("anon"):
        return (
            "output_storage_options: anon: outputs are never written anonymously (give credentials, or none for the "
            "instance's role)"
        )
    if c.remote_outputs and c.zonal:
        return (
            f"zonal: county tables read a local output directory, and output_dir ({c.output_dir}) is an s3:// "
            "prefix; run climnorm zonal on a copy of the outputs (aws s3 sync)"
        )
    return None


def _scheduler(c: Config) -> str | None:
    if c.engine != "dask" and c.scheduler_address:
        return f"scheduler_address ({c.scheduler_address!r}) is only used with engine: dask (engine is {c.engine!r})"
    return None


#: Rules between fields, each with the fields it reads: checked when those fields are valid on their own.
CROSS_FIELD_RULES: tuple[tuple[frozenset[str], Callable[[Config], str | None]], ...] = (
    (frozenset({"min_years_for_normal", "window_years"}), _min_years),
    (frozenset({"data_years", "window_years", "periods"}), _data_years),
    (frozenset({"engine", "scheduler_address"}), _scheduler),
    (frozenset({"output_layout", "output_template"}), _layout),
    (frozenset({"output_dir", "state_dir", "output_storage_options", "zonal"}), _state),
    (frozenset({"indicators", "variables", "historical_end"}), _indicators),
    (frozenset({"changes", "window_years", "variables", "indicators"}), _changes),
    (frozenset({"model", "models", "variant", "variants"}), _one_form),
)


def cross_field_problems(config: Config, skip: frozenset[str] = frozenset()) -> list[str]:
    """What the rules between fields find wrong, leaving out the rules that read a field in ``skip``."""
    return [p for fields, rule in CROSS_FIELD_RULES if not fields & skip and (p := rule(config)) is not None]
