"""Repository of the Durable instance histories waiting to be purged (see migration 0008)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import psycopg
from pydantic import BaseModel, ConfigDict


class QueuedPurge(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance_id: str
    include_children: bool
    attempts: int


def queue_purges(conn: psycopg.Connection, instance_ids: Iterable[str], *, include_children: bool,
                 now: datetime) -> int:
    """Queue each id once (a redelivered redaction queues nothing new); how many were new."""
    ids = sorted(set(instance_ids))
    if not ids:
        return 0
    return conn.execute(
        """INSERT INTO durable_history_purges (instance_id, include_children, requested_at)
           SELECT id, %s, %s FROM unnest(%s::text[]) AS id
           ON CONFLICT (instance_id) DO UPDATE SET include_children =
               durable_history_purges.include_children OR EXCLUDED.include_children""",
        (include_children, now, ids),
    ).rowcount


def queued_purges(conn: psycopg.Connection, limit: int) -> list[QueuedPurge]:
    rows = conn.execute(
        """SELECT instance_id, include_children, attempts FROM durable_history_purges
           ORDER BY requested_at, instance_id LIMIT %s""",
        (limit,),
    ).fetchall()
    return [QueuedPurge.model_validate(r) for r in rows]


def purge_done(conn: psycopg.Connection, instance_id: str) -> None:
    conn.execute("DELETE FROM durable_history_purges WHERE instance_id = %s", (instance_id,))


def purge_failed(conn: psycopg.Connection, instance_id: str, error: str) -> None:
    conn.execute(
        "UPDATE durable_history_purges SET attempts = attempts + 1, last_error = %s WHERE instance_id = %s",
        (error[:300], instance_id),
    )
