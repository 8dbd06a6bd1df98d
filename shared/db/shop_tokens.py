"""A shop's sealed tokens: written at install and on every renewal, read (and locked) on use.

Everything here is ciphertext; sealing and opening happen in `shared.shopify.tokens`.
`read_tokens(..., for_update=True)` takes the shop row's lock, which is what keeps two
workers from spending the same refresh token.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from pydantic import BaseModel, ConfigDict

from shared.db.shops import check_shop_domain


class SealedTokens(BaseModel):
    """What a grant leaves on the shop row. No expiry means a legacy non-expiring token."""

    model_config = ConfigDict(frozen=True)

    access_token_ciphertext: bytes
    refresh_token_ciphertext: bytes | None
    token_key_id: str
    access_token_expires_at: datetime | None
    refresh_token_expires_at: datetime | None
    scopes: str | None


class StoredTokens(BaseModel):
    model_config = ConfigDict(frozen=True)

    shop_id: int
    domain: str
    status: str
    reauth_reason: str | None
    access_token_ciphertext: bytes | None
    refresh_token_ciphertext: bytes | None
    access_token_expires_at: datetime | None
    refresh_token_expires_at: datetime | None
    scopes: str | None


def read_tokens(conn: psycopg.Connection, domain: str, *, for_update: bool = False) -> StoredTokens | None:
    row = conn.execute(
        f"""SELECT id AS shop_id, domain, status, reauth_reason, access_token_ciphertext, refresh_token_ciphertext,
                   access_token_expires_at, refresh_token_expires_at, scopes
            FROM shops WHERE domain = %s {"FOR UPDATE" if for_update else ""}""",
        (check_shop_domain(domain),),
    ).fetchone()
    if row is None:
        return None
    for column in ("access_token_ciphertext", "refresh_token_ciphertext"):
        if row[column] is not None:
            row[column] = bytes(row[column])
    return StoredTokens.model_validate(row)


def install_tokens(conn: psycopg.Connection, domain: str, tokens: SealedTokens, *, now: datetime) -> int:
    """Install or reinstall a shop with fresh tokens: active again. Returns the shop id."""
    row = conn.execute(
        """INSERT INTO shops (domain, status, access_token_ciphertext, refresh_token_ciphertext, token_key_id,
                              access_token_expires_at, refresh_token_expires_at, scopes, tokens_renewed_at,
                              installed_at)
           VALUES (%(domain)s, 'active', %(access)s, %(refresh)s, %(key_id)s, %(access_exp)s, %(refresh_exp)s,
                   %(scopes)s, %(now)s, %(now)s)
           ON CONFLICT (domain) DO UPDATE SET
               status = 'active',
               reauth_reason = NULL,
               access_token_ciphertext = EXCLUDED.access_token_ciphertext,
               refresh_token_ciphertext = EXCLUDED.refresh_token_ciphertext,
               token_key_id = EXCLUDED.token_key_id,
               access_token_expires_at = EXCLUDED.access_token_expires_at,
               refresh_token_expires_at = EXCLUDED.refresh_token_expires_at,
               scopes = EXCLUDED.scopes,
               tokens_renewed_at = EXCLUDED.tokens_renewed_at,
               -- Every completed grant starts an install: a late uninstall webhook from before it changes nothing.
               installed_at = %(now)s,
               updated_at = now()
           RETURNING id""",
        _params(check_shop_domain(domain), tokens, now),
    ).fetchone()
    return int(row["id"])


def replace_tokens(conn: psycopg.Connection, shop_id: int, tokens: SealedTokens, *, now: datetime) -> None:
    """Store a renewed pair (refresh or migration); the status is left as it is."""
    conn.execute(
        """UPDATE shops SET access_token_ciphertext = %(access)s, refresh_token_ciphertext = %(refresh)s,
                            token_key_id = %(key_id)s, access_token_expires_at = %(access_exp)s,
                            refresh_token_expires_at = %(refresh_exp)s, scopes = COALESCE(%(scopes)s, scopes),
                            tokens_renewed_at = %(now)s, updated_at = now()
           WHERE id = %(shop_id)s""",
        {**_params(None, tokens, now), "shop_id": shop_id},
    )


def mark_needs_reauth(conn: psycopg.Connection, shop_id: int, reason: str) -> None:
    """The shop's tokens cannot be renewed: the merchant has to open the app again."""
    conn.execute(
        "UPDATE shops SET status = 'needs_reauth', reauth_reason = %s, updated_at = now() WHERE id = %s",
        (reason[:300], shop_id),
    )


def _params(domain: str | None, tokens: SealedTokens, now: datetime) -> dict:
    return {
        "domain": domain,
        "access": tokens.access_token_ciphertext,
        "refresh": tokens.refresh_token_ciphertext,
        "key_id": tokens.token_key_id,
        "access_exp": tokens.access_token_expires_at,
        "refresh_exp": tokens.refresh_token_expires_at,
        "scopes": tokens.scopes,
        "now": now,
    }
