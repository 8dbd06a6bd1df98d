"""Shops: who installed the app, their state, and their sealed tokens."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import psycopg
from pydantic import BaseModel

SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")


class InvalidShopDomainError(ValueError):
    retryable = False


class ShopNotInstalledError(LookupError):
    """A merchant's request names a shop that has not installed the app."""

    retryable = False


def check_shop_domain(domain: str) -> str:
    """The only shape of shop name the app ever puts into a URL (no request forgery)."""
    if not isinstance(domain, str) or not SHOP_DOMAIN.fullmatch(domain):
        raise InvalidShopDomainError(f"not a shop domain (expected name.myshopify.com): {domain[:80]!r}")
    return domain.lower()


class Shop(BaseModel):
    id: int
    domain: str
    name: str | None
    currency: str
    status: str
    pricing_settings: dict
    token_key_id: str | None
    has_access_token: bool
    last_sync_at: datetime | None
    last_full_sync_at: datetime | None


_SHOP_COLUMNS = """id, domain, name, currency, status, pricing_settings, token_key_id,
                   access_token_ciphertext IS NOT NULL AS has_access_token, last_sync_at, last_full_sync_at"""


def upsert_shop(
    conn: psycopg.Connection,
    domain: str,
    *,
    name: str | None,
    currency: str,
    access_token_ciphertext: bytes | None,
    token_key_id: str | None,
    scopes: str | None,
    access_token_expires_at: datetime | None = None,
) -> Shop:
    """Install or reinstall a shop: new tokens, and active again."""
    row = conn.execute(
        f"""INSERT INTO shops (domain, name, currency, access_token_ciphertext, token_key_id, scopes,
                                access_token_expires_at, status)
            VALUES (%s, %s, %s, %s, %s, %s, %s, 'active')
            ON CONFLICT (domain) DO UPDATE SET
                name = COALESCE(EXCLUDED.name, shops.name),
                currency = EXCLUDED.currency,
                access_token_ciphertext = EXCLUDED.access_token_ciphertext,
                token_key_id = EXCLUDED.token_key_id,
                scopes = EXCLUDED.scopes,
                access_token_expires_at = EXCLUDED.access_token_expires_at,
                status = 'active',
                updated_at = now()
            RETURNING {_SHOP_COLUMNS}""",
        (check_shop_domain(domain), name, currency, access_token_ciphertext, token_key_id, scopes,
         access_token_expires_at),
    ).fetchone()
    return Shop.model_validate(row)


def get_shop(conn: psycopg.Connection, domain: str) -> Shop | None:
    row = conn.execute(f"SELECT {_SHOP_COLUMNS} FROM shops WHERE domain = %s", (check_shop_domain(domain),)).fetchone()
    return Shop.model_validate(row) if row else None


def installed_shop(conn: psycopg.Connection, domain: str) -> Shop:
    shop = get_shop(conn, domain)
    if shop is None:
        raise ShopNotInstalledError(f"shop {domain} is not installed")
    return shop


def active_shop_domains(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT domain FROM shops WHERE status = 'active' ORDER BY domain").fetchall()
    return [r["domain"] for r in rows]


def sealed_access_token(conn: psycopg.Connection, domain: str) -> bytes | None:
    row = conn.execute(
        "SELECT access_token_ciphertext FROM shops WHERE domain = %s", (check_shop_domain(domain),)
    ).fetchone()
    return bytes(row["access_token_ciphertext"]) if row and row["access_token_ciphertext"] else None


def update_pricing_settings(conn: psycopg.Connection, shop_id: int, settings: dict[str, Decimal | float | str]) -> None:
    conn.execute(
        "UPDATE shops SET pricing_settings = pricing_settings || %s::jsonb, updated_at = now() WHERE id = %s",
        (psycopg.types.json.Jsonb(settings), shop_id),
    )


def granted_scopes(conn: psycopg.Connection, shop_id: int) -> str | None:
    """The access scopes Shopify granted, as stored ("read_products,read_orders"); None if never recorded."""
    row = conn.execute("SELECT scopes FROM shops WHERE id = %s", (shop_id,)).fetchone()
    return row["scopes"] if row else None


def record_catalogue_sync(conn: psycopg.Connection, shop_id: int, started_at: datetime, full: bool) -> None:
    """Remember when a successful sync started: the next one asks for changes since then."""
    conn.execute(
        """UPDATE shops SET last_sync_at = %(at)s,
                            last_full_sync_at = CASE WHEN %(full)s THEN %(at)s ELSE last_full_sync_at END
           WHERE id = %(shop)s""",
        {"at": started_at, "full": full, "shop": shop_id},
    )


def update_shop_profile(conn: psycopg.Connection, shop_id: int, *, name: str, currency: str,
                        country: str | None = None) -> None:
    """The shop's own name, currency and country, as Shopify reports them (read at install).
    An unknown country keeps the one already stored."""
    conn.execute(
        "UPDATE shops SET name = %s, currency = %s, country = COALESCE(%s, country), updated_at = now() WHERE id = %s",
        (name[:255], currency, country, shop_id),
    )
