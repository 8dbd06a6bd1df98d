"""Each variant's price as the app found it, kept only when it changed."""

from __future__ import annotations

from datetime import datetime

import psycopg


def record_prices(conn: psycopg.Connection, shop_id: int, at: datetime) -> int:
    """Record every variant whose price differs from its last recorded one (or has none).

    Idempotent: a second call at the same moment, or later with the same prices, adds nothing."""
    cursor = conn.execute(
        """INSERT INTO variant_price_history (shop_id, variant_id, effective_at, price)
           SELECT v.shop_id, v.id, %(at)s, v.price
           FROM variants v
           LEFT JOIN LATERAL (
               SELECT h.price FROM variant_price_history h
               WHERE h.variant_id = v.id AND h.effective_at <= %(at)s
               ORDER BY h.effective_at DESC LIMIT 1
           ) last ON true
           WHERE v.shop_id = %(shop)s AND (last.price IS NULL OR last.price <> v.price)
           ON CONFLICT (variant_id, effective_at) DO UPDATE SET price = EXCLUDED.price""",
        {"shop": shop_id, "at": at},
    )
    return cursor.rowcount


def price_changes(conn: psycopg.Connection, shop_id: int, until: datetime) -> list[tuple[int, datetime, float]]:
    """(variant id, effective at, price), oldest first."""
    rows = conn.execute(
        """SELECT variant_id, effective_at, price FROM variant_price_history
           WHERE shop_id = %s AND effective_at <= %s ORDER BY variant_id, effective_at""",
        (shop_id, until),
    ).fetchall()
    return [(r["variant_id"], r["effective_at"], float(r["price"])) for r in rows]
