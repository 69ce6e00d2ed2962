"""The run's last step: the tables of the ``zonal:`` section (`climnorm.config.zonal`), written from the saved
manifest's outputs; a table that fails is a run failure, reported like any other. No zonal library is imported
before a table is built."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from climnorm.config.model import Config
from climnorm.config.zonal import ZonalTable
from climnorm.errors import ClimnormError
from climnorm.runner.summary import Reporter

if TYPE_CHECKING:
    from climnorm.zonal.table import ZonalRequest

log = logging.getLogger(__name__)


def write_zonal_tables(config: Config, reporter: Reporter) -> None:
    """Write every table of ``config.zonal`` from the outputs in the manifest; a failed table is a failure of the
    run, reported as one."""
    for entry in config.zonal:
        out = entry.table_path(config.output_dir)
        try:
            from climnorm.zonal.export import write_zonal_table

            written = write_zonal_table(config.output_dir, out, zonal_request(entry))
        except (ClimnormError, OSError) as err:
            reporter.run_failure(f"zonal table {out}: {err}")
        else:
            log.info("%s", written.summary())


def zonal_request(entry: ZonalTable) -> ZonalRequest:
    """What the zonal library builds for one entry of the section."""
    from climnorm.zonal.table import ZonalRequest

    return ZonalRequest(
        entry.polygons, entry.id_field, entry.name_field, entry.state_field,
        entry.variables, entry.regions, entry.products, entry.scenarios,
    )  # fmt: skip
