"""Repository of a shop's Shopify catalogue: products, variants, inventory levels, order lines.

Writes are batched idempotent upserts on each table's natural key
(`INSERT ... ON CONFLICT (key) DO UPDATE`, sent with `executemany`, which psycopg pipelines):
a sync run twice leaves the same rows. Every function takes an open connection, so the caller
chooses the transaction (`with transaction() as conn: upsert_products(conn, ...)`).

Reads serve the pricing steps: variants with product, price, cost and stock; units sold per
variant over a window; and daily sales for demand fitting.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import islice
from typing import Annotated, TypeVar

import psycopg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

_BATCH = 500  # rows per executemany: bounds the parameters held at once

Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
UnitCost = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

T = TypeVar("T")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProductRecord(_Record):
    shopify_id: str = Field(min_length=1)
    title: str
    handle: str | None = None
    product_type: str | None = None
    vendor: str | None = None
    status: str | None = None
    shopify_updated_at: AwareDatetime | None = None


class VariantRecord(_Record):
    shopify_id: str = Field(min_length=1)
    product_shopify_id: str = Field(min_length=1)
    sku: str | None = None
    title: str | None = None
    barcode: str | None = None
    price: Price
    compare_at_price: Price | None = None
    inventory_item_id: str | None = None
    inventory_quantity: int | None = None
    shopify_unit_cost: UnitCost | None = None
    shopify_unit_cost_currency: CurrencyCode | None = None


class InventoryLevelRecord(_Record):
    inventory_item_id: str = Field(min_length=1)
    location_id: str = Field(min_length=1)
    location_name: str | None = None
    available: int | None = None
    on_hand: int | None = None
    committed: int | None = None


class OrderLineRecord(_Record):
    line_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    order_created_at: AwareDatetime
    cancelled: bool = False
    variant_shopify_id: str | None = None
    product_shopify_id: str | None = None  # None: filled from the variant's product when known
    sku: str | None = None
    quantity: int = Field(ge=0)
    current_quantity: int = Field(ge=0)
    original_unit_price: Price
    discounted_unit_price: Price
    currency: CurrencyCode


def _batches(rows: Iterable[T], size: int = _BATCH) -> Iterator[list[T]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _executemany(conn: psycopg.Connection, sql: str, params: Iterable[dict]) -> int:
    affected = 0
    with conn.cursor() as cur:
        for batch in _batches(params):
            cur.executemany(sql, batch)
            affected += max(cur.rowcount, 0)
    return affected


# --- writes -------------------------------------------------------------------------------------

_UPSERT_PRODUCT = """
INSERT INTO products (shop_id, shopify_id, title, handle, product_type, vendor, status, shopify_updated_at, synced_at)
VALUES (%(shop_id)s, %(shopify_id)s, %(title)s, %(handle)s, %(product_type)s, %(vendor)s, %(status)s,
        %(shopify_updated_at)s, now())
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
    title = EXCLUDED.title, handle = EXCLUDED.handle, product_type = EXCLUDED.product_type,
    vendor = EXCLUDED.vendor, status = EXCLUDED.status, shopify_updated_at = EXCLUDED.shopify_updated_at,
    synced_at = EXCLUDED.synced_at
"""

# The product's row id comes from its Shopify id: products are upserted first. A variant whose
# product is not stored yet is skipped (counted by the caller from the return value).
# Casts: a NULL parameter in a SELECT list would otherwise be typed text.
# The variant upsert's conflict clause, shared with the bulk path's fallback (catalogue_staging).
VARIANT_ON_CONFLICT = """ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
    product_id = EXCLUDED.product_id, sku = EXCLUDED.sku, title = EXCLUDED.title, barcode = EXCLUDED.barcode,
    price = EXCLUDED.price, compare_at_price = EXCLUDED.compare_at_price,
    inventory_item_id = EXCLUDED.inventory_item_id, inventory_quantity = EXCLUDED.inventory_quantity,
    shopify_unit_cost = EXCLUDED.shopify_unit_cost, shopify_unit_cost_currency = EXCLUDED.shopify_unit_cost_currency,
    synced_at = EXCLUDED.synced_at
"""

_UPSERT_VARIANT = """
INSERT INTO variants (shop_id, product_id, shopify_id, sku, title, barcode, price, compare_at_price,
                      inventory_item_id, inventory_quantity, shopify_unit_cost, shopify_unit_cost_currency, synced_at)
SELECT p.shop_id, p.id, %(shopify_id)s::text, %(sku)s::text, %(title)s::text, %(barcode)s::text,
       %(price)s::numeric, %(compare_at_price)s::numeric, %(inventory_item_id)s::text,
       %(inventory_quantity)s::integer, %(shopify_unit_cost)s::numeric, %(shopify_unit_cost_currency)s::char(3), now()
FROM products p
WHERE p.shop_id = %(shop_id)s AND p.shopify_id = %(product_shopify_id)s
""" + VARIANT_ON_CONFLICT

_UPSERT_LEVEL = """
INSERT INTO inventory_levels (shop_id, inventory_item_id, location_id, location_name, available, on_hand, committed, synced_at)
VALUES (%(shop_id)s, %(inventory_item_id)s, %(location_id)s, %(location_name)s, %(available)s, %(on_hand)s,
        %(committed)s, now())
ON CONFLICT (shop_id, inventory_item_id, location_id) DO UPDATE SET
    location_name = EXCLUDED.location_name, available = EXCLUDED.available, on_hand = EXCLUDED.on_hand,
    committed = EXCLUDED.committed, synced_at = EXCLUDED.synced_at
"""

_UPSERT_ORDER_LINE = """
INSERT INTO order_lines (shop_id, line_id, order_id, order_created_at, cancelled, variant_shopify_id,
                         product_shopify_id, sku, quantity, current_quantity, original_unit_price,
                         discounted_unit_price, currency, synced_at)
VALUES (%(shop_id)s, %(line_id)s, %(order_id)s, %(order_created_at)s, %(cancelled)s, %(variant_shopify_id)s,
        COALESCE(%(product_shopify_id)s::text,
                 (SELECT p.shopify_id FROM variants v JOIN products p ON p.id = v.product_id
                  WHERE v.shop_id = %(shop_id)s AND v.shopify_id = %(variant_shopify_id)s::text)),
        %(sku)s, %(quantity)s, %(current_quantity)s, %(original_unit_price)s, %(discounted_unit_price)s,
        %(currency)s, now())
ON CONFLICT (shop_id, line_id) DO UPDATE SET
    order_id = EXCLUDED.order_id, order_created_at = EXCLUDED.order_created_at, cancelled = EXCLUDED.cancelled,
    variant_shopify_id = EXCLUDED.variant_shopify_id, product_shopify_id = EXCLUDED.product_shopify_id,
    sku = EXCLUDED.sku, quantity = EXCLUDED.quantity, current_quantity = EXCLUDED.current_quantity,
    original_unit_price = EXCLUDED.original_unit_price, discounted_unit_price = EXCLUDED.discounted_unit_price,
    currency = EXCLUDED.currency, synced_at = EXCLUDED.synced_at
"""


def upsert_products(conn: psycopg.Connection, shop_id: int, products: Iterable[ProductRecord]) -> int:
    """Insert or update products by (shop_id, shopify_id); returns the rows written."""
    return _executemany(conn, _UPSERT_PRODUCT, ({"shop_id": shop_id, **p.model_dump()} for p in products))


def upsert_variants(conn: psycopg.Connection, shop_id: int, variants: Iterable[VariantRecord]) -> int:
    """Insert or update variants by (shop_id, shopify_id); returns the rows written (skips unknown products)."""
    return _executemany(conn, _UPSERT_VARIANT, ({"shop_id": shop_id, **v.model_dump()} for v in variants))


def upsert_inventory_levels(conn: psycopg.Connection, shop_id: int, levels: Iterable[InventoryLevelRecord]) -> int:
    """Insert or update levels by (shop_id, inventory_item_id, location_id); returns the rows written."""
    return _executemany(conn, _UPSERT_LEVEL, ({"shop_id": shop_id, **lv.model_dump()} for lv in levels))


def upsert_order_lines(conn: psycopg.Connection, shop_id: int, lines: Iterable[OrderLineRecord]) -> int:
    """Insert or update order lines by (shop_id, line_id); returns the rows written."""
    return _executemany(conn, _UPSERT_ORDER_LINE, ({"shop_id": shop_id, **line.model_dump()} for line in lines))


# --- reads --------------------------------------------------------------------------------------


class CatalogueVariant(_Record):
    variant_id: int
    shopify_id: str
    sku: str | None
    barcode: str | None
    variant_title: str | None
    product_id: int
    product_shopify_id: str
    product_title: str
    product_type: str | None
    vendor: str | None
    product_status: str | None
    price: Decimal
    compare_at_price: Decimal | None
    shopify_unit_cost: Decimal | None
    shopify_unit_cost_currency: str | None
    inventory_item_id: str | None
    inventory_quantity: int | None
    stock_available: int | None  # sum of `available` over locations; None when no level was synced
    stock_locations: int


class VariantSales(_Record):
    variant_id: int
    units: int  # kept units: ordered minus refunded, cancelled orders excluded
    revenue: Decimal  # kept units at the price paid after all discounts
    orders: int


class DailySales(_Record):
    variant_id: int
    day: date  # UTC calendar day of the order
    units_ordered: int  # demand on the day: ordered quantity on orders not cancelled
    units_kept: int
    revenue: Decimal
    average_shelf_price: Decimal  # quantity-weighted original unit price: the price customers saw


class CatalogueCounts(_Record):
    products: int
    variants: int
    inventory_levels: int
    orders: int
    order_lines: int


def list_variants(conn: psycopg.Connection, shop_id: int) -> list[CatalogueVariant]:
    """Every variant of the shop with its product, price, Shopify unit cost and stock."""
    rows = conn.execute(
        """
        SELECT v.id AS variant_id, v.shopify_id, v.sku, v.barcode, v.title AS variant_title,
               p.id AS product_id, p.shopify_id AS product_shopify_id, p.title AS product_title,
               p.product_type, p.vendor, p.status AS product_status,
               v.price, v.compare_at_price, v.shopify_unit_cost, v.shopify_unit_cost_currency,
               v.inventory_item_id, v.inventory_quantity,
               stock.available AS stock_available, COALESCE(stock.locations, 0) AS stock_locations
        FROM variants v
        JOIN products p ON p.id = v.product_id
        LEFT JOIN (
            SELECT inventory_item_id, sum(available)::integer AS available, count(*)::integer AS locations
            FROM inventory_levels WHERE shop_id = %(shop_id)s GROUP BY inventory_item_id
        ) stock ON stock.inventory_item_id = v.inventory_item_id
        WHERE v.shop_id = %(shop_id)s
        ORDER BY p.title, v.id
        """,
        {"shop_id": shop_id},
    ).fetchall()
    return [CatalogueVariant.model_validate(_row(r)) for r in rows]


def units_sold_by_variant(
    conn: psycopg.Connection, shop_id: int, days: int, *, as_of: datetime | None = None
) -> dict[int, VariantSales]:
    """Units kept per variant over the `days` before `as_of` (now); variants with none are absent."""
    if days < 1:
        raise ValueError("days must be at least 1")
    until = _aware(as_of) if as_of else datetime.now(timezone.utc)
    rows = conn.execute(
        """
        SELECT v.id AS variant_id, sum(ol.current_quantity)::integer AS units,
               sum(ol.current_quantity * ol.discounted_unit_price) AS revenue,
               count(DISTINCT ol.order_id)::integer AS orders
        FROM order_lines ol
        JOIN variants v ON v.shop_id = ol.shop_id AND v.shopify_id = ol.variant_shopify_id
        WHERE ol.shop_id = %(shop_id)s AND NOT ol.cancelled
          AND ol.order_created_at >= %(since)s AND ol.order_created_at < %(until)s
        GROUP BY v.id
        """,
        {"shop_id": shop_id, "since": until - timedelta(days=days), "until": until},
    ).fetchall()
    return {r["variant_id"]: VariantSales.model_validate(_row(r)) for r in rows}


def daily_sales(
    conn: psycopg.Connection, shop_id: int, since: datetime, until: datetime | None = None
) -> list[DailySales]:
    """Per variant and UTC day: units ordered and kept, revenue and the shelf price seen."""
    rows = conn.execute(
        """
        SELECT v.id AS variant_id, (ol.order_created_at AT TIME ZONE 'UTC')::date AS day,
               sum(ol.quantity)::integer AS units_ordered, sum(ol.current_quantity)::integer AS units_kept,
               sum(ol.current_quantity * ol.discounted_unit_price) AS revenue,
               round(sum(ol.quantity * ol.original_unit_price) / NULLIF(sum(ol.quantity), 0), 2) AS average_shelf_price
        FROM order_lines ol
        JOIN variants v ON v.shop_id = ol.shop_id AND v.shopify_id = ol.variant_shopify_id
        WHERE ol.shop_id = %(shop_id)s AND NOT ol.cancelled AND ol.quantity > 0
          AND ol.order_created_at >= %(since)s AND ol.order_created_at < %(until)s
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        {"shop_id": shop_id, "since": _aware(since), "until": _aware(until) if until else datetime.now(timezone.utc)},
    ).fetchall()
    return [DailySales.model_validate(_row(r)) for r in rows]


def catalogue_counts(conn: psycopg.Connection, shop_id: int) -> CatalogueCounts:
    row = conn.execute(
        """
        SELECT (SELECT count(*) FROM products WHERE shop_id = %(s)s)::integer AS products,
               (SELECT count(*) FROM variants WHERE shop_id = %(s)s)::integer AS variants,
               (SELECT count(*) FROM inventory_levels WHERE shop_id = %(s)s)::integer AS inventory_levels,
               (SELECT count(DISTINCT order_id) FROM order_lines WHERE shop_id = %(s)s)::integer AS orders,
               (SELECT count(*) FROM order_lines WHERE shop_id = %(s)s)::integer AS order_lines
        """,
        {"s": shop_id},
    ).fetchone()
    return CatalogueCounts.model_validate(_row(row))


def _row(row: object) -> dict:
    # Rows are dicts under the app's pool; accept a plain mapping from other connections too.
    return dict(row)  # type: ignore[call-overload]


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(timezone.utc)
