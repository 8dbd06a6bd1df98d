"""What each catalogue and app topic does to the database. The privacy topics are in `compliance`.

Every handler runs inside the transaction that holds the event's row lock and records its
outcome, so an effect and the event's status are written together or not at all. Handlers are
idempotent: a change older than (or the same as) what is stored is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import psycopg

from shared.db import bulk_operation_finishes, catalogue_changes
from shared.db.shop_lifecycle import mark_uninstalled, record_scopes
from shared.db.shop_tokens import mark_needs_reauth
from shared.db.shops import Shop, get_shop
from shared.db.webhook_events import StoredEvent, product_was_deleted
from shared.shopify.webhook_payloads import (
    BulkOperationFinishPayload,
    InventoryLevelPayload,
    OrderPayload,
    ProductDeletePayload,
    ProductPayload,
    ScopesUpdatePayload,
    numeric_id,
    parse_payload,
)

P = TypeVar("P")  # a topic's payload model


@dataclass(frozen=True)
class Outcome:
    """What processing did, in a few words; `event_deleted` when the event's own row went with it."""

    text: str
    event_deleted: bool = False


class ShopNotInstalledError(LookupError):
    """The shop has no row yet: a webhook can beat the end of an install. Retryable: the retry finds it."""

    retryable = True


def _installed_shop(conn: psycopg.Connection, domain: str) -> Shop:
    shop = get_shop(conn, domain)
    if shop is None:
        raise ShopNotInstalledError(f"shop {domain} is not installed (yet)")
    return shop


def _left_alone(shop: Shop) -> Outcome | None:
    # An uninstalled shop's catalogue is not kept up to date; a reinstall reads it whole again.
    return Outcome("skipped: the shop has uninstalled the app") if shop.status == "uninstalled" else None


def _catalogue_change(conn: psycopg.Connection, event: StoredEvent, payload_type: type[P]) -> tuple[P, Shop, Outcome | None]:
    """A catalogue change's payload and shop, and the outcome that skips it (None: apply it)."""
    payload = parse_payload(event.topic, event.payload)
    assert isinstance(payload, payload_type)
    shop = _installed_shop(conn, event.shop_domain)
    return payload, shop, _left_alone(shop)


def product_changed(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    payload, shop, skipped = _catalogue_change(conn, event, ProductPayload)
    if skipped:
        return skipped
    if product_was_deleted(conn, event.shop_domain, numeric_id(payload.id)):
        return Outcome("skipped: the product was deleted after this change")
    applied, variants = catalogue_changes.apply_product(
        conn, shop.id, payload.product_record(), payload.variant_records()
    )
    if not applied:
        return Outcome("skipped: the stored product is as new or newer")
    return Outcome(f"product upserted with {variants} variants")


def product_deleted(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    payload, shop, skipped = _catalogue_change(conn, event, ProductDeletePayload)
    if skipped:
        return skipped
    found = catalogue_changes.delete_product(conn, shop.id, payload.product_gid)
    return Outcome("product deleted" if found else "product was not stored: nothing to delete")


def inventory_level_changed(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    payload, shop, skipped = _catalogue_change(conn, event, InventoryLevelPayload)
    if skipped:
        return skipped
    applied = catalogue_changes.apply_inventory_level(conn, shop.id, payload.record(), payload.updated_at)
    return Outcome(f"stock set to {payload.available}" if applied else "skipped: the stored level is as new or newer")


def order_changed(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    payload, shop, skipped = _catalogue_change(conn, event, OrderPayload)
    if skipped:
        return skipped
    lines = payload.line_records()
    written = catalogue_changes.apply_order_lines(conn, shop.id, lines, payload.updated_at)
    return Outcome(f"{written} of {len(lines)} order lines upserted")


def app_uninstalled(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    # The endpoint did this already before answering (and stopped the runs); again here, in case it could not.
    status = mark_uninstalled(conn, event.shop_domain, event.triggered_at)
    if status is None:
        return Outcome("shop not known: nothing held")
    if status != "uninstalled":
        return Outcome("skipped: the shop installed the app again after this uninstall")
    return Outcome("shop uninstalled: tokens deleted, no further runs")


def scopes_updated(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    # The install's own rule of what is enough; imported here because oauth brings the HTTP layer with it.
    from shared.shopify.oauth import missing_scopes, required_scopes

    payload = parse_payload(event.topic, event.payload)
    assert isinstance(payload, ScopesUpdatePayload)
    shop = _installed_shop(conn, event.shop_domain)
    granted = ",".join(payload.current)
    record_scopes(conn, shop.id, granted)
    missing = missing_scopes(granted, required_scopes())
    if missing and shop.status == "active":
        # Runs would fail on the first query that needs the scope: stop them until the merchant grants it again.
        mark_needs_reauth(conn, shop.id, "access scopes withdrawn: " + ", ".join(missing))
        return Outcome("scopes recorded; missing " + ", ".join(missing) + ": the shop must authorise again")
    return Outcome("scopes recorded: " + (granted or "(none)"))


def bulk_operation_finished(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> Outcome:
    payload = parse_payload(event.topic, event.payload)
    assert isinstance(payload, BulkOperationFinishPayload)
    shop = _installed_shop(conn, event.shop_domain)
    bulk_operation_finishes.record_finish(
        conn, shop.id, operation_id=payload.admin_graphql_api_id, status=payload.status,
        operation_type=payload.type, error_code=payload.error_code, url=payload.url,
        created_at=payload.created_at, completed_at=payload.completed_at,
    )
    return Outcome(f"bulk operation {payload.status.upper()} recorded for the bulk sync")

