"""Repository of received webhooks: one row per delivery (X-Shopify-Webhook-Id), kept until processed.

A delivery is stored before it is acknowledged; a second delivery of the same id changes
nothing. Processing takes the row's lock (`lock_event`, or `lock_next_waiting` which skips rows
another worker holds), so concurrent workers never process one event twice, and records the
outcome in the same transaction as the effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

MAX_ERROR_CHARS = 500

Status = Literal["received", "processed", "failed"]


class WebhookEvent(BaseModel):
    """A verified delivery as it is stored: its headers and the kept part of its payload."""

    model_config = ConfigDict(frozen=True)

    webhook_id: str = Field(min_length=1, max_length=100)
    event_id: str | None = Field(None, max_length=100)
    shop_domain: str
    topic: str
    api_version: str | None = None
    triggered_at: AwareDatetime | None = None
    payload: dict
    verified_with: Literal["current", "previous"] = "current"


class StoredEvent(WebhookEvent):
    status: Status
    attempts: int
    received_at: AwareDatetime
    processed_at: AwareDatetime | None = None
    next_attempt_at: AwareDatetime | None = None
    last_error: str | None = None
    outcome: str | None = None


_COLUMNS = """webhook_id, event_id, shop_domain, topic, api_version, triggered_at, payload, verified_with, status,
              attempts, received_at, processed_at, next_attempt_at, last_error, outcome"""


def insert_event(
    conn: psycopg.Connection, event: WebhookEvent, *, failed_reason: str | None = None, attempts: int = 0
) -> bool:
    """Store a delivery unless its webhook id is stored already; True when this call stored it.

    `failed_reason` stores it as failed at once (a verified body that cannot be read), so it is
    kept for an operator; with `attempts` at the cap it is not retried.
    """
    row = conn.execute(
        """INSERT INTO webhook_events (webhook_id, event_id, shop_domain, topic, api_version, triggered_at, payload,
                                       verified_with, status, last_error, attempts)
           VALUES (%(webhook_id)s, %(event_id)s, %(shop_domain)s, %(topic)s, %(api_version)s, %(triggered_at)s,
                   %(payload)s, %(verified_with)s, %(status)s, %(last_error)s, %(attempts)s)
           ON CONFLICT (webhook_id) DO NOTHING
           RETURNING webhook_id""",
        {**event.model_dump(), "payload": Jsonb(event.payload),
         "status": "failed" if failed_reason else "received", "last_error": _short(failed_reason), "attempts": attempts},
    ).fetchone()
    return row is not None


def delivery_state(conn: psycopg.Connection, webhook_id: str) -> tuple[Status, datetime] | None:
    """(status, received_at) of a stored delivery, or None."""
    row = conn.execute("SELECT status, received_at FROM webhook_events WHERE webhook_id = %s", (webhook_id,)).fetchone()
    return (row["status"], row["received_at"]) if row else None


def get_event(conn: psycopg.Connection, webhook_id: str) -> StoredEvent | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM webhook_events WHERE webhook_id = %s", (webhook_id,)).fetchone()
    return StoredEvent.model_validate(row) if row else None


def lock_event(conn: psycopg.Connection, webhook_id: str) -> StoredEvent | None:
    """The event with its row lock held until the transaction ends (waits for another holder)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_events WHERE webhook_id = %s FOR UPDATE", (webhook_id,)
    ).fetchone()
    return StoredEvent.model_validate(row) if row else None


def lock_next_waiting(
    conn: psycopg.Connection, *, now: datetime, max_attempts: int, shop_domain: str | None = None
) -> StoredEvent | None:
    """The oldest event waiting to be (re)processed that no other worker holds, locked.

    Waiting: received and never processed, or failed with retries left and its retry time come.
    Oldest by when Shopify raised it, so changes to one resource apply in their order.
    """
    row = conn.execute(
        f"""SELECT {_COLUMNS} FROM webhook_events
            WHERE status <> 'processed' AND attempts < %(max)s
              AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
              AND (%(shop)s::text IS NULL OR shop_domain = %(shop)s)
            ORDER BY COALESCE(triggered_at, received_at), received_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED""",
        {"now": now, "max": max_attempts, "shop": shop_domain},
    ).fetchone()
    return StoredEvent.model_validate(row) if row else None


def processed_twin(conn: psycopg.Connection, event: StoredEvent) -> str | None:
    """The webhook id of another, processed delivery of the same event (one per subscription), if any."""
    if not event.event_id:
        return None
    row = conn.execute(
        """SELECT webhook_id FROM webhook_events
           WHERE shop_domain = %s AND event_id = %s AND topic = %s AND status = 'processed' AND webhook_id <> %s
           LIMIT 1""",
        (event.shop_domain, event.event_id, event.topic, event.webhook_id),
    ).fetchone()
    return row["webhook_id"] if row else None


def mark_processed(conn: psycopg.Connection, webhook_id: str, outcome: str, now: datetime) -> None:
    conn.execute(
        """UPDATE webhook_events SET status = 'processed', processed_at = %s, outcome = %s, last_error = NULL,
                                     next_attempt_at = NULL, attempts = attempts + 1
           WHERE webhook_id = %s""",
        (now, _short(outcome), webhook_id),
    )


def mark_failed(conn: psycopg.Connection, webhook_id: str, error: str, retry_at: datetime) -> None:
    conn.execute(
        """UPDATE webhook_events SET status = 'failed', last_error = %s, next_attempt_at = %s, attempts = attempts + 1
           WHERE webhook_id = %s""",
        (_short(error), retry_at, webhook_id),
    )


def product_was_deleted(conn: psycopg.Connection, shop_domain: str, product_number: str) -> bool:
    """Whether a processed products/delete of this product (REST id) is on record."""
    row = conn.execute(
        """SELECT 1 FROM webhook_events
           WHERE topic = 'products/delete' AND shop_domain = %s AND payload ->> 'id' = %s AND status = 'processed'
           LIMIT 1""",
        (shop_domain, product_number),
    ).fetchone()
    return row is not None


def prune_processed(conn: psycopg.Connection, processed_before: datetime, limit: int = 5000) -> int:
    """Delete up to `limit` events processed before `processed_before`; how many went."""
    cur = conn.execute(
        """DELETE FROM webhook_events WHERE webhook_id IN (
               SELECT webhook_id FROM webhook_events
               WHERE status = 'processed' AND processed_at < %s LIMIT %s)""",
        (processed_before, limit),
    )
    return max(cur.rowcount, 0)


def status_counts(conn: psycopg.Connection, shop_domain: str | None = None) -> dict[str, int]:
    rows = conn.execute(
        """SELECT status, count(*)::integer AS n FROM webhook_events
           WHERE %(shop)s::text IS NULL OR shop_domain = %(shop)s GROUP BY status""",
        {"shop": shop_domain},
    ).fetchall()
    return {r["status"]: r["n"] for r in rows}


def failed_events(conn: psycopg.Connection, shop_domain: str | None = None, limit: int = 100) -> list[StoredEvent]:
    """Failed events, newest first, for an operator (their payloads hold no personal data)."""
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM webhook_events
            WHERE status = 'failed' AND (%(shop)s::text IS NULL OR shop_domain = %(shop)s)
            ORDER BY received_at DESC LIMIT %(limit)s""",
        {"shop": shop_domain, "limit": limit},
    ).fetchall()
    return [StoredEvent.model_validate(r) for r in rows]


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 1] + "…"
