"""The bulk full sync: JSONL joined by __parentId whatever the line order, deletions only after a whole
read, the orders window, and the paginated full sync's deletions."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.db import catalogue
from shared.db.pool import transaction
from shared.local.sample_store import SampleStore, generate_store
from shared.local.shopify_emulator import ManualClock, ShopifyEmulator
from shared.shopify import bulk_sync, sync
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.bulk_operations import (
    BulkOperationFailedError,
    BulkOperationStatus,
    BulkResultIncompleteError,
    download_result,
)
from shared.shopify.order_window import order_history_days

TOKEN = "shpat_bulk_sync_test_token"
_domains = itertools.count(1)


@pytest.fixture(scope="module")
def store() -> SampleStore:
    return generate_store(n_products=12, as_of=date(2026, 11, 28))


def new_shop(scopes: str | None = None) -> tuple[int, str]:
    domain = f"bulk-sync-test-{next(_domains)}.myshopify.com"
    with transaction() as conn:
        row = conn.execute("INSERT INTO shops (domain, name, currency, scopes) VALUES (%s, 'Bulk test', 'GBP', %s) "
                           "RETURNING id", (domain, scopes)).fetchone()
    return row["id"], domain


def without_products(store: SampleStore, count: int) -> SampleStore:
    """The store after its last `count` products were deleted in Shopify."""
    kept = store.products[:-count]
    items = {v.inventory_item_id for p in kept for v in p.variants}
    return dataclasses.replace(store, products=kept,
                               inventory_levels=tuple(lv for lv in store.inventory_levels if lv.inventory_item_id in items))


def client_for(emulator: ShopifyEmulator, domain: str) -> AdminApiClient:
    return AdminApiClient(domain, TOKEN, base_url_template=emulator.admin_base_url_template)


async def completed(client: AdminApiClient, emulator: ShopifyEmulator, part: str, orders_from: datetime) -> str:
    """Start a part and wait for it (a test may sleep; the app waits with durable timers)."""
    operation = await bulk_sync.start_part(client, part, orders_from)
    emulator.shop(client.shop_domain).bulk_operations.clock.advance(3600)
    for _ in range(500):
        status = await bulk_sync.part_status(client, operation.id)
        if status.status.finished:
            return operation.id
        await asyncio.sleep(0.01)
    raise AssertionError("the bulk operation did not finish")


def bulk_sync_part(emulator: ShopifyEmulator, shop_id: int, domain: str, part: str, orders_from: datetime):
    async def go():
        async with client_for(emulator, domain) as client:
            operation_id = await completed(client, emulator, part, orders_from)
            return await bulk_sync.ingest_part(client, shop_id, part, operation_id)

    return asyncio.run(go())


def download(emulator: ShopifyEmulator, domain: str, part: str, orders_from: datetime, path: Path) -> int:
    async def go():
        async with client_for(emulator, domain) as client:
            operation_id = await completed(client, emulator, part, orders_from)
            return await download_result(await bulk_sync.part_status(client, operation_id), client, path)

    return asyncio.run(go())


def emulator_with(store: SampleStore, domain: str) -> ShopifyEmulator:
    emulator = ShopifyEmulator(clock=ManualClock()).start()
    emulator.add_shop(store, TOKEN, domain=domain)
    return emulator


def snapshot(shop_id: int) -> dict:
    """Everything the catalogue holds for the shop, keyed by Shopify ids (not our row ids)."""
    with transaction() as conn:
        return {
            "products": sorted(tuple(r.values()) for r in conn.execute(
                "SELECT shopify_id, title, handle, product_type, vendor, status FROM products WHERE shop_id = %s",
                (shop_id,))),
            "variants": sorted(tuple(r.values()) for r in conn.execute(
                """SELECT v.shopify_id, p.shopify_id AS product, v.sku, v.price, v.compare_at_price, v.inventory_item_id,
                          v.inventory_quantity, v.shopify_unit_cost FROM variants v JOIN products p ON p.id = v.product_id
                   WHERE v.shop_id = %s""", (shop_id,))),
            "levels": sorted(tuple(r.values()) for r in conn.execute(
                """SELECT inventory_item_id, location_id, location_name, available, on_hand, committed
                   FROM inventory_levels WHERE shop_id = %s""", (shop_id,))),
            "order_lines": sorted(tuple(r.values()) for r in conn.execute(
                """SELECT line_id, order_id, order_created_at, cancelled, variant_shopify_id, product_shopify_id,
                          quantity, current_quantity, original_unit_price, discounted_unit_price
                   FROM order_lines WHERE shop_id = %s""", (shop_id,))),
        }


def age_rows(shop_id: int, days: int = 1) -> None:
    """As if the last full read had been a day ago."""
    with transaction() as conn:
        for table in ("products", "variants", "inventory_levels"):
            conn.execute(f"UPDATE {table} SET synced_at = synced_at - make_interval(days => %s) WHERE shop_id = %s",
                         (days, shop_id))


# --- starting -----------------------------------------------------------------------------------------


def test_starting_again_adopts_our_running_operation_and_another_query_must_wait(db, store) -> None:
    from shared.shopify.bulk_operations import BulkOperationInProgressError, start_bulk_query

    _, domain = new_shop()
    emulator = emulator_with(store, domain)

    async def go():
        async with client_for(emulator, domain) as client:
            first = await bulk_sync.start_part(client, "catalogue", store.as_of)
            again = await bulk_sync.start_part(client, "catalogue", store.as_of)  # a retried activity
            with pytest.raises(BulkOperationInProgressError) as caught:
                await start_bulk_query(client, "{ products { edges { node { id } } } }")
            return first, again, caught.value

    try:
        first, again, error = asyncio.run(go())
    finally:
        emulator.stop()
    assert again.id == first.id and again.status is BulkOperationStatus.RUNNING
    assert error.retryable and len(emulator.shop(domain).bulk_operations.operations) == 1


# --- the JSONL join ---------------------------------------------------------------------------------


def test_the_jsonl_join_does_not_depend_on_line_order(db, store, tmp_path) -> None:
    _, source_domain = new_shop()
    orders_from = store.as_of - timedelta(days=365)
    emulator = emulator_with(store, source_domain)
    try:
        catalogue_file, orders_file = tmp_path / "catalogue.jsonl", tmp_path / "orders.jsonl"
        download(emulator, source_domain, "catalogue", orders_from, catalogue_file)
        download(emulator, source_domain, "orders", orders_from, orders_file)
    finally:
        emulator.stop()
    orderings = {
        "as served": lambda lines: lines,
        "children first": lambda lines: sorted(lines, key=lambda line: '"__parentId"' not in line),
        "parents first": lambda lines: sorted(lines, key=lambda line: '"__parentId"' in line),
        "reversed": lambda lines: lines[::-1],
        "shuffled": lambda lines: random.Random(7).sample(lines, len(lines)),
    }
    snapshots = {}
    for name, reorder in orderings.items():
        shop_id, _ = new_shop()
        for source, ingest in ((catalogue_file, bulk_sync.ingest_catalogue_file), (orders_file, bulk_sync.ingest_orders_file)):
            lines = source.read_text().splitlines(keepends=True)
            reordered = tmp_path / f"{name}-{source.name}"
            reordered.write_text("".join(reorder(lines)))
            ingest(shop_id, reordered, datetime.now(timezone.utc))
        snapshots[name] = snapshot(shop_id)
    first = snapshots["as served"]
    assert all(s == first for s in snapshots.values())
    # ... and what the join produced is the store: each level under its variant's inventory item.
    item_of = {v.id: v.inventory_item_id for v in store.variants}
    assert {(lv[0], lv[1]) for lv in first["levels"]} == {(lv.inventory_item_id, lv.location_id) for lv in store.inventory_levels}
    assert {(v[0], v[1], v[5]) for v in first["variants"]} == {(v.id, v.product_id, item_of[v.id]) for v in store.variants}
    lines = [line for order in store.orders for line in order.line_items]
    assert {(r[0], r[1]) for r in first["order_lines"]} == {(line.id, order.id) for order in store.orders
                                                           for line in order.line_items}
    assert len(first["order_lines"]) == len(lines)


def test_a_child_without_its_parent_fails_the_ingest_and_writes_nothing(db, store, tmp_path) -> None:
    _, domain = new_shop()
    emulator = emulator_with(store, domain)
    try:
        path = tmp_path / "catalogue.jsonl"
        download(emulator, domain, "catalogue", store.as_of, path)
    finally:
        emulator.stop()
    lines = path.read_text().splitlines(keepends=True)
    parent = next(json.loads(line)["__parentId"] for line in lines if "__parentId" in line)
    path.write_text("".join(line for line in lines if json.loads(line)["id"] != parent))
    shop_id, _ = new_shop()
    with pytest.raises(BulkResultIncompleteError, match="name a parent"):
        bulk_sync.ingest_catalogue_file(shop_id, path, datetime.now(timezone.utc))
    assert snapshot(shop_id) == {"products": [], "variants": [], "levels": [], "order_lines": []}


# --- a whole read deletes what it did not see; an incomplete one deletes nothing ----------------------


def test_products_missing_from_a_full_bulk_sync_are_deleted(db, store) -> None:
    shop_id, domain = new_shop()
    emulator = emulator_with(store, domain)
    try:
        bulk_sync_part(emulator, shop_id, domain, "catalogue", store.as_of)
    finally:
        emulator.stop()
    assert len(snapshot(shop_id)["variants"]) == len(store.variants)
    age_rows(shop_id)

    smaller = without_products(store, 2)
    gone = {p.id for p in store.products[-2:]}
    emulator = emulator_with(smaller, domain)
    try:
        ingested = bulk_sync_part(emulator, shop_id, domain, "catalogue", store.as_of)
    finally:
        emulator.stop()
    after = snapshot(shop_id)
    assert {p[0] for p in after["products"]} == {p.id for p in smaller.products}
    assert {v[0] for v in after["variants"]} == {v.id for v in smaller.variants}
    assert {(lv[0], lv[1]) for lv in after["levels"]} == {(lv.inventory_item_id, lv.location_id)
                                                          for lv in smaller.inventory_levels}
    assert ingested.counts["products_removed"] == 2
    assert ingested.counts["variants_removed"] == sum(len(p.variants) for p in store.products if p.id in gone)


@pytest.mark.parametrize("fault", ["truncated download", "operation failed"])
def test_an_incomplete_bulk_read_deletes_nothing_and_writes_nothing(db, store, fault) -> None:
    shop_id, domain = new_shop()
    emulator = emulator_with(store, domain)
    try:
        bulk_sync_part(emulator, shop_id, domain, "catalogue", store.as_of)
    finally:
        emulator.stop()
    age_rows(shop_id)
    before = snapshot(shop_id)

    emulator = emulator_with(without_products(store, 3), domain)
    settings = emulator.shop(domain).bulk_operations.settings
    if fault == "truncated download":
        settings.cut_download_after_lines = 10
    else:
        settings.fail_next.append("INTERNAL_SERVER_ERROR")
    try:
        with pytest.raises((BulkResultIncompleteError, BulkOperationFailedError)) as caught:
            bulk_sync_part(emulator, shop_id, domain, "catalogue", store.as_of)
    finally:
        emulator.stop()
    assert caught.value.retryable  # a new read may well succeed
    assert snapshot(shop_id) == before


def test_a_result_with_fewer_lines_than_shopify_counted_is_refused(db, store, tmp_path) -> None:
    from shared.shopify.bulk_operations import bulk_operation, start_bulk_query

    _, domain = new_shop()
    emulator = emulator_with(store, domain)
    emulator.shop(domain).bulk_operations.settings.cut_download_after_lines = 5

    async def go():
        async with client_for(emulator, domain) as client:
            operation = await start_bulk_query(client, "{ products { edges { node { id title } } } }")  # no children
            emulator.shop(domain).bulk_operations.clock.advance(60)
            for _ in range(500):
                operation = await bulk_operation(client, operation.id)
                if operation.status.finished:
                    break
                await asyncio.sleep(0.01)
            await download_result(operation, client, tmp_path / "products.jsonl")

    try:
        with pytest.raises(BulkResultIncompleteError, match=f"has 5 lines, Shopify reported {len(store.products)}"):
            asyncio.run(go())
    finally:
        emulator.stop()


def test_rows_written_while_the_read_ran_are_not_deleted(db, store) -> None:
    shop_id, domain = new_shop()
    emulator = emulator_with(store, domain)
    try:
        bulk_sync_part(emulator, shop_id, domain, "catalogue", store.as_of)
        # Not aged: as if a webhook had written these rows just now, after the snapshot began.
        emulator.stop()
        emulator = emulator_with(without_products(store, 2), domain)
        ingested = bulk_sync_part(emulator, shop_id, domain, "catalogue", store.as_of)
    finally:
        emulator.stop()
    assert ingested.counts["products_removed"] == 0
    assert len(snapshot(shop_id)["products"]) == len(store.products)


def test_paginated_full_sync_deletes_unseen_rows_but_not_after_a_failure_nor_an_incremental_one(db, store, monkeypatch) -> None:
    shop_id, domain = new_shop()

    def paginated(source: SampleStore, **kwargs):
        async def go():
            with ShopifyEmulator() as emulator:
                emulator.add_shop(source, TOKEN, domain=domain)
                async with client_for(emulator, domain) as client:
                    return await sync.sync_shop(shop_id, domain, client, now=store.as_of, history_days=30, **kwargs)

        return asyncio.run(go())

    paginated(store)
    age_rows(shop_id)
    # An incremental read cannot see deletions: nothing goes.
    summary = paginated(without_products(store, 4), since=store.as_of - timedelta(days=1))
    assert summary.products_removed == 0 and len(snapshot(shop_id)["products"]) == len(store.products)
    # A full read that fails part-way (here: writing orders) deletes nothing.
    monkeypatch.setattr(catalogue, "upsert_order_lines", lambda *args: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError, match="disk full"):
        paginated(without_products(store, 4))
    assert len(snapshot(shop_id)["products"]) == len(store.products)
    monkeypatch.undo()
    # A full read that completes does.
    age_rows(shop_id)
    summary = paginated(without_products(store, 4))
    assert summary.products_removed == 4
    assert {p[0] for p in snapshot(shop_id)["products"]} == {p.id for p in store.products[:-4]}


# --- the orders window --------------------------------------------------------------------------------


@pytest.mark.parametrize(("scopes", "configured", "days"), [
    ("read_products,read_inventory,read_orders", 365, 60),
    ("read_products,read_orders,read_all_orders", 365, 365),
    (" read_all_orders , read_orders", 400, 400),
    ("read_orders", 30, 30),
    (None, 365, 60),
])
def test_orders_older_than_60_days_need_read_all_orders(scopes, configured, days) -> None:
    assert order_history_days(scopes, configured) == days


@pytest.mark.parametrize("scopes", ["read_products,read_orders", "read_products,read_orders,read_all_orders"])
def test_the_sync_reads_60_days_of_orders_unless_read_all_orders_is_granted(db, store, scopes) -> None:
    from activities.sync_shopify import history_days_for

    shop_id, domain = new_shop(scopes)
    days = history_days_for(shop_id)
    assert days == (365 if "read_all_orders" in scopes else 60)
    orders_from = bulk_sync.orders_window_start(store.as_of, days)
    emulator = emulator_with(store, domain)
    try:
        bulk_sync_part(emulator, shop_id, domain, "catalogue", orders_from)
        bulk_sync_part(emulator, shop_id, domain, "orders", orders_from)
    finally:
        emulator.stop()
    expected = {line.id for order in store.orders if order.created_at >= orders_from for line in order.line_items}
    stored = {r[0] for r in snapshot(shop_id)["order_lines"]}
    assert stored == expected
    oldest = min(order.created_at for order in store.orders)
    assert (oldest < orders_from) == (days == 60)  # the 60-day read really leaves older orders out
