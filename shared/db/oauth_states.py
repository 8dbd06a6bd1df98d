"""OAuth state nonces: created at install, consumed once by the callback.

Only the SHA-256 of a nonce is stored. Consuming is one UPDATE that matches an unused,
unexpired row for the same shop, so two callbacks racing with one state cannot both win.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import psycopg

from shared.db.shops import check_shop_domain

# Rows are kept a while after expiry so a late callback is told "expired", not "unknown".
_KEEP_AFTER_EXPIRY = timedelta(days=1)


def state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode("utf-8")).digest()


def create_state(conn: psycopg.Connection, state: str, shop_domain: str, *, now: datetime, ttl: timedelta) -> None:
    """Remember a new nonce for an install of `shop_domain`, valid for `ttl`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    conn.execute("DELETE FROM oauth_states WHERE expires_at < %s", (now - _KEEP_AFTER_EXPIRY,))
    conn.execute(
        "INSERT INTO oauth_states (state_hash, shop_domain, created_at, expires_at) VALUES (%s, %s, %s, %s)",
        (state_hash(state), check_shop_domain(shop_domain), now, now + ttl),
    )


def consume_state(conn: psycopg.Connection, state: str, shop_domain: str, *, now: datetime) -> bool:
    """Use up a nonce; True only for an unused, unexpired nonce issued for this shop."""
    row = conn.execute(
        """UPDATE oauth_states SET consumed_at = %(now)s
           WHERE state_hash = %(hash)s AND shop_domain = %(shop)s
             AND consumed_at IS NULL AND expires_at > %(now)s
           RETURNING 1""",
        {"hash": state_hash(state), "shop": check_shop_domain(shop_domain), "now": now},
    ).fetchone()
    return row is not None
