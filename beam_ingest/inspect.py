"""`beam-ingest inspect OUT`: the report and a few decoded examples, as text.

Examples are decoded with tfx_bsl's C++ decoder, so this needs no TensorFlow.
"""

from __future__ import annotations

import json

from beam_ingest import files, framing
from beam_ingest.errors import ConfigError
from beam_ingest.transforms.commit import REPORT_NAME


def _short(value: object) -> object:
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def read_examples(path: str, limit: int) -> list[dict]:
    """The first `limit` examples of a TFRecord file, decoded to dicts."""
    from tfx_bsl.coders import example_coder

    records = list(framing.read_records(path, limit=limit))
    if not records:
        return []
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    return batch.to_pylist()


def inspect_output(output_dir: str, *, examples: int = 3) -> str:
    """Raises: ConfigError: the folder holds no complete beam-ingest output."""
    report_path = files.join(output_dir, REPORT_NAME)
    if not files.exists(report_path):
        raise ConfigError(
            f"inspect: {output_dir!r} has no {REPORT_NAME}; it is not a complete beam-ingest output"
        )
    report = json.loads(files.read_bytes(report_path))
    lines = [
        f"output: {output_dir}",
        f"records read: {report['records_read']:,}   examples: {report['examples']:,}   "
        f"bad records: {report['bad_records']['count']:,}   seconds: {report['seconds']}",
        "schema: " + ", ".join(f"{k}:{v}" for k, v in report["schema"].items()),
    ]
    for name, split in report["splits"].items():
        lines.append(
            f"\nSplit-{name}: {split['examples']:,} examples in {len(split['files'])} file(s)"
        )
        shown = 0
        for relative in split["files"]:
            if shown >= examples:
                break
            for row in read_examples(files.join(output_dir, relative), examples - shown):
                lines.append("  " + json.dumps({k: _short(v) for k, v in sorted(row.items())}))
                shown += 1
    for sample in report["bad_records"]["first"]:
        lines.append(f"bad record: {sample}")
    return "\n".join(lines)
