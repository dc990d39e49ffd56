"""`beam-ingest inspect OUT`: the report and a few decoded examples, as text.

Examples are decoded with tfx_bsl's C++ decoder, so this needs no TensorFlow.
"""

from __future__ import annotations

import json

from beam_ingest import files, formats, framing
from beam_ingest.errors import ConfigError
from beam_ingest.transforms.commit import REPORT_NAME


def _short(value: object) -> object:
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def _schema_items(schema: dict) -> list[str]:
    """`name:kind` per feature; a SequenceExample's feature lists as `name:[kind]`."""
    items = []
    for name, kind in schema.items():
        if isinstance(kind, dict):  # ##SEQUENCE##: the feature lists
            items += [f"{n}:[{k}]" for n, k in kind.items()]
        else:
            items.append(f"{name}:{kind}")
    return items


def read_examples(path: str, limit: int, output_format: str | None = None) -> list[dict]:
    """The first `limit` examples of an output file (of `output_format`, the
    report's; TFRecord by default), decoded to dicts."""
    if output_format is not None:
        return formats.output_format(output_format).sink_class().read_rows(path, limit)
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
        f"output format: {report.get('output_format') or formats.output_names()[0]}",
        "schema: " + ", ".join(_schema_items(report["schema"])),
    ]
    sequences = report.get("payload_format") == "FORMAT_TF_SEQUENCE_EXAMPLE"
    protos = report.get("payload_format") == "FORMAT_PROTO"
    describe = _proto_describer(report) if protos else None
    for name, split in report["splits"].items():
        size = f", {split['bytes']:,} bytes" if "bytes" in split else ""
        lines.append(
            f"\nSplit-{name}: {split['examples']:,} examples in {len(split['files'])} file(s){size}"
        )
        shown = 0
        for relative in split["files"]:
            if shown >= examples:
                break
            path = files.join(output_dir, relative)
            if sequences:  # the context, then the first steps as a table
                from beam_ingest.sequence_example import describe_sequence

                for record in framing.read_records(path, limit=examples - shown):
                    lines += ["  " + line for line in describe_sequence(record)]
                    shown += 1
                continue
            if protos:  # as text format when the report names the message type
                for record in framing.read_records(path, limit=examples - shown):
                    lines.append(f"  {len(record):,} bytes: {describe(record)}")
                    shown += 1
                continue
            for row in read_examples(path, examples - shown, report.get("output_format")):
                lines.append("  " + json.dumps({k: _short(v) for k, v in sorted(row.items())}))
                shown += 1
    for sample in report["bad_records"]["first"]:
        lines.append(f"bad record: {sample}")
    return "\n".join(lines)


def _proto_describer(report: dict):
    """Proto records as text: with the message type the run read them as
    (report `proto`), else their first bytes."""
    proto = next(iter((report.get("proto") or {}).values()), None)
    if proto is not None:
        from beam_ingest.proto_records import MessageType

        try:
            return MessageType(proto["descriptor"], proto["message"]).describe
        except ConfigError:  # the descriptor moved: show bytes
            pass
    return lambda record: repr(record[:40]) + ("..." if len(record) > 40 else "")
