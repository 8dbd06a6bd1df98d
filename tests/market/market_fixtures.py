"""Rows the market tests need: a shop with products and variants, written straight to the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.db.pool import transaction


@dataclass
class ShopRows:
    shop_id: int
    product_ids: list[int]
    variant_ids: list[int]


def make_shop(products: int = 2, currency: str = "GBP") -> ShopRows:
    domain = f"t{uuid.uuid4().hex[:12]}.myshopify.com"
    with transaction() as conn:
        shop_id = conn.execute(
            "INSERT INTO shops (domain, name, currency) VALUES (%s, %s, %s) RETURNING id", (domain, "Test", currency)
        ).fetchone()["id"]
        product_ids, variant_ids = [], []
        for n in range(products):
            product_id = conn.execute(
                "INSERT INTO products (shop_id, shopify_id, title) VALUES (%s, %s, %s) RETURNING id",
                (shop_id, f"gid://shopify/Product/{n}", f"Product {n}"),
            ).fetchone()["id"]
            variant_id = conn.execute(
                """INSERT INTO variants (shop_id, product_id, shopify_id, sku, price)
                   VALUES (%s, %s, %s, %s, 20.00) RETURNING id""",
                (shop_id, product_id, f"gid://shopify/ProductVariant/{n}", f"SKU-{n}"),
            ).fetchone()["id"]
            product_ids.append(product_id)
            variant_ids.append(variant_id)
    return ShopRows(shop_id, product_ids, variant_ids)
