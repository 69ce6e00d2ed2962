"""What a worker process is given: the context each task function receives (:class:`WorkerContext`), and the stage
modules its tasks import (:data:`STAGE_MODULES`, which a local pool's workers preload). Light on purpose: the
command imports it before it starts the workers' server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from climnorm.events import T_Event

log = logging.getLogger(__name__)

#: The stage modules the task functions import when they run, which the local pool's workers preload.
STAGE_MODULES = (
    "climnorm.read.extract",
    "climnorm.write.layouts",
    "climnorm.write.ensemble",
    "climnorm.write.changes",
    "climnorm.write.zarr_chain",
)


@dataclass(frozen=True)
class WorkerContext:
    """What a task needs of the process it runs in: where its progress events go (None: nowhere) and how many
    bytes of memory it may use (None: no limit)."""

    sink: Callable[[T_Event], None] | None = None
    memory_limit: int | None = None

    def send(self, event: T_Event) -> None:
        """Report a progress event; a closed queue never fails the work itself."""
        if self.sink is not None:
            try:
                self.sink(event)
            except (OSError, ValueError, EOFError):
                log.debug("progress event dropped: %s", event)
