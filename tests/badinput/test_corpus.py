"""Every case of the bad-input corpus through the real CLI entry point, in process.

A case ends in a configuration error (exit 2, a message, nothing written), a
run that dead-letters its bad records (exit 1 by default, exit 0 with
`--max-bad-records`, every record accounted for, the raw record kept), or a
valid run. Never a traceback, never a silent drop.
"""

from __future__ import annotations

import glob
import os

import pytest

from beam_ingest.cli import main
from tests.badinput.corpus import CASES, Case, ConfigError, DeadLetter, Ok
from tests.badinput.corpus_more import MORE_CASES, Fails
from tests.helpers import bad_records, decode, read_report, split_records

_ALLOWED = "1000"


def _cli(capsys, args: list[str]) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "the run failed:" not in err, err  # an error beam-ingest did not expect
    return code, err


def _nothing_complete(output: str) -> bool:
    return not glob.glob(os.path.join(output, "Split-*")) and not os.path.exists(
        os.path.join(output, "ingest_report.json")
    )


def _listing(output: str) -> list[str]:
    return sorted(glob.glob(os.path.join(output, "**"), recursive=True))


def _prepare(case: Case, folder) -> tuple[list[str], str]:
    made = case.make(folder)
    pattern, output = made if isinstance(made, tuple) else (made, str(folder / "out"))
    args = [a.format(folder=folder) for a in case.args]
    argv = ["run", "--format", case.format, "--input", pattern, "--output", output, *args]
    return argv, output


@pytest.mark.parametrize("case", CASES + MORE_CASES, ids=str)
def test_case(case: Case, tmp_path, capsys):
    argv, output = _prepare(case, tmp_path)
    expect = case.expect
    if isinstance(expect, ConfigError):
        before = _listing(output)
        code, err = _cli(capsys, argv)
        assert code == 2, err
        assert expect.message in err
        assert err.startswith("beam-ingest: error: --"), err  # names the argument
        assert _listing(output) == before  # nothing written, nothing deleted
        return
    if isinstance(expect, Fails):
        code, err = _cli(capsys, argv)
        assert code == 1, err
        assert expect.message in err, err
        assert _nothing_complete(output)
        return
    if isinstance(expect, DeadLetter):
        code, err = _cli(capsys, argv)  # by default one bad record fails the run
        assert code == 1, err
        assert f"{expect.bad} bad record(s), more than --max-bad-records 0" in err
        assert _nothing_complete(output)
        argv += ["--max-bad-records", _ALLOWED]
    code, err = _cli(capsys, argv)
    assert code == 0, err
    report = read_report(output)
    examples = [decode(r) for s in report["splits"] for r in split_records(output, s)]
    assert report["records_read"] == report["examples"] + report["bad_records"]["count"]
    assert report["examples"] == len(examples)
    if isinstance(expect, Ok):
        assert (len(examples), report["bad_records"]["count"]) == (expect.examples, 0)
        assert expect.check is None or expect.check(examples), examples
        return
    rows = bad_records(output)
    assert (len(examples), len(rows)) == (expect.examples, expect.bad), rows
    assert report["bad_records"]["count"] == expect.bad
    for row, raw in zip(rows, expect.raw, strict=False):
        assert raw in row["raw"], row
    for row in rows:
        assert expect.reason in row["reason"], row
        assert row["file"] and isinstance(row["record"], int)
