"""Repository of finished bulk operations, as `bulk_operations/finish` reports them, for the bulk sync to poll.

The webhook only records; the bulk sync decides what to do:

    with transaction() as conn:
        for finish in unconsumed_finishes(conn, shop_id):
            ...  # COMPLETED: read node(id:) { ... on BulkOperation { url } } and import it
            mark_consumed(conn, shop_id, finish.operation_id)

A redelivery of the same notification leaves one row; `url` is not in Shopify's payload
today, so it is usually None until the bulk sync fills it in (`set_url`).
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from pydantic import AwareDatetime, BaseModel, ConfigDict


class BulkOperationFinish(BaseModel):
    model_config = ConfigDict(frozen=True)

    shop_id: int
    operation_id: str
    status: str  # BulkOperationStatus: COMPLETED, FAILED, CANCELED, EXPIRED
    operation_type: str | None
    error_code: str | None
    url: str | None
    created_at: AwareDatetime | None
    completed_at: AwareDatetime | None
    received_at: AwareDatetime
    consumed_at: AwareDatetime | None


_COLUMNS = """shop_id, operation_id, status, operation_type, error_code, url, created_at, completed_at,
              received_at, consumed_at"""


def record_finish(
    conn: psycopg.Connection, shop_id: int, *, operation_id: str, status: str, operation_type: str | None,
    error_code: str | None, url: str | None, created_at: datetime | None, completed_at: datetime | None,
) -> None:
    conn.execute(
        """INSERT INTO bulk_operation_finishes (shop_id, operation_id, status, operation_type, error_code, url,
                                                created_at, completed_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (shop_id, operation_id) DO UPDATE SET
               status = EXCLUDED.status, operation_type = EXCLUDED.operation_type, error_code = EXCLUDED.error_code,
               url = COALESCE(EXCLUDED.url, bulk_operation_finishes.url),
               created_at = EXCLUDED.created_at, completed_at = EXCLUDED.completed_at""",
        (shop_id, operation_id, status.upper(), operation_type.upper() if operation_type else None,
         error_code, url, created_at, completed_at),
    )


def unconsumed_finishes(conn: psycopg.Connection, shop_id: int | None = None) -> list[BulkOperationFinish]:
    """Finished operations nobody has acted on yet, oldest first (all shops when shop_id is None)."""
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM bulk_operation_finishes
            WHERE consumed_at IS NULL AND (%(shop)s::bigint IS NULL OR shop_id = %(shop)s)
            ORDER BY received_at, operation_id""",
        {"shop": shop_id},
    ).fetchall()
    return [BulkOperationFinish.model_validate(r) for r in rows]


def get_finish(conn: psycopg.Connection, shop_id: int, operation_id: str) -> BulkOperationFinish | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM bulk_operation_finishes WHERE shop_id = %s AND operation_id = %s",
        (shop_id, operation_id),
    ).fetchone()
    return BulkOperationFinish.model_validate(row) if row else None


def set_url(conn: psycopg.Connection, shop_id: int, operation_id: str, url: str) -> None:
    conn.execute(
        "UPDATE bulk_operation_finishes SET url = %s WHERE shop_id = %s AND operation_id = %s",
        (url, shop_id, operation_id),
    )


def mark_consumed(conn: psycopg.Connection, shop_id: int, operation_id: str, at: datetime | None = None) -> None:
    conn.execute(
        """UPDATE bulk_operation_finishes SET consumed_at = COALESCE(%s, now())
           WHERE shop_id = %s AND operation_id = %s AND consumed_at IS NULL""",
        (at, shop_id, operation_id),
    )
