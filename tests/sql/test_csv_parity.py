"""The taxi CSV loaded into PostgreSQL gives byte-identical examples, in the
same splits, as the CSV path on the file itself."""

from __future__ import annotations

import pytest

from beam_ingest import cli
from tests.formats import TAXI
from tests.helpers import read_report, split_records

_SQL_TYPES = {"int": "bigint", "float": "double precision", "bytes": "text"}


@pytest.fixture(scope="module")
def both(postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    assert cli.main(["run", "--format", "csv", "--input", TAXI, "--output", str(root / "csv")]) == 0
    schema = read_report(str(root / "csv"))["schema"]
    with open(TAXI) as f:
        header = f.readline().strip().split(",")
    columns = ", ".join(f"{name} {_SQL_TYPES[schema[name]]}" for name in header)
    postgres.psql(f"create table taxi ({columns})")
    postgres.psql(f"\\copy taxi from '{TAXI}' with (format csv, header true)")
    url = postgres.url(with_password=True)
    assert cli.main(["run", "--format", "sql", "--connection", url, "--query",
                     "select * from taxi", "--partitions", "3",
                     "--output", str(root / "sql")]) == 0  # fmt: skip
    return root


@pytest.mark.parametrize("split", ["train", "eval"])
def test_same_examples_in_the_same_splits(both, split):
    csv = sorted(split_records(str(both / "csv"), split))
    sql = sorted(split_records(str(both / "sql"), split))
    assert len(csv) > 4000 and csv == sql


def test_same_schema(both):
    assert read_report(str(both / "csv"))["schema"] == read_report(str(both / "sql"))["schema"]
