"""One exported PostgreSQL snapshot per pipeline and database, for `ReadSql`.

Every `ReadSql` of one Beam pipeline on one PostgreSQL connection (all the
`--query-split` splits, all the spans, all their partitions) reads one
snapshot. The first of them to be built opens a `REPEATABLE READ`
transaction in the launching process and exports its snapshot
(`pg_export_snapshot()`, `_sql_connect.Session.export_snapshot`); the later
ones join it (`join`), and plan in it. Every partition of every member sets
it (`SET TRANSACTION SNAPSHOT`) before it reads.

The exporting transaction is held until every member's partitions have all
read (`finished`, which runs in the launching process on the DirectRunner),
or until `release`: `ReadSql.close()`, the pipeline's garbage collection,
process exit. On a remote runner the launcher must wait for the job (the
CLI, the Flex Template launcher and the TFX executor do).
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import weakref

from beam_ingest.connectors._sql_connect import Connection, Session

__all__ = ["finished", "hold", "join", "release", "shared"]

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class _Holder:
    session: Session
    members: set[str]
    group: dict  # the pipeline's {connection key: snapshot}
    key: tuple


#: The sessions holding an exported snapshot open, by snapshot id.
_HOLDERS: dict[str, _Holder] = {}
#: pipeline -> {connection key: snapshot id} of the snapshots it reads.
_GROUPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _key(connection: Connection) -> tuple:
    return (connection.url, connection.password_env)


def shared(pipeline, connection: Connection) -> str | None:
    """The snapshot `pipeline` already reads this database in, if one is held."""
    snapshot = _GROUPS.get(pipeline, {}).get(_key(connection))
    return snapshot if snapshot in _HOLDERS else None


def hold(pipeline, connection: Connection, session: Session, snapshot: str, member: str) -> None:
    """Keeps `session` (whose transaction exported `snapshot`) open for the
    pipeline's reads of this database; `member` is the first reader."""
    group = _GROUPS.setdefault(pipeline, {})
    key = _key(connection)
    group[key] = snapshot
    _HOLDERS[snapshot] = _Holder(session, {member}, group, key)
    weakref.finalize(pipeline, release, snapshot)


def join(snapshot: str, member: str) -> None:
    """Adds a reader of the held `snapshot` (released once all have read)."""
    _HOLDERS[snapshot].members.add(member)


def finished(_count: int, snapshot: str, member: str) -> None:
    """Every partition of `member` has read: the snapshot ends when it was the
    last reader. A no-op in a process that does not hold it (a worker)."""
    holder = _HOLDERS.get(snapshot)
    if holder is None:
        return
    holder.members.discard(member)
    if not holder.members:
        release(snapshot)


def release(snapshot: str) -> None:
    """Ends the exporting transaction now, if this process holds it."""
    holder = _HOLDERS.pop(snapshot, None)
    if holder is None:
        return
    if holder.group.get(holder.key) == snapshot:
        del holder.group[holder.key]
    _LOG.debug("released the exported snapshot %s", snapshot)
    holder.session.close()


def _release_all() -> None:
    for snapshot in list(_HOLDERS):
        release(snapshot)


atexit.register(_release_all)
