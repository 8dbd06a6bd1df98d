"""The staged catalogue merge: one MERGE per table, unchanged rows left alone, and the fallback
when a webhook inserts the same variant while the merge runs."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from shared.db.catalogue_staging import CatalogueStaging
from shared.db.pool import transaction

MOMENT = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture()
def shop_id(db):
    domain = f"staging-{time.time_ns()}.myshopify.com"
    with transaction() as conn:
        shop = conn.execute("INSERT INTO shops (domain, name, currency) VALUES (%s, 'Staging', 'GBP') RETURNING id",
                            (domain,)).fetchone()["id"]
    yield shop
    with transaction() as conn:
        conn.execute("DELETE FROM shops WHERE id = %s", (shop,))


def product(i: int) -> tuple:
    return (f"gid://shopify/Product/{i}", f"Product {i}", f"product-{i}", "Mugs", "Acme", "ACTIVE", MOMENT)


def variant(i: int, product_index: int, price: str = "10.00", stock: int = 5) -> tuple:
    return (f"gid://shopify/ProductVariant/{i}", f"gid://shopify/Product/{product_index}", f"SKU-{i}", "Default",
            None, Decimal(price), None, f"gid://shopify/InventoryItem/{i}", stock, Decimal("4.0000"), "GBP")


def merge(shop_id: int, products: list[tuple], variants: list[tuple]):
    with transaction() as conn:
        stage = CatalogueStaging(conn)
        stage.copy_products(products)
        stage.copy_variants(variants)
        return stage.merge(shop_id, remove_unseen_before=None)


def stored(shop_id: int) -> dict[str, dict]:
    with transaction() as conn:
        rows = conn.execute("SELECT * FROM variants WHERE shop_id = %s", (shop_id,)).fetchall()
    return {r["shopify_id"]: r for r in rows}


def test_first_load_then_only_changed_rows_are_written(shop_id):
    products = [product(1), product(2)]
    first = merge(shop_id, products, [variant(1, 1), variant(2, 1), variant(3, 2)])
    assert (first.products_written, first.variants_written) == (2, 3)
    before = stored(shop_id)
    again = merge(shop_id, products, [variant(1, 1), variant(2, 1, price="12.50"), variant(3, 2)])
    assert (again.products_written, again.variants_written) == (0, 1)
    after = stored(shop_id)
    changed = after["gid://shopify/ProductVariant/2"]
    assert changed["price"] == Decimal("12.50") and changed["synced_at"] > before[changed["shopify_id"]]["synced_at"]
    unchanged = after["gid://shopify/ProductVariant/1"]
    assert unchanged["synced_at"] == before[unchanged["shopify_id"]]["synced_at"]  # not rewritten
    moved = merge(shop_id, products, [variant(1, 2), variant(2, 1, price="12.50"), variant(3, 2), variant(4, 2)])
    assert moved.variants_written == 2  # one moved to another product, one new
    with transaction() as conn:
        product_ids = {r["shopify_id"]: r["id"] for r in conn.execute(
            "SELECT id, shopify_id FROM products WHERE shop_id = %s", (shop_id,))}
    assert stored(shop_id)["gid://shopify/ProductVariant/1"]["product_id"] == product_ids["gid://shopify/Product/2"]


def test_a_variant_a_webhook_inserts_during_the_merge_is_updated_not_refused(shop_id, monkeypatch):
    outcomes = []
    one_merge = CatalogueStaging._merge_catalogue
    monkeypatch.setattr(CatalogueStaging, "_merge_catalogue",
                        lambda self, params: outcomes.append(one_merge(self, params)) or outcomes[-1])
    merge(shop_id, [product(1)], [variant(1, 1)])
    with transaction() as conn:
        product_id = conn.execute("SELECT id FROM products WHERE shop_id = %s", (shop_id,)).fetchone()["id"]
    webhook_inserted = threading.Event()
    commit_webhook = threading.Event()

    def webhook():  # a products/create that lands while the full read merges
        with transaction() as conn:
            conn.execute("""INSERT INTO variants (shop_id, product_id, shopify_id, sku, price)
                            VALUES (%s, %s, 'gid://shopify/ProductVariant/2', 'SKU-2', 9.00)""", (shop_id, product_id))
            webhook_inserted.set()
            commit_webhook.wait(10)

    writer = threading.Thread(target=webhook)
    writer.start()
    assert webhook_inserted.wait(10)
    # The MERGE's insert of variant 2 waits on the webhook's uncommitted row; the commit makes it a conflict.
    threading.Timer(0.5, commit_webhook.set).start()
    counts = merge(shop_id, [product(1)], [variant(1, 1), variant(2, 1, price="11.00")])
    writer.join()
    assert outcomes[-1] is None  # MERGE met the unique key: the two-statement merge ran
    assert counts.variants_written == 1
    rows = stored(shop_id)
    assert len(rows) == 2 and rows["gid://shopify/ProductVariant/2"]["price"] == Decimal("11.00")
