"""The mandatory privacy topics: what the app holds about a customer, and removing a shop.

By design the app holds no customer personal data: order lines say what sold, when, how many
and at what price, with no customer id, name, email, phone or address (tests prove it over the
schema and over a database after a run). So `customers/data_request` reports that, with the
number of order lines held for the orders named; `customers/redact` has nothing to delete and
records that it was handled; `shop/redact` deletes every row of the shop, in every table, and
queues the Durable histories of its pipeline runs and webhook processing for purging (see
`shared.durable_history_purge`: this runs in an activity, which has no Durable client).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from shared.db import compliance_requests, durable_history_purges
from shared.db.shop_lifecycle import redact_shop
from shared.db.shops import get_shop
from shared.db.webhook_events import StoredEvent
from shared.shopify import webhook_queue
from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_handlers import Outcome
from shared.shopify.webhook_payloads import (
    CustomersDataRequestPayload,
    CustomersRedactPayload,
    RestId,
    gid,
    parse_payload,
)

NO_PERSONAL_DATA = (
    "Retail AI Advisor stores no customer personal data: no customer id, name, email, phone or address. "
    "Order lines hold what sold, when, how many and at what price."
)
# Shopify sends shop/redact 48 hours after an uninstall; an install newer than that is a reinstall.
REDACT_DELAY = timedelta(hours=48)


def data_request(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    payload = parse_payload(topics.CUSTOMERS_DATA_REQUEST, event.payload)
    assert isinstance(payload, CustomersDataRequestPayload)
    lines = _order_lines_held(conn, event.shop_domain, payload.orders_requested)
    report = {
        "personal_data_held": [],
        "statement": NO_PERSONAL_DATA,
        "orders_requested": len(payload.orders_requested),
        "order_lines_held_for_those_orders": lines,
        "order_line_fields": _order_line_fields(conn),
    }
    request_id = str(payload.data_request.id) if payload.data_request and payload.data_request.id is not None else None
    compliance_requests.record_request(
        conn, webhook_id=event.webhook_id, shop_domain=event.shop_domain, topic=event.topic, request_id=request_id,
        orders_count=len(payload.orders_requested), report=report, handled_at=now,
    )
    return Outcome(f"data request answered: no personal data held; {lines} order lines for "
                   f"{len(payload.orders_requested)} orders named")


def customers_redact(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    payload = parse_payload(topics.CUSTOMERS_REDACT, event.payload)
    assert isinstance(payload, CustomersRedactPayload)
    lines = _order_lines_held(conn, event.shop_domain, payload.orders_to_redact)
    report = {
        "deleted_rows": 0,
        "statement": NO_PERSONAL_DATA,
        "orders_to_redact": len(payload.orders_to_redact),
        # Kept: they carry no customer identifier, so they are not the customer's personal data.
        "order_lines_kept": lines,
    }
    compliance_requests.record_request(
        conn, webhook_id=event.webhook_id, shop_domain=event.shop_domain, topic=event.topic, request_id=None,
        orders_count=len(payload.orders_to_redact), report=report, handled_at=now,
    )
    return Outcome("customer redaction handled: no personal data held, nothing to delete")


def shop_redact(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    shop = get_shop(conn, event.shop_domain)
    raised_at = event.triggered_at or event.received_at
    if shop is not None and shop.status == "active" and _installed_at(conn, shop.id) > raised_at - REDACT_DELAY:
        # The merchant reinstalled after the uninstall this redaction follows: their data is in use again.
        return Outcome("not redacted: the shop installed the app again after uninstalling it")
    queued = _queue_history_purges(conn, event.shop_domain, shop.id if shop else None, now)
    deleted = redact_shop(conn, event.shop_domain)
    # The event's own row was one of the shop's rows: nothing of the shop is left, this included.
    return Outcome(f"shop redacted: {sum(deleted.values())} rows deleted, {queued} Durable histories queued "
                   "for purging", event_deleted=True)


def _queue_history_purges(conn: psycopg.Connection, domain: str, shop_id: int | None, now: datetime) -> int:
    """The shop's Durable instances, named by the rows about to be deleted: its runs (with their
    sub-orchestrations) and the processing of its webhooks, this redaction's own included."""
    runs = [r["id"] for r in conn.execute("SELECT id FROM pipeline_runs WHERE shop_id = %s", (shop_id,))] \
        if shop_id is not None else []
    webhooks = [webhook_queue.processing_instance_id(r["webhook_id"]) for r in conn.execute(
        "SELECT webhook_id FROM webhook_events WHERE shop_domain = %s", (domain,))]
    return (durable_history_purges.queue_purges(conn, runs, include_children=True, now=now)
            + durable_history_purges.queue_purges(conn, webhooks, include_children=False, now=now))


def _order_lines_held(conn: psycopg.Connection, domain: str, orders: list[RestId]) -> int:
    if not orders:
        return 0
    row = conn.execute(
        """SELECT count(*)::integer AS n FROM order_lines ol JOIN shops s ON s.id = ol.shop_id
           WHERE s.domain = %s AND ol.order_id = ANY(%s)""",
        (domain, [gid("Order", order) for order in orders]),
    ).fetchone()
    return row["n"]


def _order_line_fields(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = 'order_lines' ORDER BY ordinal_position"""
    ).fetchall()
    return [r["column_name"] for r in rows]


def _installed_at(conn: psycopg.Connection, shop_id: int) -> datetime:
    return conn.execute("SELECT installed_at FROM shops WHERE id = %s", (shop_id,)).fetchone()["installed_at"]
