"""ReadCsv cuts a big file into byte ranges at record starts: the cuts, and
equal examples and bad records with and without cutting."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
import random

import pytest

from beam_ingest import IngestConfig
from beam_ingest.connectors._csv_ranges import plan_ranges
from beam_ingest.connectors._csv_read import PlanRangesFn
from beam_ingest.connectors.csv import CsvDialect, ReadCsv
from beam_ingest.errors import ConfigError
from beam_ingest.splits import SplitSpec
from tests.helpers import bad_records, decode, run_ingest, split_records

BOM = b"\xef\xbb\xbf"


def _rows(data: bytes, line: int, *, quoting: bool = True, bom: bool = True) -> list[tuple]:
    """(first line, cells) of each record, as Python's csv reads lines."""
    text = io.StringIO(data.decode("utf-8-sig" if bom else "utf-8"), newline="")
    lines = [line - 1]

    def feed():
        for piece in iter(text.readline, ""):
            lines[0] += 1
            yield piece

    reader = csv.reader(
        feed(), strict=False, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
    )
    out = []
    while True:
        start = lines[0] + 1
        row = next(reader, None)
        if row is None:
            return out
        out.append((start, row))


PIECES = ["a", "b,c", '"q"', '"x\ny"', '"x\r\ny"', '"a""b"', 'ab"c', '"a"b"', "", '"', '""', "\r"]


@pytest.mark.parametrize("quoting", [True, False])
def test_ranges_parse_as_the_whole_file(quoting):
    """Random files (quoted line breaks, doubled and stray quotes, CRLF, lone CR,
    blank lines, BOM), cut with tiny bundles and read chunks: the ranges hold
    the records of the file, and each range's first line is right."""
    rng = random.Random(7)
    for _ in range(1500):
        body = "".join(
            rng.choice(PIECES) + rng.choice(["\n", ",", "\r\n", "", "\n\n"])
            for _ in range(rng.randint(0, 30))
        )
        data = (BOM if rng.random() < 0.3 else b"") + body.encode()
        ranges = plan_ranges(
            io.BytesIO(data),
            len(data),
            rng.randint(1, 30),
            delimiter=b",",
            quote=b'"' if quoting else None,
            bom=BOM,
            chunk=rng.randint(1, 17),
        )
        assert ranges[0][0] == 0 and ranges[-1][1] is None
        assert all(a[1] == b[0] and a[0] < b[0] < len(data) for a, b in itertools.pairwise(ranges))
        got = [
            row
            for start, end, line in ranges
            for row in _rows(data[start:end], line, quoting=quoting, bom=start == 0)
        ]
        assert got == _rows(data, 1, quoting=quoting), (data, ranges)


def test_a_file_without_quotes_is_cut_near_equal_parts():
    data = b"".join(b"%d,x\n" % i for i in range(1000))
    ranges = plan_ranges(io.BytesIO(data), len(data), 1000, delimiter=b",", quote=b'"', chunk=64)
    assert len(ranges) == -(-len(data) // 1000)
    sizes = [(end or len(data)) - start for start, end, _ in ranges]
    assert max(sizes) - min(sizes) < 20
    assert all(data[start - 1 : start] == b"\n" for start, _, _ in ranges[1:])


def _plan(path, dialect=None, bundle=10):
    return list(
        PlanRangesFn(dialect or CsvDialect(), bundle).process((str(path), os.path.getsize(path)))
    )


@pytest.mark.parametrize(
    ("name", "data", "dialect"),
    [
        ("c.csv.gz", gzip.compress(b"a,b\n" + b"1,2\n" * 50), CsvDialect()),
        ("e.csv", b"a,b\n" + b"1,x\\,y\n" * 50, CsvDialect(escape_char="\\")),
        ("u.csv", "a,b\n1,2\n".encode("utf-16") * 10, CsvDialect(encoding="utf-16")),
        ("small.csv", b"a,b\n1,2\n", CsvDialect()),
    ],
)
def test_files_that_are_one_unit(tmp_path, name, data, dialect):
    (tmp_path / name).write_bytes(data)
    assert _plan(tmp_path / name, dialect, bundle=10) == [(str(tmp_path / name), 0, None, 1)]


def test_bundle_size_must_be_positive():
    with pytest.raises(ConfigError, match=r"desired_bundle_size must be an int >= 1; got 0"):
        ReadCsv("x.csv", desired_bundle_size=0)


# --- one file, ingested cut into ~32 ranges and whole ------------------------

BAD_LINE_TEXT = "30,only two"


def _big_file() -> tuple[bytes, int, int, list[tuple[int, int]]]:
    """BOM, CRLF and LF, blank lines, quoted line breaks, one short row, and a
    quote left open at the end. Returns the bytes, the short row's line, the
    open quote's line and the byte spans of quoted multi-line fields."""
    out, line, spans = [BOM, b"id,name,score\r\n"], 2, []
    bad_line = 0
    for i in range(60):
        end = b"\r\n" if i % 4 == 0 else b"\n"
        if i == 30:
            bad_line = line
            out.append(BAD_LINE_TEXT.encode() + end)
        elif i % 3 == 0:
            offset = sum(map(len, out)) + len(b"%d," % i)
            field = b'"row %d\nhas ""two"" lines"' % i
            spans.append((offset, offset + len(field)))
            out.append(b"%d,%s,%d.5%s" % (i, field, i, end))
            line += 1
        else:
            out.append(b"%d,name %d,%d%s" % (i, i, i, end))
        line += 1
        if i % 7 == 6:
            out.append(b"\n")
            line += 1
    out.append(b'60,"open,1\n61,x,2\n')
    return b"".join(out), bad_line, line, spans


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranges")
    data, bad_line, open_line, spans = _big_file()
    (folder / "big.csv").write_bytes(data)
    reports = {}
    for name, bundle in (("cut", 40), ("whole", 32 << 20)):
        out = folder / name
        reports[name] = run_ingest(
            IngestConfig(
                source=ReadCsv(str(folder / "big.csv"), desired_bundle_size=bundle),
                output_dir=str(out),
                max_bad_records=10,
                splits=(SplitSpec(name="all", buckets=1),),
            )
        )
    return folder, data, bad_line, open_line, spans, reports


def test_the_file_is_cut_inside_quoted_line_breaks(runs):
    folder, data, _, _, spans, _ = runs
    ranges = _plan(folder / "big.csv", bundle=40)
    count = len(ranges)
    assert count >= 25
    targets = [len(data) * k // count for k in range(1, count)]
    assert any(a < t < b for t in targets for a, b in spans)  # a target inside a quoted field
    assert all(data[start - 1 : start] == b"\n" for _, start, _, _ in ranges[1:])


def _examples(folder, name) -> list:
    return sorted(
        (decode(r) for r in split_records(str(folder / name), "all")), key=lambda e: e["id"][1]
    )


def test_equal_examples_cut_or_whole(runs):
    folder, *_ = runs
    cut = _examples(folder, "cut")
    assert cut == _examples(folder, "whole")
    assert len(cut) == 59  # 60 rows less the short one; the open quote's rows are bad
    assert cut[3]["name"][1] == [b'row 3\nhas "two" lines']
    assert cut[0]["score"][0] == "float_list"


def test_bad_records_name_lines_of_the_whole_file(runs):
    folder, _, bad_line, open_line, _, reports = runs
    expected = [
        (bad_line, "wrong field count: expected 3, got 2", BAD_LINE_TEXT),
        (
            open_line,
            f"unbalanced quote: the field opened on line {open_line} runs to the end of the file",
            '60,"open,1\n61,x,2',
        ),
    ]
    for name in ("cut", "whole"):
        got = sorted((r["record"], r["reason"], r["raw"]) for r in bad_records(str(folder / name)))
        assert got == expected, name
        report = reports[name]
        assert report["records_read"] == 61
        assert report["records_read"] == report["examples"] + report["bad_records"]["count"]
