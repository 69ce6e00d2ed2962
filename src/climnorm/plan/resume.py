"""Resume: an output a previous run recorded is up to date when nothing that shaped it changed (its
configuration's fingerprint, its inputs as the catalog lists them, for an output made of outputs the outputs it
was made of) and its file is still there. The record's size is trusted: the plan lists its output folders' names
and opens or stats no output; checking that a file is as large as recorded and holds the recorded data is
`climnorm verify`'s job (a truncated output is found there, and recomputed once its file is removed)."""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from climnorm.records import ComposedState, MemberOutput, OutputRecord, RecordState, folder_names, output_entry

T_Records = Mapping[str, OutputRecord]
"""A previous run's records by path: a manifest's (`climnorm.write.manifest.RecordMap`) or any mapping."""
_FOLDERS = 256  # output folders whose files' names a check keeps


class Recorded(Protocol):
    """Records that can say what resume compares without being read whole (a manifest's)."""

    def state(self, path: str) -> RecordState | None: ...

    def states(self, folder: str) -> Mapping[str, RecordState]: ...

    def input_id(self, entry: Mapping[str, Any]) -> int | None: ...

    def composed(self, path: str) -> ComposedState | None: ...


class Present(Protocol):
    """What is there of the outputs, a folder at a time (an output store: `climnorm.write.store`)."""

    def names(self, folder: str) -> frozenset[str]: ...


class Found(Protocol):
    """Whether an output is there, by its path (:class:`ResumeCheck`, from its folders' names listed once)."""

    def exists(self, path: str) -> bool: ...


@dataclass(frozen=True)
class LocalFolders:
    """The outputs present in a local output directory."""

    root: Path

    def names(self, folder: str) -> frozenset[str]:
        return folder_names(self.root / folder)

    def exists(self, path: str) -> bool:
        return (self.root / output_entry(path)).exists()


class ResumeCheck:
    """Whether each planned output is current against ``previous`` (as :func:`up_to_date` and :func:`made_of`
    say), at the scale of a whole ensemble: a manifest's records are compared by their state columns, a target's
    inputs are packed once for all its regions and products, output files' names are listed a folder at a time."""

    def __init__(self, previous: T_Records, present: Present) -> None:
        self.previous = previous
        self.present = present
        self.recorded: Recorded | None = previous if hasattr(previous, "state") else None  # type: ignore[assignment]
        self._packed: dict[int, tuple[object, bytes | None]] = {}  # by id() of the tuple (kept alive here)
        self._ids: dict[int, int | None] = {}  # by id() of the catalog entry
        self._alive: list[object] = []  # the entries of those ids
        self._folders: OrderedDict[str, frozenset[str]] = OrderedDict()

    def current(self, path: str, fingerprint: str, inputs: Sequence[Any]) -> str | None:
        """The recorded data checksum of the output at ``path`` if it is current: recorded with ``fingerprint`` and
        ``inputs`` (catalog entries), landed (its record has a size), its file there; else None."""
        return self.current_in(path.rpartition("/")[0], (path,), (fingerprint,), (inputs,))[0]

    def current_in(
        self, folder: str, paths: Sequence[str], fingerprints: Sequence[str], inputs: Sequence[Sequence[Any]]
    ) -> list[str | None]:
        """:meth:`current` of several outputs in one folder (``paths``, each with its fingerprint and inputs): the
        folder's records and its files' names looked up once for all of them."""
        if self.recorded is None:
            return [self._current(p, f, i) for p, f, i in zip(paths, fingerprints, inputs, strict=True)]
        states = self.recorded.states(folder)
        names: frozenset[str] | None = None
        cut = len(folder) + 1 if folder else 0  # a path's name in its folder
        found: list[str | None] = []
        for path, fingerprint, entries in zip(paths, fingerprints, inputs, strict=True):
            state = states.get(path)
            if (
                state is None
                or state.fingerprint != fingerprint
                or state.size is None
                or state.inputs != self._packed_inputs(entries)
            ):
                found.append(None)
                continue
            if names is None:
                names = self.names(folder)
            found.append(str(state.checksum) if output_entry(path[cut:]) in names else None)
        return found

    def _current(self, path: str, fingerprint: str, inputs: Sequence[Any]) -> str | None:
        """:meth:`current` against records that are a plain mapping (:func:`up_to_date`)."""
        record = self.previous.get(path)
        ok = up_to_date(record, fingerprint, [e.record for e in inputs], self)
        return str(record.checksum) if ok and record is not None else None

    def made_of(self, path: str, fingerprint: str, refs: Sequence[tuple[str, str, str]]) -> bool:
        """Whether the output made of outputs (an ensemble's, a change's) at ``path`` is current (:func:`made_of`):
        recorded with ``fingerprint``, made of exactly ``refs`` (member, path, checksum), landed, its file there."""
        if self.recorded is None:
            record = self.previous.get(path)
            return made_of(record, fingerprint, [MemberOutput(*r) for r in refs], self)
        state = self.recorded.composed(path)
        return (
            state is not None
            and state.fingerprint == fingerprint
            and state.size is not None
            and state.member_outputs == tuple(refs)
            and self.exists(path)
        )

    def checksum(self, path: str) -> str | None:
        """The recorded data checksum of the output at ``path`` (None: no record)."""
        if self.recorded is None:
            record = self.previous.get(path)
            return None if record is None else record.checksum
        state = self.recorded.state(path)
        return None if state is None else state.checksum

    def _packed_inputs(self, inputs: Sequence[Any]) -> bytes | None:
        """The manifest's ids of ``inputs`` packed as it stores them (None: one it never recorded), once per
        tuple of inputs, each input's id looked up once (by the identity of the catalog's entry, kept alive)."""
        known = self._packed.get(id(inputs))
        if known is None or known[0] is not inputs:
            ids = [self._ids.get(id(entry), -1) for entry in inputs]
            if -1 in ids:
                ids = [self._input_id(entry) for entry in inputs]
            packed = None if None in ids else struct.pack(f"<{len(ids)}I", *ids)
            known = self._packed[id(inputs)] = (inputs, packed)
        return known[1]

    def _input_id(self, entry: Any) -> int | None:
        assert self.recorded is not None
        if id(entry) not in self._ids:
            self._alive.append(entry)  # its id() stays its own
            self._ids[id(entry)] = self.recorded.input_id(entry.record)
        return self._ids[id(entry)]

    def exists(self, path: str) -> bool:
        """Whether the output file at ``path`` is there (its folder's names listed once; no file is stat'ed)."""
        folder, _, name = path.rpartition("/")
        return output_entry(name) in self.names(folder)

    def names(self, folder: str) -> frozenset[str]:
        """The names of a folder's files (the last :data:`_FOLDERS` folders' kept)."""
        names = self._folders.get(folder)
        if names is None:
            names = self._folders[folder] = self.present.names(folder)
            if len(self._folders) > _FOLDERS:
                self._folders.popitem(last=False)
        return names


def up_to_date(record: OutputRecord | None, fingerprint: str, inputs: list[Mapping[str, Any]], present: Found) -> bool:
    """Whether the output ``record`` describes can be kept as it is."""
    return (
        record is not None
        and record.fingerprint == fingerprint
        and list(record.inputs) == inputs
        and file_matches(record, present)
    )


def file_matches(record: OutputRecord, present: Found) -> bool:
    """Whether the output's file (its chain's store, for a target of the ``zarr`` layout) is there and its record
    says it landed (has a size). The size itself is trusted: an output not as recorded is `climnorm verify`'s to
    find."""
    return record.size is not None and present.exists(record.path)


def made_of(record: OutputRecord | None, fingerprint: str, refs: Sequence[MemberOutput], present: Found) -> bool:
    """Whether an output made of outputs (an ensemble, a change) is current: recorded with ``fingerprint``, made
    of exactly ``refs`` (their paths and checksums), landed, and its file there."""
    return (
        record is not None
        and record.fingerprint == fingerprint
        and tuple(record.member_outputs) == tuple(refs)
        and file_matches(record, present)
    )
