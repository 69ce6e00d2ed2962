"""The run's last step: the tables of the ``zonal:`` section (`climnorm.config.zonal`), written from the saved
manifest's outputs; a table that fails is a run failure, reported like any other. No zonal library is imported
before a table is built."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from climnorm.config.model import Config
from climnorm.config.zonal import ZonalTable, changes_table_path
from climnorm.errors import ClimnormError
from climnorm.records import ENSEMBLE
from climnorm.runner.summary import Reporter

if TYPE_CHECKING:
    import pandas as pd

    from climnorm.zonal.table import ZonalRequest

log = logging.getLogger(__name__)


def write_zonal_tables(config: Config, reporter: Reporter) -> None:
    """Write every table of ``config.zonal`` from the outputs in the manifest; a failed table is a failure of the
    run, reported as one."""
    for entry in config.zonal:
        out = entry.table_path(config.state_path)
        try:
            from climnorm.zonal.export import write_zonal_table

            written = write_zonal_table(config.output_dir, out, zonal_request(entry))
            if config.changes is not None:
                log.info("wrote %s", write_change_table(config, out))
        except (ClimnormError, OSError) as err:
            reporter.run_failure(f"zonal table {out}: {err}")
        else:
            log.info("%s", written.summary())


def write_change_table(config: Config, table: Path) -> Path:
    """The county changes beside a zonal table (``…_changes.parquet``), from the table's own county normals, one
    variable and product at a time (a county table has millions of rows)."""

    from climnorm.zonal.changes import NORMAL_COLUMNS, NORMAL_STATISTICS, county_changes
    from climnorm.zonal.export import table_kind, write_frames

    assert config.changes is not None
    changes = config.changes
    ensemble = config.ensemble
    statistics = tuple(ensemble.statistics) if ensemble is not None else ()
    need = ensemble.min_members if ensemble is not None else None

    def parts() -> Iterator[pd.DataFrame]:
        for frame in _members_normals(table, table_kind(table), list(NORMAL_COLUMNS), NORMAL_STATISTICS):
            yield county_changes(frame, changes, config.window_years, config.historical_end, statistics, need)

    return write_frames(parts(), changes_table_path(table))


def _members_normals(table: Path, kind: str, columns: list[str], statistics: tuple[str, ...]) -> Iterator[pd.DataFrame]:
    """The members' county normals of a zonal table and their baselines' variability (not the ensemble's, nor the
    other window statistics), one variable and product at a time."""
    import pandas as pd

    if kind != "parquet":
        frame = pd.read_csv(table, usecols=columns, keep_default_na=False, na_values=[""])
        frame = frame[frame["statistic"].isin(statistics) & (frame["model"] != ENSEMBLE)]
        for _, part in frame.groupby(["variable", "product"], observed=True):
            yield part
        return
    import pyarrow.parquet as pq

    wanted = [("statistic", "in", list(statistics)), ("model", "!=", ENSEMBLE)]
    pairs = pq.read_table(table, columns=["variable", "product"], filters=wanted).to_pandas().drop_duplicates()
    for variable, product in pairs.itertuples(index=False):
        only = [*wanted, ("variable", "=", str(variable)), ("product", "=", str(product))]
        yield pq.read_table(table, columns=columns, filters=only).to_pandas()


def zonal_request(entry: ZonalTable) -> ZonalRequest:
    """What the zonal library builds for one entry of the section."""
    from climnorm.zonal.table import ZonalRequest

    return ZonalRequest(
        entry.polygons, entry.id_field, entry.name_field, entry.state_field,
        entry.variables, entry.regions, entry.products, entry.scenarios,
    )  # fmt: skip
