"""The plan of benchmarks/run.py: its paths, formats, tools and workloads.

A tool is one of TOOL_IDS; a Workload is one input file (or image folder) of one
format and size. `supports` says which tools run on which formats, `exact` which
write TFX's examples (so their split counts are compared).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent

TABLE_FORMATS = ("csv", "jsonl", "parquet", "avro")
ALL_FORMATS = (*TABLE_FORMATS, "images")
TOOL_IDS = ("beam1", "beam2", "tfx", "pandas", "floor", "startup")
STARTUP_ROWS = 10
TFX_LABELS = {
    "csv": "TFX CsvExampleGen",
    "parquet": "TFX parquet_executor",
    "avro": "TFX avro_executor",
}


@dataclass(frozen=True)
class Workload:
    fmt: str  # csv, jsonl, parquet, avro, images
    rows: int  # rows, or images
    input: Path  # the file, or for images the root folder
    scaling_only: bool = False

    @property
    def name(self) -> str:
        unit = "images" if self.fmt == "images" else "rows"
        return f"{self.fmt} {self.rows:,} {unit}"

    @property
    def slug(self) -> str:
        return f"{self.fmt}_{self.rows}"


def tool_label(tool: str, fmt: str) -> str:
    if tool == "beam1":
        return "beam-ingest, 1 worker"
    if tool == "beam2":
        return "beam-ingest, 2 workers"
    if tool == "tfx":
        return TFX_LABELS[fmt]
    if tool == "pandas":
        return "Pillow loop" if fmt == "images" else "pandas loop"
    return "floor"


def supports(tool: str, fmt: str) -> bool:
    if tool == "tfx":
        return fmt in TFX_LABELS
    if tool == "floor":
        return fmt in TABLE_FORMATS
    return tool != "startup"


def exact(tool: str, fmt: str) -> bool:
    """Whether the tool writes TFX's examples (so its split counts must match)."""
    return tool in ("beam1", "beam2", "pandas") or (tool == "tfx" and fmt == "csv")
