"""Single changes to a shop's catalogue, as webhooks report them: newer wins, deletes are final.

Webhooks arrive out of order and more than once, so each write here applies only when the
change is newer than what is stored (`shopify_updated_at` for products and stock,
`order_updated_at` for order lines); an equal or older change leaves the row alone. The daily
sync writes through `shared.db.catalogue` and always wins, since it reads the current state.
Records are the sync's own (`shared.db.catalogue`); the SQL differs in the guard and in
leaving alone what a webhook does not carry (a variant's unit cost, a level's on-hand count).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import psycopg

from shared.db.catalogue import InventoryLevelRecord, OrderLineRecord, ProductRecord, VariantRecord

_UPSERT_PRODUCT = """
INSERT INTO products (shop_id, shopify_id, title, handle, product_type, vendor, status, shopify_updated_at, synced_at)
VALUES (%(shop_id)s, %(shopify_id)s, %(title)s, %(handle)s, %(product_type)s, %(vendor)s, %(status)s,
        %(shopify_updated_at)s, now())
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
    title = EXCLUDED.title, handle = EXCLUDED.handle, product_type = EXCLUDED.product_type, vendor = EXCLUDED.vendor,
    status = EXCLUDED.status, shopify_updated_at = EXCLUDED.shopify_updated_at, synced_at = EXCLUDED.synced_at
WHERE products.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at IS NULL
   OR products.shopify_updated_at < EXCLUDED.shopify_updated_at
RETURNING id
"""

# Unit cost comes from the sync (InventoryItem.unitCost) and is not in a product payload: kept.
_UPSERT_VARIANT = """
INSERT INTO variants (shop_id, product_id, shopify_id, sku, title, barcode, price, compare_at_price,
                      inventory_item_id, inventory_quantity, synced_at)
VALUES (%(shop_id)s, %(product_id)s, %(shopify_id)s, %(sku)s, %(title)s, %(barcode)s, %(price)s,
        %(compare_at_price)s, %(inventory_item_id)s, %(inventory_quantity)s, now())
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
    product_id = EXCLUDED.product_id, sku = EXCLUDED.sku, title = EXCLUDED.title, barcode = EXCLUDED.barcode,
    price = EXCLUDED.price, compare_at_price = EXCLUDED.compare_at_price,
    inventory_item_id = COALESCE(EXCLUDED.inventory_item_id, variants.inventory_item_id),
    inventory_quantity = EXCLUDED.inventory_quantity, synced_at = EXCLUDED.synced_at
"""

# Only `available` is in the payload; on-hand and committed stay as the sync read them.
_UPSERT_LEVEL = """
INSERT INTO inventory_levels (shop_id, inventory_item_id, location_id, available, shopify_updated_at, synced_at)
VALUES (%(shop_id)s, %(inventory_item_id)s, %(location_id)s, %(available)s, %(updated_at)s, now())
ON CONFLICT (shop_id, inventory_item_id, location_id) DO UPDATE SET
    available = EXCLUDED.available, shopify_updated_at = EXCLUDED.shopify_updated_at, synced_at = EXCLUDED.synced_at
WHERE inventory_levels.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at IS NULL
   OR inventory_levels.shopify_updated_at < EXCLUDED.shopify_updated_at
"""

_UPSERT_ORDER_LINE = """
INSERT INTO order_lines (shop_id, line_id, order_id, order_created_at, cancelled, variant_shopify_id,
                         product_shopify_id, sku, quantity, current_quantity, original_unit_price,
                         discounted_unit_price, currency, order_updated_at, synced_at)
VALUES (%(shop_id)s, %(line_id)s, %(order_id)s, %(order_created_at)s, %(cancelled)s, %(variant_shopify_id)s,
        %(product_shopify_id)s, %(sku)s, %(quantity)s, %(current_quantity)s, %(original_unit_price)s,
        %(discounted_unit_price)s, %(currency)s, %(order_updated_at)s, now())
ON CONFLICT (shop_id, line_id) DO UPDATE SET
    order_id = EXCLUDED.order_id, order_created_at = EXCLUDED.order_created_at, cancelled = EXCLUDED.cancelled,
    variant_shopify_id = EXCLUDED.variant_shopify_id, product_shopify_id = EXCLUDED.product_shopify_id,
    sku = EXCLUDED.sku, quantity = EXCLUDED.quantity, current_quantity = EXCLUDED.current_quantity,
    original_unit_price = EXCLUDED.original_unit_price, discounted_unit_price = EXCLUDED.discounted_unit_price,
    currency = EXCLUDED.currency, order_updated_at = EXCLUDED.order_updated_at, synced_at = EXCLUDED.synced_at
WHERE order_lines.order_updated_at IS NULL OR EXCLUDED.order_updated_at IS NULL
   OR order_lines.order_updated_at < EXCLUDED.order_updated_at
"""


def apply_product(
    conn: psycopg.Connection, shop_id: int, product: ProductRecord, variants: Iterable[VariantRecord]
) -> tuple[bool, int]:
    """Upsert a product and its variants if the change is newer; (applied, variants written).

    Variants missing from the payload are left for the weekly full sync: a payload is not
    guaranteed to list every variant of a large product, and deleting a variant takes its
    costs and competitor matches with it.
    """
    row = conn.execute(_UPSERT_PRODUCT, {"shop_id": shop_id, **product.model_dump()}).fetchone()
    if row is None:
        return False, 0
    params = [
        {"shop_id": shop_id, "product_id": row["id"], **v.model_dump(exclude={"product_shopify_id"})}
        for v in variants
    ]
    with conn.cursor() as cur:
        if params:
            cur.executemany(_UPSERT_VARIANT, params)
    return True, len(params)


def delete_product(conn: psycopg.Connection, shop_id: int, product_shopify_id: str) -> bool:
    """Delete a product; its variants, costs, competitor matches and recommendations go with it (cascade)."""
    row = conn.execute(
        "DELETE FROM products WHERE shop_id = %s AND shopify_id = %s RETURNING id", (shop_id, product_shopify_id)
    ).fetchone()
    return row is not None


def apply_inventory_level(
    conn: psycopg.Connection, shop_id: int, level: InventoryLevelRecord, updated_at: datetime | None
) -> bool:
    """Set a level's available count if the change is newer; whether it was applied."""
    cur = conn.execute(_UPSERT_LEVEL, {
        "shop_id": shop_id, "inventory_item_id": level.inventory_item_id, "location_id": level.location_id,
        "available": level.available, "updated_at": updated_at,
    })
    return cur.rowcount > 0


def apply_order_lines(
    conn: psycopg.Connection, shop_id: int, lines: Iterable[OrderLineRecord], updated_at: datetime | None
) -> int:
    """Upsert an order's lines if the change is newer; the number of lines written.

    The product of a line without one is filled from the variant's product when it is known.
    """
    written = 0
    with conn.cursor() as cur:
        for line in lines:
            params = {"shop_id": shop_id, **line.model_dump(), "order_updated_at": updated_at}
            if params["product_shopify_id"] is None and params["variant_shopify_id"]:
                found = conn.execute(
                    """SELECT p.shopify_id FROM variants v JOIN products p ON p.id = v.product_id
                       WHERE v.shop_id = %s AND v.shopify_id = %s""",
                    (shop_id, params["variant_shopify_id"]),
                ).fetchone()
                params["product_shopify_id"] = found["shopify_id"] if found else None
            cur.execute(_UPSERT_ORDER_LINE, params)
            written += max(cur.rowcount, 0)
    return written
