"""The one query over an output directory's manifest (:class:`OutputIndex`): every reader of finished outputs
(datasets, export, verify, zonal tables, pictures) selects records through it, and one error,
:class:`~climnorm.errors.OutputNotFound`, names what exists when nothing matches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from climnorm.errors import OutputNotFound
from climnorm.records import OutputRecord
from climnorm.write.manifest import Manifest

T_Wanted = str | int | Iterable[str | int] | None
"""One value, any of several, or None (any)."""


def _matches(record: OutputRecord, key: str, allowed: set[str]) -> bool:
    if key == "statistic":  # an ensemble output holds several
        return bool(allowed & set(record.statistics))
    if key == "member":
        return record.member in allowed
    return str(record.value(key)) in allowed


def _present(records: Iterable[OutputRecord], key: str) -> str:
    if key == "statistic":
        values = {s for r in records for s in r.statistics}
    else:
        values = {str(r.member if key == "member" else r.value(key)) for r in records}
    return ", ".join(sorted(values)) or "none"


def _allowed(value: str | int | Iterable[str | int]) -> set[str]:
    return {str(value)} if isinstance(value, str | int) else {str(v) for v in value}


@dataclass(frozen=True)
class OutputIndex:
    """The records of an output directory's manifest (with the journal of an interrupted run replayed), by path."""

    output_dir: Path
    records: tuple[OutputRecord, ...]  # the normals (members' and ensembles')
    changes: tuple[OutputRecord, ...] = ()  # the change files, apart: a reader of normals never meets one

    @classmethod
    def load(cls, output_dir: Path | str) -> OutputIndex:
        """The index of ``output_dir``; OutputNotFound when it has no manifest or the manifest lists nothing."""
        output_dir = Path(output_dir)
        if not Manifest.exists(output_dir):
            raise OutputNotFound(f"{output_dir}: no manifest here; is this a climnorm output directory?")
        manifest = Manifest.read(output_dir)
        try:
            ordered = list(manifest.select())
        finally:
            manifest.close()
        if not ordered:
            raise OutputNotFound(f"{output_dir}: no outputs are listed in its manifest")
        return cls(output_dir, tuple(r for r in ordered if not r.is_change), tuple(r for r in ordered if r.is_change))

    def select(self, **wanted: T_Wanted) -> list[OutputRecord]:
        """The records whose fields have the wanted values (any of several; None: any), narrowed in the order the
        keys are given: ``variable``, ``region``, ``scenario``, ``product``, ``model``, ``variant``, ``member``
        ("ACCESS-CM2 r1i1p1f1" or "ensemble"), ``statistic`` (of an ensemble output), ``period``,
        ``target_year``, ``window_years``. When a key leaves nothing, OutputNotFound names the values there are."""
        chosen = list(self.records)
        what: list[str] = []
        for key, value in wanted.items():
            if value is None:
                continue
            allowed = _allowed(value)
            narrowed = [r for r in chosen if _matches(r, key, allowed)]
            if not narrowed:
                asked = repr(value) if isinstance(value, str | int) else " or ".join(map(repr, value))
                head = " ".join(what) or "outputs"
                raise OutputNotFound(f"{head}: no {key} {asked} (there are: {_present(chosen, key)})")
            chosen = narrowed
            what.append(", ".join(sorted(allowed)))
        return chosen

    def path(self, record: OutputRecord) -> Path:
        """Where a record's file is."""
        return self.output_dir / record.path
