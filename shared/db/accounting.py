"""A shop's accounting connection, the match report of its items, and the costs taken from them.

    with transaction() as conn:
        connect_accounting(conn, shop.id, "quickbooks", "consumer-1", books_currency="GBP")
        counts = store_accounting_matches(conn, shop.id, matches)

`store_accounting_matches` replaces the last read whole: the match rows, and the variants' costs
of source 'accounting' (a variant no longer matched loses its accounting cost, so a lower
source counts again). It runs in the caller's transaction: a read that fails half-way leaves
the previous one standing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from shared.accounting.matching import ItemMatch, VariantKey, display_name, match_counts

REPORT_SAMPLE = 20  # unmatched and ambiguous items listed by name in a report
SERVICES = ("quickbooks", "xero")
CONSUMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")  # the table's CHECK, said before it is hit
CURRENCY = re.compile(r"^[A-Z]{3}$")


class AccountingConnection(BaseModel):
    shop_id: int
    service_id: str
    consumer_id: str
    books_currency: str
    status: str
    status_detail: str | None
    checked_at: datetime | None
    last_read_at: datetime | None
    match_counts: dict


def connect_accounting(conn: psycopg.Connection, shop_id: int, service_id: str, consumer_id: str, *,
                       books_currency: str) -> AccountingConnection:
    """Record (or change) which Apideck consumer and service hold the shop's books; status back to connected."""
    if service_id not in SERVICES:
        raise ValueError(f"service must be one of {', '.join(SERVICES)}, not {service_id!r}")
    if not CONSUMER_ID.fullmatch(consumer_id or ""):
        raise ValueError("consumer id must be 1-200 letters, digits or . _ : @ - (starting with a letter or digit)")
    if not CURRENCY.fullmatch((books_currency or "").upper()):
        raise ValueError(f"books currency must be a three-letter ISO code, not {books_currency!r}")
    row = conn.execute(
        """INSERT INTO accounting_connections (shop_id, service_id, consumer_id, books_currency)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (shop_id) DO UPDATE SET
               service_id = EXCLUDED.service_id, consumer_id = EXCLUDED.consumer_id,
               books_currency = EXCLUDED.books_currency, status = 'connected', status_detail = NULL,
               updated_at = now()
           RETURNING *""",
        (shop_id, service_id, consumer_id, books_currency.upper()),
    ).fetchone()
    return AccountingConnection.model_validate(row)


def disconnect_accounting(conn: psycopg.Connection, shop_id: int) -> bool:
    """Forget the connection, its matches and its costs: the shop's other sources count again."""
    conn.execute("DELETE FROM unit_costs WHERE shop_id = %s AND source = 'accounting'", (shop_id,))
    conn.execute("DELETE FROM accounting_item_matches WHERE shop_id = %s", (shop_id,))
    return conn.execute("DELETE FROM accounting_connections WHERE shop_id = %s", (shop_id,)).rowcount > 0


def get_accounting_connection(conn: psycopg.Connection, shop_id: int) -> AccountingConnection | None:
    row = conn.execute("SELECT * FROM accounting_connections WHERE shop_id = %s", (shop_id,)).fetchone()
    return AccountingConnection.model_validate(row) if row else None


def record_accounting_status(conn: psycopg.Connection, shop_id: int, status: str, detail: str | None) -> None:
    conn.execute(
        """UPDATE accounting_connections SET status = %s, status_detail = %s, checked_at = now(), updated_at = now()
           WHERE shop_id = %s""",
        (status, detail[:500] if detail else None, shop_id),
    )


def variant_keys(conn: psycopg.Connection, shop_id: int) -> list[VariantKey]:
    rows = conn.execute(
        """SELECT v.id, v.sku, v.title AS variant_title, p.title AS product_title
           FROM variants v JOIN products p ON p.id = v.product_id WHERE v.shop_id = %s ORDER BY v.id""",
        (shop_id,),
    ).fetchall()
    return [VariantKey(r["id"], r["sku"], display_name(r["product_title"], r["variant_title"])) for r in rows]


def store_accounting_matches(conn: psycopg.Connection, shop_id: int, matches: Sequence[ItemMatch]) -> dict[str, int]:
    """Replace the shop's match rows and accounting costs with this read's; returns the match counts."""
    conn.execute("DELETE FROM accounting_item_matches WHERE shop_id = %s", (shop_id,))
    with conn.cursor() as cur, cur.copy(
        """COPY accounting_item_matches (shop_id, item_id, code, name, unit_cost, currency, outcome, matched_by,
                                         variant_id, candidates) FROM STDIN""") as copy:
        for m in matches:
            copy.write_row((shop_id, m.item_id, m.code, m.name, m.unit_cost, m.currency, m.outcome, m.matched_by,
                            m.variant_id, m.candidates))
    costs = conn.execute(
        """INSERT INTO unit_costs (shop_id, variant_id, source, cost, currency, updated_at)
           SELECT shop_id, variant_id, 'accounting', unit_cost, currency, now()
           FROM accounting_item_matches WHERE shop_id = %s AND outcome = 'matched'
           ON CONFLICT (variant_id, source) DO UPDATE SET
               cost = EXCLUDED.cost, currency = EXCLUDED.currency, updated_at = EXCLUDED.updated_at""",
        (shop_id,),
    ).rowcount
    removed = conn.execute(
        """DELETE FROM unit_costs u WHERE u.shop_id = %s AND u.source = 'accounting'
             AND NOT EXISTS (SELECT 1 FROM accounting_item_matches m
                             WHERE m.shop_id = u.shop_id AND m.variant_id = u.variant_id AND m.outcome = 'matched')""",
        (shop_id,),
    ).rowcount
    counts = match_counts(matches)
    conn.execute(
        """UPDATE accounting_connections SET match_counts = %s, last_read_at = now(), status = 'connected',
                  status_detail = NULL, checked_at = now(), updated_at = now() WHERE shop_id = %s""",
        (Jsonb(counts), shop_id),
    )
    return {**counts, "accounting_costs": costs, "accounting_costs_removed": removed}


def accounting_report(conn: psycopg.Connection, shop_id: int) -> dict | None:
    """The connection's status and the last read's match report, as runs/latest and the CLI show it."""
    connection = get_accounting_connection(conn, shop_id)
    if connection is None:
        return None
    listed = conn.execute(
        """SELECT outcome, item_id, code, name, unit_cost, currency, candidates FROM (
               SELECT *, row_number() OVER (PARTITION BY outcome ORDER BY name NULLS LAST, item_id) AS n
               FROM accounting_item_matches WHERE shop_id = %s AND outcome <> 'matched') ranked
           WHERE n <= %s ORDER BY outcome, n""",
        (shop_id, REPORT_SAMPLE),
    ).fetchall()
    examples: dict[str, list[dict]] = {}
    for r in listed:
        examples.setdefault(r["outcome"], []).append(
            {"item_id": r["item_id"], "code": r["code"], "name": r["name"],
             "unit_cost": str(r["unit_cost"]) if r["unit_cost"] is not None else None,
             "currency": r["currency"], "candidates": r["candidates"]})
    return {
        "service": connection.service_id,
        "status": connection.status,
        "status_detail": connection.status_detail,
        "checked_at": connection.checked_at.isoformat() if connection.checked_at else None,
        "last_read_at": connection.last_read_at.isoformat() if connection.last_read_at else None,
        "match_counts": connection.match_counts,
        "examples": examples,
    }


def accounting_summary(report: dict | None) -> str | None:
    """One line for the briefing when the books' connection or matching needs the merchant; None when all is well."""
    if report is None:
        return None
    counts = report.get("match_counts") or {}
    service = {"quickbooks": "QuickBooks", "xero": "Xero"}.get(report["service"], report["service"])
    parts = []
    if report["status"] == "reconnect_needed":
        parts.append(f"reconnect your accounting system ({service}): costs are from its last good read")
    elif report["status"] != "connected":
        parts.append(f"{service} could not be read: {report.get('status_detail') or report['status']}")
    problems = [(counts.get(k, 0), label) for k, label in (
        ("unmatched", "matched no variant"), ("ambiguous", "were ambiguous (several variants or items)"),
        ("currency_mismatch", "were in another currency"), ("no_cost", "had no purchase price"))]
    listed = [f"{n} {label}" for n, label in problems if n]
    if listed:
        parts.append(f"of {counts.get('items', 0)} {service} items {counts.get('matched', 0)} gave a cost; "
                     + ", ".join(listed))
    return "; ".join(parts) or None
