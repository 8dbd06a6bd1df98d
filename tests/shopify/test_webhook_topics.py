"""Each topic's effect on the database, through the endpoint and the real processing orchestration.

Catalogue changes apply only when newer than what is stored; the app and compliance topics
record what they did; a payload that cannot be processed is kept as failed and succeeds when
retried once its cause is gone.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.db import bulk_operation_finishes, compliance_requests
from shared.db.pool import transaction
from shared.db.shops import get_shop, upsert_shop
from shared.local import shopify_webhook_payloads as payloads
from shared.local.shopify_webhook_payloads import SAMPLE_CUSTOMER, number
from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_processing import (
    MAX_ATTEMPTS,
    PROCESSED_RETENTION,
    process_waiting_events,
    prune_processed_events,
)
from shared.shopify.webhook_queue import SWEEP_INSTANCE_ID
from webhook_fixtures import count_rows, event_row, shop_row, webhook_world

DOMAIN = "webhook-topics.myshopify.com"
NOT_YET_INSTALLED = "installing-right-now.myshopify.com"


@pytest.fixture(scope="module")
def world(local_data_dir):
    with webhook_world(DOMAIN) as world:
        yield world


def later(minutes: int = 1) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


def send(world, topic: str, payload: dict, domain: str | None = None, **options) -> dict | None:
    report = world.sender.send(topic, domain or world.store.domain, payload, **options)
    assert report.delivered, report.attempts
    return world.wait_processed(report.delivery.webhook_id)


def product_row(world, product_gid: str) -> dict | None:
    with transaction() as conn:
        return conn.execute(
            """SELECT p.* FROM products p JOIN shops s ON s.id = p.shop_id WHERE s.domain = %s AND p.shopify_id = %s""",
            (world.store.domain, product_gid),
        ).fetchone()


def variant_rows(world, product_gid: str) -> list[dict]:
    with transaction() as conn:
        return conn.execute(
            """SELECT v.* FROM variants v JOIN products p ON p.id = v.product_id JOIN shops s ON s.id = v.shop_id
               WHERE s.domain = %s AND p.shopify_id = %s ORDER BY v.shopify_id""",
            (world.store.domain, product_gid),
        ).fetchall()


def order_lines(world, order_gid: str) -> list[dict]:
    with transaction() as conn:
        return conn.execute(
            """SELECT ol.* FROM order_lines ol JOIN shops s ON s.id = ol.shop_id
               WHERE s.domain = %s AND ol.order_id = %s ORDER BY ol.line_id""",
            (world.store.domain, order_gid),
        ).fetchall()


# --- products ------------------------------------------------------------------------------------


def test_products_create_adds_the_product_and_its_variants(world):
    store = world.store
    template = store.products[0]
    new_product = dataclasses.replace(
        template, id="gid://shopify/Product/9000000000999", title="Smoked Oak Reed Diffuser",
        variants=tuple(dataclasses.replace(v, id=f"gid://shopify/ProductVariant/4700000000099{i}",
                                           sku=f"NEW-999-{i}") for i, v in enumerate(template.variants)),
    )
    assert product_row(world, new_product.id) is None
    row = send(world, topics.PRODUCTS_CREATE, payloads.product_payload(store, new_product, updated_at=later()))
    assert row["status"] == "processed", row
    stored = product_row(world, new_product.id)
    assert stored["title"] == "Smoked Oak Reed Diffuser" and stored["status"] == "ACTIVE"
    variants = variant_rows(world, new_product.id)
    assert [v["sku"] for v in variants] == sorted(f"NEW-999-{i}" for i in range(len(template.variants)))
    assert variants[0]["inventory_item_id"].startswith("gid://shopify/InventoryItem/")


def test_products_update_changes_price_and_title_and_keeps_the_unit_cost(world):
    store = world.store
    product = next(p for p in store.products if any(v.unit_cost for v in p.variants))
    variant = next(v for v in product.variants if v.unit_cost)
    before = {v["shopify_id"]: v for v in variant_rows(world, product.id)}
    assert before[variant.id]["shopify_unit_cost"] is not None
    row = send(world, topics.PRODUCTS_UPDATE, payloads.product_payload(
        store, product, updated_at=later(), title="Renamed By Webhook", prices={variant.id: Decimal("99.95")}))
    assert row["status"] == "processed" and row["outcome"].startswith("product upserted"), row
    after = {v["shopify_id"]: v for v in variant_rows(world, product.id)}
    assert product_row(world, product.id)["title"] == "Renamed By Webhook"
    assert after[variant.id]["price"] == Decimal("99.95")
    assert after[variant.id]["shopify_unit_cost"] == before[variant.id]["shopify_unit_cost"]


def test_an_older_products_update_arriving_late_is_ignored(world):
    store = world.store
    product = store.products[2]
    send(world, topics.PRODUCTS_UPDATE, payloads.product_payload(store, product, updated_at=later(10), title="Newest"))
    row = send(world, topics.PRODUCTS_UPDATE, payloads.product_payload(store, product, updated_at=later(5), title="Older"))
    assert row["status"] == "processed" and row["outcome"].startswith("skipped"), row
    assert product_row(world, product.id)["title"] == "Newest"


def test_products_delete_removes_the_product_and_a_late_update_does_not_bring_it_back(world):
    store = world.store
    product = store.products[3]
    assert product_row(world, product.id) is not None and variant_rows(world, product.id)
    row = send(world, topics.PRODUCTS_DELETE, payloads.product_delete_payload(product))
    assert row["status"] == "processed" and row["outcome"] == "product deleted"
    assert product_row(world, product.id) is None and variant_rows(world, product.id) == []
    assert count_rows("variants", "shopify_id = ANY(%s) AND shop_id = (SELECT id FROM shops WHERE domain = %s)",
                      ([v.id for v in product.variants], store.domain)) == 0
    late = send(world, topics.PRODUCTS_UPDATE, payloads.product_payload(store, product, updated_at=later(30)))
    assert late["outcome"] == "skipped: the product was deleted after this change"
    assert product_row(world, product.id) is None


# --- stock and orders ----------------------------------------------------------------------------


def level_row(world, level) -> dict:
    with transaction() as conn:
        return conn.execute(
            """SELECT il.* FROM inventory_levels il JOIN shops s ON s.id = il.shop_id
               WHERE s.domain = %s AND il.inventory_item_id = %s AND il.location_id = %s""",
            (world.store.domain, level.inventory_item_id, level.location_id),
        ).fetchone()


def test_inventory_levels_update_sets_available_newer_wins_and_on_hand_is_kept(world):
    store = world.store
    level = store.inventory_levels[4]
    on_hand = level_row(world, level)["on_hand"]
    send(world, topics.INVENTORY_LEVELS_UPDATE, payloads.inventory_level_payload(store, level, available=31,
                                                                                 updated_at=later(2)))
    stale = send(world, topics.INVENTORY_LEVELS_UPDATE, payloads.inventory_level_payload(store, level, available=2,
                                                                                         updated_at=later(1)))
    assert stale["outcome"].startswith("skipped")
    row = level_row(world, level)
    assert row["available"] == 31 and row["on_hand"] == on_hand


def test_orders_create_upserts_its_lines_with_prices_and_nothing_of_the_customer(world):
    store = world.store
    order = next(o for o in reversed(store.orders) if any(x.discounted_unit_price < x.original_unit_price
                                                          for x in o.line_items))
    fresh_lines = tuple(dataclasses.replace(line, id=f"gid://shopify/LineItem/1420000099{i:03d}")
                        for i, line in enumerate(order.line_items))
    fresh = dataclasses.replace(order, id="gid://shopify/Order/6100000099001", line_items=fresh_lines)
    row = send(world, topics.ORDERS_CREATE, payloads.order_payload(store, fresh))
    assert row["status"] == "processed", row
    lines = order_lines(world, fresh.id)
    assert len(lines) == len(fresh.line_items)
    for stored, line in zip(lines, sorted(fresh.line_items, key=lambda x: x.id), strict=True):
        assert stored["variant_shopify_id"] == line.variant_id and stored["product_shopify_id"] == line.product_id
        assert (stored["original_unit_price"], stored["discounted_unit_price"]) == \
            (line.original_unit_price, line.discounted_unit_price)
        assert stored["quantity"] == line.quantity and stored["currency"] == "GBP" and not stored["cancelled"]
    stored_payload = str(event_row(row["webhook_id"])["payload"])
    for value in (SAMPLE_CUSTOMER.email, SAMPLE_CUSTOMER.phone, SAMPLE_CUSTOMER.last_name, str(SAMPLE_CUSTOMER.id),
                  SAMPLE_CUSTOMER.address1, "customer", "billing_address", "browser_ip"):
        assert value not in stored_payload


def test_orders_updated_cancels_the_lines_and_an_older_update_does_not_undo_it(world):
    store = world.store
    order = store.orders[-2]
    cancelled_at = later(1)
    row = send(world, topics.ORDERS_UPDATED, payloads.order_payload(store, order, cancelled_at=cancelled_at,
                                                                   updated_at=later(2)))
    assert row["status"] == "processed", row
    assert {line["cancelled"] for line in order_lines(world, order.id)} == {True}
    send(world, topics.ORDERS_UPDATED, payloads.order_payload(store, order, updated_at=later(1)))
    assert {line["cancelled"] for line in order_lines(world, order.id)} == {True}


# --- the app -------------------------------------------------------------------------------------


def test_app_scopes_update_records_the_scopes_and_a_withdrawn_scope_stops_runs(world):
    store = world.store
    all_scopes = ["read_products", "read_inventory", "read_orders"]
    row = send(world, topics.APP_SCOPES_UPDATE, payloads.scopes_update_payload(["read_products"], all_scopes))
    assert row["status"] == "processed", row
    shop = shop_row(store.domain)
    assert shop["scopes"] == ",".join(all_scopes) and shop["status"] == "active"
    row = send(world, topics.APP_SCOPES_UPDATE, payloads.scopes_update_payload(all_scopes, all_scopes[:2]))
    shop = shop_row(store.domain)
    assert shop["scopes"] == "read_products,read_inventory"
    assert shop["status"] == "needs_reauth" and "read_orders" in shop["reauth_reason"]
    with transaction() as conn:  # put the shop back for the tests after this one
        conn.execute("UPDATE shops SET status = 'active', reauth_reason = NULL WHERE domain = %s", (store.domain,))


def test_bulk_operations_finish_is_recorded_for_the_bulk_sync_to_poll(world):
    store = world.store
    row = send(world, topics.BULK_OPERATIONS_FINISH, payloads.bulk_operation_finish_payload(147_595_010))
    assert row["status"] == "processed", row
    send(world, topics.BULK_OPERATIONS_FINISH, payloads.bulk_operation_finish_payload(147_595_010))  # redelivered
    with transaction() as conn:
        shop = get_shop(conn, store.domain)
        waiting = bulk_operation_finishes.unconsumed_finishes(conn, shop.id)
        assert [(f.operation_id, f.status, f.operation_type) for f in waiting] == \
            [("gid://shopify/BulkOperation/147595010", "COMPLETED", "QUERY")]
        bulk_operation_finishes.mark_consumed(conn, shop.id, waiting[0].operation_id)
        assert bulk_operation_finishes.unconsumed_finishes(conn, shop.id) == []


# --- compliance ----------------------------------------------------------------------------------


def test_customers_data_request_reports_that_nothing_personal_is_held(world):
    store = world.store
    orders = list(store.orders[-6:-3])  # inside the sync's history window
    row = send(world, topics.CUSTOMERS_DATA_REQUEST, payloads.customers_data_request_payload(store, orders))
    assert row["status"] == "processed", row
    with transaction() as conn:
        request = next(r for r in compliance_requests.requests_of(conn, store.domain) if r.webhook_id == row["webhook_id"])
    held = sum(len(o.line_items) for o in orders)
    assert request.request_id == "9990001" and request.orders_count == 3
    assert request.report["personal_data_held"] == []
    assert request.report["order_lines_held_for_those_orders"] == held
    assert not any(word in " ".join(request.report["order_line_fields"]) for word in ("customer", "email", "phone"))
    text = str(request.model_dump()) + str(event_row(row["webhook_id"])["payload"])
    assert SAMPLE_CUSTOMER.email not in text and str(SAMPLE_CUSTOMER.id) not in text


def test_customers_redact_is_recorded_as_handled_and_deletes_nothing(world):
    store = world.store
    orders = list(store.orders[3:5])
    lines_before = count_rows("order_lines")
    row = send(world, topics.CUSTOMERS_REDACT, payloads.customers_redact_payload(store, orders))
    assert row["status"] == "processed" and "nothing to delete" in row["outcome"], row
    assert count_rows("order_lines") == lines_before
    assert count_rows("compliance_requests", "webhook_id = %s AND topic = 'customers/redact'", (row["webhook_id"],)) == 1


# --- what cannot be processed is kept and retried ------------------------------------------------


def test_a_webhook_that_cannot_be_processed_yet_is_kept_failed_and_succeeds_on_retry(world):
    """An order arrives for a shop whose install has not finished: kept, failed with the reason;
    the sweep after the install applies it."""
    store = world.store
    order = store.orders[0]
    row = send(world, topics.ORDERS_CREATE, payloads.order_payload(store, order), domain=NOT_YET_INSTALLED)
    assert row["status"] == "failed" and "not installed" in row["last_error"], row
    assert row["attempts"] == 1 and row["next_attempt_at"] > datetime.now(timezone.utc)
    summary = process_waiting_events()  # not due yet: untouched
    assert event_row(row["webhook_id"])["attempts"] == 1 and row["webhook_id"] not in summary.failed_ids

    with transaction() as conn:
        upsert_shop(conn, NOT_YET_INSTALLED, name="Installing", currency="GBP", access_token_ciphertext=None,
                    token_key_id=None, scopes=None)
        conn.execute("UPDATE webhook_events SET next_attempt_at = now() WHERE webhook_id = %s", (row["webhook_id"],))
    world.host.invoke_timer("webhook_sweep")  # the timer's own path: it starts the sweep orchestration
    status = world.runner.wait_for_completion(SWEEP_INSTANCE_ID, timeout=60)
    assert status.output["processed"] >= 1, status.output
    retried = event_row(row["webhook_id"])
    assert retried["status"] == "processed" and retried["attempts"] == 2 and retried["last_error"] is None
    with transaction() as conn:
        n = conn.execute("""SELECT count(*) AS n FROM order_lines ol JOIN shops s ON s.id = ol.shop_id
                            WHERE s.domain = %s AND ol.order_id = %s""", (NOT_YET_INSTALLED, order.id)).fetchone()["n"]
    assert n == len(order.line_items)


def test_a_payload_that_never_validates_stops_being_retried_after_the_last_attempt(world):
    store = world.store
    broken = payloads.order_payload(store, store.orders[1])
    broken["line_items"][0]["price"] = "twelve pounds"
    row = send(world, topics.ORDERS_CREATE, broken)
    assert row["status"] == "failed" and "line_items.0.price" in row["last_error"], row
    assert "twelve" not in row["last_error"]  # fields are named, values are not repeated
    moment = datetime.now(timezone.utc)
    for _ in range(MAX_ATTEMPTS):
        moment += timedelta(days=1)
        process_waiting_events(shop_domain=store.domain, now=moment)
    final = event_row(row["webhook_id"])
    assert final["status"] == "failed" and final["attempts"] == MAX_ATTEMPTS  # kept, no longer retried


def test_an_unsupported_topic_is_kept_as_failed_and_not_retried(world):
    report = world.sender.send("orders/paid", world.store.domain, {"id": 1})
    assert report.last_status == 200
    row = event_row(report.delivery.webhook_id)
    assert row["status"] == "failed" and row["last_error"] == "unsupported topic orders/paid"
    assert row["payload"] == {} and row["attempts"] == MAX_ATTEMPTS
    assert world.runner.get_status(f"webhook-{report.delivery.webhook_id}") is None


def test_every_topic_is_covered_by_a_test_here_or_in_test_webhook_lifecycle():
    tested = {topics.PRODUCTS_CREATE, topics.PRODUCTS_UPDATE, topics.PRODUCTS_DELETE, topics.INVENTORY_LEVELS_UPDATE,
              topics.ORDERS_CREATE, topics.ORDERS_UPDATED, topics.APP_SCOPES_UPDATE, topics.BULK_OPERATIONS_FINISH,
              topics.CUSTOMERS_DATA_REQUEST, topics.CUSTOMERS_REDACT}
    in_lifecycle = {topics.APP_UNINSTALLED, topics.SHOP_REDACT}
    assert tested | in_lifecycle == topics.SUPPORTED_TOPICS
    assert number("gid://shopify/Product/12?x=1") == 12


def test_processed_events_are_pruned_after_the_retention_and_failed_ones_are_kept(world):
    domain = world.store.domain
    processed = count_rows("webhook_events", "shop_domain = %s AND status = 'processed'", (domain,))
    failed = count_rows("webhook_events", "shop_domain = %s AND status = 'failed'", (domain,))
    assert processed > 5 and failed >= 1
    assert prune_processed_events() == 0  # nothing is a month old yet
    assert prune_processed_events(now=datetime.now(timezone.utc) + PROCESSED_RETENTION + timedelta(hours=1)) >= processed
    assert count_rows("webhook_events", "shop_domain = %s AND status = 'processed'", (domain,)) == 0
    assert count_rows("webhook_events", "shop_domain = %s AND status = 'failed'", (domain,)) == failed


def test_an_uninstall_raised_before_the_current_install_changes_nothing(world):
    """A late redelivery of an old app/uninstalled, after the merchant installed again."""
    store = world.store
    before = shop_row(store.domain)
    try:
        row = send(world, topics.APP_UNINSTALLED, payloads.app_uninstalled_payload(store),
                   triggered_at=before["installed_at"] - timedelta(hours=1))
        after = shop_row(store.domain)
        assert row["outcome"] == "skipped: the shop installed the app again after this uninstall"
        assert after["status"] == "active" and after["access_token_ciphertext"] == before["access_token_ciphertext"]
    finally:
        with transaction() as conn:
            conn.execute("UPDATE shops SET status = %s, access_token_ciphertext = %s WHERE domain = %s",
                         (before["status"], before["access_token_ciphertext"], store.domain))
