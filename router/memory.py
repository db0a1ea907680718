"""In-memory CaseStore, for unit tests and the in-memory runtime."""

from __future__ import annotations

from router.ports import CaseFile, CaseStore


class MemoryCaseStore(CaseStore):
    def __init__(self) -> None:
        self._files: dict[str, CaseFile] = {}

    def get(self, case_id: str) -> CaseFile | None:
        return self._files.get(case_id)

    def put(self, file: CaseFile) -> None:
        self._files[file.case_id] = file

    def __len__(self) -> int:
        return len(self._files)
