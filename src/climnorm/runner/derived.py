"""Outputs made of the run's outputs (changes, ensembles): each waits until what it is made of has settled, as the
`Reporter` tells its listeners, then is written on the engine like any output, or kept when it is up to date."""

from __future__ import annotations

from climnorm.plan.build import Plan
from climnorm.plan.planned import T_Output
from climnorm.runner.landing import WriteQueue
from climnorm.runner.summary import Reporter
from climnorm.write.manifest import Manifest


class DerivedQueue:
    """What every queue of outputs made of outputs shares: the run's plan, manifest, writes and reporter, and its
    place among the reporter's listeners."""

    def __init__(self, plan: Plan, manifest: Manifest, writes: WriteQueue, reporter: Reporter, *, force: bool):
        self.plan = plan
        self.manifest = manifest
        self.writes = writes
        self.reporter = reporter
        self.force = force
        reporter.listeners.append(self.settled)

    def settled(self, out: T_Output, available: bool) -> None:
        """An output is written, up to date, or will not be written."""
        raise NotImplementedError

    def submit_ready(self) -> bool:
        """Write (or keep) those whose outputs have all settled; True if any was submitted."""
        raise NotImplementedError
