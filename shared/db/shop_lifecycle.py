"""What Shopify's lifecycle webhooks do to a shop's row and data: uninstall, scopes changed, redaction.

Uninstall deletes the tokens and stops future runs; a scopes change records what is granted;
redaction leaves nothing of the shop.

`redact_shop` finds the shop's rows by the schema rather than a list of tables, so a table
added later is covered without touching this module: every public table with a `shop_id`
column (the shops row's id) or a `shop_domain` column (the domain). Tables that hang off those
(variants, competitor prices, run steps, ...) go by their ON DELETE CASCADE.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql

from shared.db.shops import check_shop_domain

# The token columns of `shops`; all of them are cleared on uninstall.
TOKEN_COLUMNS = (
    "access_token_ciphertext", "refresh_token_ciphertext", "token_key_id",
    "access_token_expires_at", "refresh_token_expires_at",
)
SHOP_ID_COLUMNS = ("shop_id",)
SHOP_DOMAIN_COLUMNS = ("shop_domain",)


class RedactionError(RuntimeError):
    """A table could not be emptied of the shop (a foreign key without cascade). Retryable after a fix."""

    retryable = True


def mark_uninstalled(conn: psycopg.Connection, domain: str, triggered_at: datetime | None) -> str | None:
    """Delete the shop's tokens and mark it uninstalled; returns the shop's status afterwards (None: unknown shop).

    An uninstall raised before the current install began (a late redelivery after a reinstall)
    changes nothing; a minute of slack allows for Shopify's clock and ours disagreeing.
    """
    domain = check_shop_domain(domain)
    cleared = ", ".join(f"{column} = NULL" for column in TOKEN_COLUMNS)
    conn.execute(
        f"""UPDATE shops SET status = 'uninstalled', {cleared}, updated_at = now()
            WHERE domain = %(domain)s
              AND (%(at)s::timestamptz IS NULL OR installed_at <= %(at)s::timestamptz + interval '1 minute')""",
        {"domain": domain, "at": triggered_at},
    )
    row = conn.execute("SELECT status FROM shops WHERE domain = %s", (domain,)).fetchone()
    return row["status"] if row else None


def record_scopes(conn: psycopg.Connection, shop_id: int, scopes: str) -> None:
    """The access scopes Shopify now reports as granted to the app on this shop."""
    conn.execute("UPDATE shops SET scopes = %s, updated_at = now() WHERE id = %s", (scopes, shop_id))


def redact_shop(conn: psycopg.Connection, domain: str) -> dict[str, int]:
    """Delete every row of the shop in every public table; rows deleted per table (cascades not counted)."""
    domain = check_shop_domain(domain)
    row = conn.execute("SELECT id FROM shops WHERE domain = %s", (domain,)).fetchone()
    targets: list[tuple[str, str, object]] = []
    for table, column in _keyed_tables(conn, SHOP_DOMAIN_COLUMNS):
        targets.append((table, column, domain))
    if row is not None:
        for table, column in _keyed_tables(conn, SHOP_ID_COLUMNS):
            targets.append((table, column, row["id"]))
        targets.append(("shops", "id", row["id"]))
    deleted: dict[str, int] = {}
    # A table referenced without ON DELETE CASCADE refuses until its referrers are gone: go
    # round until every table is done or a round makes no progress.
    while targets:
        left = []
        for table, column, value in targets:
            try:
                with conn.transaction():
                    cur = conn.execute(
                        sql.SQL("DELETE FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(column)),
                        (value,),
                    )
                deleted[table] = deleted.get(table, 0) + max(cur.rowcount, 0)
            except psycopg.errors.ForeignKeyViolation:
                left.append((table, column, value))
        if len(left) == len(targets):
            raise RedactionError(f"cannot delete the rows of {domain} from: {', '.join(t for t, _, _ in left)}")
        targets = left
    return deleted


def _keyed_tables(conn: psycopg.Connection, columns: tuple[str, ...]) -> list[tuple[str, str]]:
    rows = conn.execute(
        """SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.column_name = ANY(%s)
             AND c.table_name <> 'shops'
           ORDER BY c.table_name""",
        (list(columns),),
    ).fetchall()
    return [(r["table_name"], r["column_name"]) for r in rows]
