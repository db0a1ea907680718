"""In-memory CaseStore: the port's reference behaviour, for unit tests and the port suite."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from router.ports import CaseFile, CaseStore, NearbyCase, Probe, point_in
from schemas.cases import Stage


class MemoryCaseStore(CaseStore):
    def __init__(self) -> None:
        self._files: dict[str, CaseFile] = {}

    def open_near(self, probes: Sequence[Probe]) -> list[NearbyCase]:
        out = []
        for f in self._files.values():
            near = point_in(f, probes) if f.stage is not Stage.CLOSED else None
            if near is not None:
                out.append(near)
        return out

    def load(self, case_ids: Collection[str]) -> dict[str, CaseFile]:
        return {i: self._files[i] for i in case_ids if i in self._files}

    def save(self, files: Sequence[CaseFile]) -> None:
        for file in files:
            self._files[file.case_id] = file
