"""The dead-letter record: what a bad input record becomes instead of an example."""

from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass(frozen=True)
class BadRecord:
    """One bad input record.

    `record` is the line number for text formats (1-based, the line where the
    record starts), else the record's index in the file. `raw` is the record as
    read; bytes that are not valid in the input encoding are kept as surrogate
    escapes, so `raw.encode("utf-8", "surrogateescape")` gives them back.
    """

    file: str
    record: int
    reason: str
    raw: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def describe(self) -> str:
        return f"{self.file}:{self.record}: {self.reason}"
