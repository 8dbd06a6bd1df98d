"""The catalogue sync: emulator -> client -> repository -> embedded Postgres."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from shared.db import catalogue
from shared.db.pool import close_pool, transaction
from shared.local.sample_store import LineItem, SampleStore, generate_store
from shared.local.shopify_emulator import ManualClock, ShopifyEmulator, requested_query_cost
from shared.settings import get_settings
from shared.shopify import sync
from shared.shopify.admin_api import AdminApiClient

TOKEN = "shpat_sync_test_token"
_domains = itertools.count(1)


@pytest.fixture(scope="session")
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """An embedded Postgres of this test session's own, stopped at the end.

    When tests/conftest.py provides the session's shared database (`local_data_dir`), that one is
    used instead, so that two fixtures never fight over LOCAL_DATA_DIR.
    """
    try:
        shared_dir = request.getfixturevalue("local_data_dir")
    except pytest.FixtureLookupError:
        shared_dir = None
    if shared_dir is not None:
        yield shared_dir
        return
    data_dir = tmp_path_factory.mktemp("catalogue-db")
    patch = pytest.MonkeyPatch()
    patch.setenv("LOCAL_DATA_DIR", str(data_dir))
    patch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    close_pool()
    yield data_dir
    close_pool()
    if (data_dir / "pgdata").exists():
        import pgserver

        server = pgserver.get_server(Path(data_dir).resolve() / "pgdata")  # the handle the pool opened
        server.cleanup_mode = "stop"
        server.cleanup()
    patch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def store() -> SampleStore:
    return generate_store(n_products=12, as_of=date(2026, 11, 28))


def new_shop(name: str = "Sync test") -> tuple[int, str]:
    domain = f"sync-test-{next(_domains)}.myshopify.com"
    with transaction() as conn:
        row = conn.execute(
            "INSERT INTO shops (domain, name, currency) VALUES (%s, %s, 'GBP') "
            "ON CONFLICT (domain) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            (domain, name),
        ).fetchone()
    return row["id"], domain


def run_sync(emulator: ShopifyEmulator, shop_id: int, domain: str, store: SampleStore, **kwargs) -> sync.SyncSummary:
    client_kwargs = {k: kwargs.pop(k) for k in ("sleep", "clock") if k in kwargs}

    async def go() -> sync.SyncSummary:
        async with AdminApiClient(domain, TOKEN, base_url_template=emulator.admin_base_url_template, **client_kwargs) as client:
            return await sync.sync_shop(shop_id, domain, client, now=store.as_of, **kwargs)

    return asyncio.run(go())


def counts(shop_id: int) -> catalogue.CatalogueCounts:
    with transaction() as conn:
        return catalogue.catalogue_counts(conn, shop_id)


@pytest.fixture()
def synced(database, store: SampleStore):
    """A shop synced once from a Plus-sized emulator: (emulator, shop_id, domain, summary)."""
    shop_id, domain = new_shop()
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN, domain=domain, plan="plus")
        summary = run_sync(emulator, shop_id, domain, store)
        yield emulator, shop_id, domain, summary


# --- counts and idempotence -----------------------------------------------------------------------------


def test_full_sync_stores_exactly_the_store(synced, store: SampleStore) -> None:
    emulator, shop_id, domain, summary = synced
    expected = store.summary()
    assert (summary.products, summary.variants, summary.inventory_levels, summary.orders, summary.order_lines) == (
        expected["products"], expected["variants"], expected["inventory_levels"], expected["orders"], expected["order_lines"])
    assert counts(shop_id) == catalogue.CatalogueCounts(
        products=expected["products"], variants=expected["variants"], inventory_levels=expected["inventory_levels"],
        orders=expected["orders"], order_lines=expected["order_lines"])
    assert summary.mode == "full" and summary.variants_skipped == 0 and summary.locations == 2
    records = emulator.records(domain)
    assert summary.query_points == sum(r.actual_cost for r in records) > 0
    assert summary.requests == len(records) and summary.pages == len(records)
    assert all(r.outcome == "ok" and r.requested_cost <= 1000 for r in records)


def test_second_sync_leaves_the_same_rows(synced, store: SampleStore) -> None:
    emulator, shop_id, domain, first = synced
    with transaction() as conn:
        before = conn.execute("SELECT shopify_id, price, inventory_quantity FROM variants WHERE shop_id = %s ORDER BY 1",
                              (shop_id,)).fetchall()
    second = run_sync(emulator, shop_id, domain, store)
    assert counts(shop_id).model_dump() == {
        "products": first.products, "variants": first.variants, "inventory_levels": first.inventory_levels,
        "orders": first.orders, "order_lines": first.order_lines}
    assert (second.products, second.order_lines) == (first.products, first.order_lines)
    with transaction() as conn:
        after = conn.execute("SELECT shopify_id, price, inventory_quantity FROM variants WHERE shop_id = %s ORDER BY 1",
                             (shop_id,)).fetchall()
    assert after == before


# --- values -------------------------------------------------------------------------------------------------


def test_prices_and_costs_are_stored_as_exact_decimals(synced, store: SampleStore) -> None:
    _, shop_id, _, _ = synced
    with transaction() as conn:
        variants = {row.sku: row for row in catalogue.list_variants(conn, shop_id)}
        lines = {row["line_id"]: row for row in conn.execute(
            "SELECT line_id, original_unit_price, discounted_unit_price, product_shopify_id, cancelled, current_quantity "
            "FROM order_lines WHERE shop_id = %s", (shop_id,)).fetchall()}
    assert set(variants) == {v.sku for v in store.variants}
    for variant in store.variants:
        row = variants[variant.sku]
        assert isinstance(row.price, Decimal) and row.price == variant.price and str(row.price) == f"{variant.price:.2f}"
        assert row.compare_at_price == variant.compare_at_price
        assert row.shopify_unit_cost == variant.unit_cost  # None stays None: "no cost, no recommendation"
        assert row.barcode == variant.barcode and row.inventory_item_id == variant.inventory_item_id
    for order in store.orders:
        for line in order.line_items:
            stored = lines[line.id]
            assert stored["original_unit_price"] == line.original_unit_price
            assert stored["discounted_unit_price"] == line.discounted_unit_price
            assert stored["product_shopify_id"] == line.product_id  # filled in from the variant's product
            assert stored["cancelled"] == (order.cancelled_at is not None)
            assert stored["current_quantity"] == line.current_quantity


def test_reads_for_the_pricing_steps(synced, store: SampleStore) -> None:
    _, shop_id, _, _ = synced
    with transaction() as conn:
        variants = {row.sku: row for row in catalogue.list_variants(conn, shop_id)}
        sold = catalogue.units_sold_by_variant(conn, shop_id, 30, as_of=store.as_of)
        daily = catalogue.daily_sales(conn, shop_id, store.as_of - timedelta(days=365), store.as_of)
    for variant in store.variants:
        row = variants[variant.sku]
        assert row.stock_available == store.stock_available(variant)
        assert row.product_title == store.product_by_id[variant.product_id].title
    since = store.as_of - timedelta(days=30)
    expected: dict[str, int] = {}
    for order in store.orders:
        if order.created_at >= since and order.cancelled_at is None:
            for line in order.line_items:
                expected[line.sku] = expected.get(line.sku, 0) + line.current_quantity
    by_sku = {sku: sold[row.variant_id].units for sku, row in variants.items() if row.variant_id in sold}
    assert by_sku == {sku: units for sku, units in expected.items() if units or sku in by_sku}
    ordered = sum(line.quantity for o in store.orders if o.cancelled_at is None for line in o.line_items)
    assert sum(day.units_ordered for day in daily) == ordered


def test_incremental_sync_reads_only_what_changed(synced, store: SampleStore) -> None:
    emulator, shop_id, domain, full = synced
    since = store.as_of - timedelta(days=30)
    summary = run_sync(emulator, shop_id, domain, store, since=since)
    assert summary.mode == "incremental"
    assert summary.products == sum(p.updated_at > since for p in store.products)
    assert summary.variants == sum(v.updated_at > since for v in store.variants)
    assert summary.orders == sum(o.updated_at > since for o in store.orders)
    assert summary.inventory_levels == len(store.inventory_levels)  # stock is always read whole
    assert 0 < summary.orders < full.orders and summary.query_points < full.query_points
    assert counts(shop_id).order_lines == full.order_lines


# --- cost discipline ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "declared"),
    [
        (sync.PRODUCTS_QUERY, {"first": sync.PRODUCTS_PAGE}, sync.PRODUCTS_COST),
        (sync.VARIANTS_QUERY, {"first": sync.VARIANTS_PAGE}, sync.VARIANTS_COST),
        (sync.LOCATIONS_QUERY, {"first": sync.LOCATIONS_PAGE}, sync.LOCATIONS_COST),
        (sync.LEVELS_QUERY, {"location": "gid://shopify/Location/1", "first": sync.LEVELS_PAGE}, sync.LEVELS_COST),
        (sync.ORDERS_QUERY, {"first": sync.ORDERS_PAGE, "lines": sync.LINES_PER_ORDER}, sync.ORDERS_COST),
        (sync.ORDER_LINES_QUERY, {"order": "gid://shopify/Order/1", "first": sync.ORDER_LINES_PAGE}, sync.ORDER_LINES_COST),
    ],
)
def test_every_sync_query_fits_under_the_single_query_cap(query: str, variables: dict, declared: int) -> None:
    assert requested_query_cost(query, variables) == declared <= 1000
    assert "customer" not in query.lower() and "email" not in query.lower()


def test_sync_on_a_standard_shop_waits_for_the_bucket(database, store: SampleStore) -> None:
    clock = ManualClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    shop_id, domain = new_shop()
    with ShopifyEmulator(clock=clock) as emulator:
        emulator.add_shop(store, TOKEN, domain=domain, plan="standard")
        emulator.shop(domain).bucket.set_available(1000)  # another job has just used half the bucket
        summary = run_sync(emulator, shop_id, domain, store, sleep=sleep, clock=clock)
        records = emulator.records(domain)
    assert summary.order_lines == store.summary()["order_lines"]
    assert summary.throttled_waits >= 1 and slept
    assert summary.wait_seconds == pytest.approx(sum(slept), abs=0.01)
    # The waits covered the points spent beyond the bucket: restore rate 100 points a second.
    assert sum(slept) >= (summary.query_points - 1000) / 100 * 0.9
    assert sum(r.outcome == "throttled" for r in records) <= 6  # at most once per query text, before its cost is known


def test_orders_with_more_lines_than_one_page(database, store: SampleStore) -> None:
    order = store.orders[-1]
    extra = tuple(
        LineItem(
            id=f"gid://shopify/LineItem/{99_000_000_000_000 + i}", variant_id=v.id, product_id=v.product_id, sku=v.sku,
            name=v.title, quantity=1, current_quantity=1, original_unit_price=v.price_at(order.created_at),
            discounted_unit_price=v.price_at(order.created_at),
        )
        for i, v in enumerate(store.variants[:7])
    )
    big_order = dataclasses.replace(order, line_items=order.line_items + extra)
    bigger = dataclasses.replace(store, orders=store.orders[:-1] + (big_order,))
    assert len(big_order.line_items) > sync.LINES_PER_ORDER

    shop_id, domain = new_shop()
    with ShopifyEmulator() as emulator:
        emulator.add_shop(bigger, TOKEN, domain=domain)
        summary = run_sync(emulator, shop_id, domain, bigger)
    assert summary.order_lines == store.summary()["order_lines"] + len(extra)
    with transaction() as conn:
        stored = conn.execute("SELECT count(*) AS n FROM order_lines WHERE shop_id = %s AND order_id = %s",
                              (shop_id, big_order.id)).fetchone()["n"]
    assert stored == len(big_order.line_items)
