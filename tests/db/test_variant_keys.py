"""The variants' foreign key (migration 0071): a variant's product is of the variant's own shop,
and deleting a shop or a product still takes its variants with it."""

from __future__ import annotations

import time

import psycopg
import pytest

from shared.db.pool import transaction


def _shop(conn: psycopg.Connection, name: str) -> int:
    return conn.execute("INSERT INTO shops (domain, name) VALUES (%s, %s) RETURNING id",
                        (f"{name}-{time.time_ns()}.myshopify.com", name)).fetchone()["id"]


def _product(conn: psycopg.Connection, shop_id: int, shopify_id: str) -> int:
    return conn.execute("INSERT INTO products (shop_id, shopify_id, title) VALUES (%s, %s, 'Mug') RETURNING id",
                        (shop_id, shopify_id)).fetchone()["id"]


def _variant(conn: psycopg.Connection, shop_id: int, product_id: int, shopify_id: str) -> int:
    return conn.execute("""INSERT INTO variants (shop_id, product_id, shopify_id, sku, price)
                           VALUES (%s, %s, %s, 'MUG-1', 12.50) RETURNING id""",
                        (shop_id, product_id, shopify_id)).fetchone()["id"]


def test_a_variant_cannot_name_another_shops_product(db):
    with transaction() as conn:
        first, second = _shop(conn, "keys-first"), _shop(conn, "keys-second")
        product = _product(conn, first, "gid://shopify/Product/1")
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="variants_shop_product_fkey"):
        with transaction() as conn:
            _variant(conn, second, product, "gid://shopify/ProductVariant/1")
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="variants_shop_product_fkey"):
        with transaction() as conn:
            _variant(conn, first, product + 1_000_000, "gid://shopify/ProductVariant/2")
    with transaction() as conn:
        conn.execute("DELETE FROM shops WHERE id = ANY(%s)", ([first, second],))


def test_deleting_a_product_or_a_shop_deletes_its_variants(db):
    with transaction() as conn:
        shop = _shop(conn, "keys-cascade")
        kept, dropped = _product(conn, shop, "gid://shopify/Product/1"), _product(conn, shop, "gid://shopify/Product/2")
        _variant(conn, shop, kept, "gid://shopify/ProductVariant/1")
        _variant(conn, shop, dropped, "gid://shopify/ProductVariant/2")
        conn.execute("DELETE FROM products WHERE id = %s", (dropped,))
        assert [r["shopify_id"] for r in conn.execute("SELECT shopify_id FROM variants WHERE shop_id = %s", (shop,))] \
            == ["gid://shopify/ProductVariant/1"]
        conn.execute("DELETE FROM shops WHERE id = %s", (shop,))
        assert conn.execute("SELECT count(*) AS n FROM variants WHERE shop_id = %s", (shop,)).fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM products WHERE shop_id = %s", (shop,)).fetchone()["n"] == 0
