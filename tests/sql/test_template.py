"""The Flex Template launcher with `--format=sql` parameters (on the DirectRunner)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.helpers import read_report

ROOT = Path(__file__).resolve().parents[2]


def test_the_launcher_reads_a_query(tmp_path):
    with sqlite3.connect(tmp_path / "t.db") as c:
        c.execute("create table t(id integer, s text)")
        c.executemany("insert into t values (?, ?)", [(i, f"s{i}") for i in range(60)])
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(ROOT / "templates" / "launcher.py"), "--format=sql",
         f"--connection=sqlite:///{tmp_path}/t.db",
         "--query_split=train=select * from t where id < 40;eval=select * from t where id >= 40",
         "--partition_column=id", "--partitions=2", f"--output={out}",
         "--direct_num_workers=1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = read_report(str(out))
    assert report["splits"]["train"]["examples"] == 40
    assert report["splits"]["eval"]["examples"] == 20
    assert len(report["sql"]["train"]["partitions"]) == 3
