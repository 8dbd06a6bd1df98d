"""Bulk writes into the catalogue: COPY into temporary staging tables, then set-based merges.

    with transaction() as conn:
        stage = CatalogueStaging(conn)               # temp tables, dropped at commit
        stage.copy_products(rows); stage.copy_variants(rows); stage.copy_levels(rows)
        counts = stage.merge(shop_id, remove_unseen_before=read_started_at)

Children are joined to their parents in SQL (a stock level to its variant by the variant's id,
a variant to its product, an order line to its order), so the order in which rows were copied
never matters: Shopify's bulk results promise no order. A child whose parent is not staged is
an orphan; `orphans()` counts them so that the caller can refuse an incomplete result.

Products and variants are merged with one MERGE each (see `_MERGE_VARIANTS`); should a webhook
insert a row meanwhile, MERGE stops on the unique key, and they are merged like the other
tables: in two statements rather than one INSERT ... ON CONFLICT: an UPDATE of
the rows that differ from what is stored, then an INSERT of the rows not stored yet (with
ON CONFLICT for a row a webhook inserted meanwhile). A daily full read changes few rows;
measured on 100,000 variants (`python -m shared.cli bench sync`), skipping the unchanged ones
this way is several times faster than ON CONFLICT's per-row probe and rewrite, and leaves no
dead tuples behind. `synced_at` therefore moves only when a row changes.

`remove_unseen_before=t` then deletes the shop's products, variants and stock levels that are
not staged and were last written before `t` (when the read began, less a margin for clock
skew): only a caller that has read the whole catalogue may ask for it, and a row a webhook
wrote while the read ran is left for the next full read. Deleting a variant cascades to its
costs, competitor links and past recommendations (the schema's choice).

Temp tables live in the transaction, so this works behind a transaction-mode pooler too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import psycopg
from pydantic import BaseModel, ConfigDict

from shared.db.catalogue import VARIANT_ON_CONFLICT

ProductRow = tuple[str, str, str | None, str | None, str | None, str | None, datetime | None]
VariantRow = tuple[str, str, str | None, str | None, str | None, Decimal, Decimal | None, str | None, int | None,
                   Decimal | None, str | None]
LevelRow = tuple[str, str, str, str | None, int | None, int | None, int | None]
OrderRow = tuple[str, datetime, bool]
OrderLineRow = tuple[str, str, str | None, str | None, int, int, Decimal, Decimal, str]

PRODUCT_COLUMNS = ("shopify_id", "title", "handle", "product_type", "vendor", "status", "shopify_updated_at")
VARIANT_COLUMNS = ("shopify_id", "product_shopify_id", "sku", "title", "barcode", "price", "compare_at_price",
                   "inventory_item_id", "inventory_quantity", "shopify_unit_cost", "shopify_unit_cost_currency")
LEVEL_COLUMNS = ("level_id", "parent_id", "location_id", "location_name", "available", "on_hand", "committed")
ORDER_COLUMNS = ("order_id", "created_at", "cancelled")
ORDER_LINE_COLUMNS = ("line_id", "order_id", "variant_shopify_id", "sku", "quantity", "current_quantity",
                      "original_unit_price", "discounted_unit_price", "currency")

STAGED_PRODUCTS = """(
    shopify_id text NOT NULL, title text NOT NULL, handle text, product_type text, vendor text, status text,
    shopify_updated_at timestamptz)"""
STAGED_VARIANTS = """(
    shopify_id text NOT NULL, product_shopify_id text NOT NULL, sku text, title text, barcode text,
    price numeric(12, 2) NOT NULL, compare_at_price numeric(12, 2), inventory_item_id text, inventory_quantity integer,
    shopify_unit_cost numeric(12, 4), shopify_unit_cost_currency char(3))"""

_CATALOGUE_STAGING = f"""
CREATE TEMP TABLE staged_products {STAGED_PRODUCTS} ON COMMIT DROP;
CREATE TEMP TABLE staged_variants {STAGED_VARIANTS} ON COMMIT DROP;
CREATE TEMP TABLE staged_levels (
    level_id text NOT NULL, parent_id text NOT NULL, location_id text NOT NULL, location_name text,
    available integer, on_hand integer, committed integer
) ON COMMIT DROP;
"""

_ORDER_STAGING = """
CREATE TEMP TABLE staged_orders (order_id text NOT NULL, created_at timestamptz NOT NULL, cancelled boolean NOT NULL)
    ON COMMIT DROP;
CREATE TEMP TABLE staged_order_lines (
    line_id text NOT NULL, order_id text NOT NULL, variant_shopify_id text, sku text, quantity integer NOT NULL,
    current_quantity integer NOT NULL, original_unit_price numeric(12, 2) NOT NULL,
    discounted_unit_price numeric(12, 2) NOT NULL, currency char(3) NOT NULL
) ON COMMIT DROP;
"""

# The planner's statistics know nothing of this transaction's rows (a first sync inserts tens of
# thousands of products just before joining variants to them): a nested loop chosen on "0 rows"
# would scan a table once per row. These are whole-set merges, where hash joins are always right.
_NO_NESTED_LOOPS = "SET LOCAL enable_nestloop = off"
# Room to hash a large shop's rows in memory (about 20 MB per 100,000 variants) instead of in batches on disk.
_HASH_MEMORY = "SET LOCAL work_mem = '32MB'"

_UPDATE_PRODUCTS = """
UPDATE products p SET title = s.title, handle = s.handle, product_type = s.product_type, vendor = s.vendor,
       status = s.status, shopify_updated_at = s.shopify_updated_at, synced_at = now()
FROM staged_products s
WHERE p.shop_id = %(shop)s AND p.shopify_id = s.shopify_id
  AND (p.title, p.handle, p.product_type, p.vendor, p.status, p.shopify_updated_at)
      IS DISTINCT FROM (s.title, s.handle, s.product_type, s.vendor, s.status, s.shopify_updated_at)
"""
_INSERT_PRODUCTS = """
INSERT INTO products (shop_id, shopify_id, title, handle, product_type, vendor, status, shopify_updated_at, synced_at)
SELECT %(shop)s, s.shopify_id, s.title, s.handle, s.product_type, s.vendor, s.status, s.shopify_updated_at, now()
FROM staged_products s
WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.shop_id = %(shop)s AND p.shopify_id = s.shopify_id)
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
    title = EXCLUDED.title, handle = EXCLUDED.handle, product_type = EXCLUDED.product_type, vendor = EXCLUDED.vendor,
    status = EXCLUDED.status, shopify_updated_at = EXCLUDED.shopify_updated_at, synced_at = EXCLUDED.synced_at
"""

_VARIANT_VALUES = """product_id = p.id, sku = s.sku, title = s.title, barcode = s.barcode, price = s.price,
       compare_at_price = s.compare_at_price, inventory_item_id = s.inventory_item_id,
       inventory_quantity = s.inventory_quantity, shopify_unit_cost = s.shopify_unit_cost,
       shopify_unit_cost_currency = s.shopify_unit_cost_currency"""
_UPDATE_VARIANTS = f"""
UPDATE variants v SET {_VARIANT_VALUES}, synced_at = now()
FROM staged_variants s JOIN products p ON p.shop_id = %(shop)s AND p.shopify_id = s.product_shopify_id
WHERE v.shop_id = %(shop)s AND v.shopify_id = s.shopify_id
  AND (v.product_id, v.sku, v.title, v.barcode, v.price, v.compare_at_price, v.inventory_item_id,
       v.inventory_quantity, v.shopify_unit_cost, v.shopify_unit_cost_currency)
      IS DISTINCT FROM (p.id, s.sku, s.title, s.barcode, s.price, s.compare_at_price, s.inventory_item_id,
       s.inventory_quantity, s.shopify_unit_cost, s.shopify_unit_cost_currency)
"""
# The new rows first (usually none), then their products: a join of the few, not of all.
_INSERT_VARIANTS = """
WITH new AS MATERIALIZED (
    SELECT * FROM staged_variants s
    WHERE NOT EXISTS (SELECT 1 FROM variants v WHERE v.shop_id = %(shop)s AND v.shopify_id = s.shopify_id))
INSERT INTO variants (shop_id, product_id, shopify_id, sku, title, barcode, price, compare_at_price,
                      inventory_item_id, inventory_quantity, shopify_unit_cost, shopify_unit_cost_currency, synced_at)
SELECT p.shop_id, p.id, s.shopify_id, s.sku, s.title, s.barcode, s.price, s.compare_at_price, s.inventory_item_id,
       s.inventory_quantity, s.shopify_unit_cost, s.shopify_unit_cost_currency, now()
FROM new s JOIN products p ON p.shop_id = %(shop)s AND p.shopify_id = s.product_shopify_id
""" + VARIANT_ON_CONFLICT

# One MERGE per table: a single join of the staged rows with the stored ones updates the rows
# that differ (IS DISTINCT FROM: unchanged rows are not rewritten) and inserts the new ones,
# with plain inserts (no ON CONFLICT, whose speculative insertion costs a probe and an extra WAL
# record per row). MERGE does not resolve a row inserted concurrently (a webhook): the unique
# key refuses it, and the two-statement merge above, which does, runs instead.
_MERGE_PRODUCTS = """
MERGE INTO products p
USING staged_products s ON p.shop_id = %(shop)s AND p.shopify_id = s.shopify_id
WHEN MATCHED AND (p.title, p.handle, p.product_type, p.vendor, p.status, p.shopify_updated_at)
                 IS DISTINCT FROM (s.title, s.handle, s.product_type, s.vendor, s.status, s.shopify_updated_at) THEN
    UPDATE SET title = s.title, handle = s.handle, product_type = s.product_type, vendor = s.vendor,
               status = s.status, shopify_updated_at = s.shopify_updated_at, synced_at = now()
WHEN NOT MATCHED THEN
    INSERT (shop_id, shopify_id, title, handle, product_type, vendor, status, shopify_updated_at, synced_at)
    VALUES (%(shop)s, s.shopify_id, s.title, s.handle, s.product_type, s.vendor, s.status, s.shopify_updated_at, now())
"""
_MERGE_VARIANTS = """
MERGE INTO variants v
USING (SELECT p.id AS product_id, s.* FROM staged_variants s
       JOIN products p ON p.shop_id = %(shop)s AND p.shopify_id = s.product_shopify_id) s
ON v.shop_id = %(shop)s AND v.shopify_id = s.shopify_id
WHEN MATCHED AND (v.product_id, v.sku, v.title, v.barcode, v.price, v.compare_at_price, v.inventory_item_id,
                  v.inventory_quantity, v.shopify_unit_cost, v.shopify_unit_cost_currency)
                 IS DISTINCT FROM (s.product_id, s.sku, s.title, s.barcode, s.price, s.compare_at_price,
                  s.inventory_item_id, s.inventory_quantity, s.shopify_unit_cost, s.shopify_unit_cost_currency) THEN
    UPDATE SET product_id = s.product_id, sku = s.sku, title = s.title, barcode = s.barcode, price = s.price,
               compare_at_price = s.compare_at_price, inventory_item_id = s.inventory_item_id,
               inventory_quantity = s.inventory_quantity, shopify_unit_cost = s.shopify_unit_cost,
               shopify_unit_cost_currency = s.shopify_unit_cost_currency, synced_at = now()
WHEN NOT MATCHED THEN
    INSERT (shop_id, product_id, shopify_id, sku, title, barcode, price, compare_at_price, inventory_item_id,
            inventory_quantity, shopify_unit_cost, shopify_unit_cost_currency, synced_at)
    VALUES (%(shop)s, s.product_id, s.shopify_id, s.sku, s.title, s.barcode, s.price, s.compare_at_price,
            s.inventory_item_id, s.inventory_quantity, s.shopify_unit_cost, s.shopify_unit_cost_currency, now())
"""

# A level's inventory item comes from its parent variant: the join that __parentId stands for.
_LEVELS = """
CREATE TEMP TABLE merged_levels ON COMMIT DROP AS
SELECT DISTINCT ON (v.inventory_item_id, l.location_id) v.inventory_item_id, l.location_id, l.location_name,
       l.available, l.on_hand, l.committed
FROM staged_levels l JOIN staged_variants v ON v.shopify_id = l.parent_id
WHERE v.inventory_item_id IS NOT NULL
ORDER BY v.inventory_item_id, l.location_id
"""
_UPDATE_LEVELS = """
UPDATE inventory_levels il SET location_name = m.location_name, available = m.available, on_hand = m.on_hand,
       committed = m.committed, synced_at = now()
FROM merged_levels m
WHERE il.shop_id = %(shop)s AND il.inventory_item_id = m.inventory_item_id AND il.location_id = m.location_id
  AND (il.location_name, il.available, il.on_hand, il.committed)
      IS DISTINCT FROM (m.location_name, m.available, m.on_hand, m.committed)
"""
_INSERT_LEVELS = """
INSERT INTO inventory_levels (shop_id, inventory_item_id, location_id, location_name, available, on_hand, committed, synced_at)
SELECT %(shop)s, m.inventory_item_id, m.location_id, m.location_name, m.available, m.on_hand, m.committed, now()
FROM merged_levels m
WHERE NOT EXISTS (SELECT 1 FROM inventory_levels il WHERE il.shop_id = %(shop)s
                  AND il.inventory_item_id = m.inventory_item_id AND il.location_id = m.location_id)
ON CONFLICT (shop_id, inventory_item_id, location_id) DO UPDATE SET
    location_name = EXCLUDED.location_name, available = EXCLUDED.available, on_hand = EXCLUDED.on_hand,
    committed = EXCLUDED.committed, synced_at = EXCLUDED.synced_at
"""

_DELETE_UNSEEN_LEVELS = """
DELETE FROM inventory_levels il
WHERE il.shop_id = %(shop)s AND il.synced_at < %(before)s
  AND NOT EXISTS (SELECT 1 FROM merged_levels m
                  WHERE m.inventory_item_id = il.inventory_item_id AND m.location_id = il.location_id)
"""
_DELETE_UNSEEN_VARIANTS = """
DELETE FROM variants v
WHERE v.shop_id = %(shop)s AND v.synced_at < %(before)s
  AND NOT EXISTS (SELECT 1 FROM staged_variants s WHERE s.shopify_id = v.shopify_id)
"""
# A product goes when the read did not see it and it has no variant left.
_DELETE_UNSEEN_PRODUCTS = """
DELETE FROM products p
WHERE p.shop_id = %(shop)s AND p.synced_at < %(before)s
  AND NOT EXISTS (SELECT 1 FROM staged_products s WHERE s.shopify_id = p.shopify_id)
  AND NOT EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id)
"""

_ORDER_LINES = """
CREATE TEMP TABLE merged_order_lines ON COMMIT DROP AS
SELECT DISTINCT ON (l.line_id) l.line_id, l.order_id, o.created_at AS order_created_at, o.cancelled,
       l.variant_shopify_id, p.shopify_id AS product_shopify_id, l.sku, l.quantity, l.current_quantity,
       l.original_unit_price, l.discounted_unit_price, l.currency
FROM staged_order_lines l
JOIN staged_orders o ON o.order_id = l.order_id
LEFT JOIN variants v ON v.shop_id = %(shop)s AND v.shopify_id = l.variant_shopify_id
LEFT JOIN products p ON p.id = v.product_id
ORDER BY l.line_id
"""
_ORDER_LINE_COLUMNS_SQL = """order_id, order_created_at, cancelled, variant_shopify_id, product_shopify_id, sku,
       quantity, current_quantity, original_unit_price, discounted_unit_price, currency"""
_UPDATE_ORDER_LINES = f"""
UPDATE order_lines o SET ({_ORDER_LINE_COLUMNS_SQL}, synced_at) =
       (m.order_id, m.order_created_at, m.cancelled, m.variant_shopify_id, m.product_shopify_id, m.sku, m.quantity,
        m.current_quantity, m.original_unit_price, m.discounted_unit_price, m.currency, now())
FROM merged_order_lines m
WHERE o.shop_id = %(shop)s AND o.line_id = m.line_id
  AND (o.order_id, o.order_created_at, o.cancelled, o.variant_shopify_id, o.product_shopify_id, o.sku, o.quantity,
       o.current_quantity, o.original_unit_price, o.discounted_unit_price, o.currency)
      IS DISTINCT FROM (m.order_id, m.order_created_at, m.cancelled, m.variant_shopify_id, m.product_shopify_id,
       m.sku, m.quantity, m.current_quantity, m.original_unit_price, m.discounted_unit_price, m.currency)
"""
_INSERT_ORDER_LINES = f"""
INSERT INTO order_lines (shop_id, line_id, {_ORDER_LINE_COLUMNS_SQL}, synced_at)
SELECT %(shop)s, m.line_id, m.order_id, m.order_created_at, m.cancelled, m.variant_shopify_id, m.product_shopify_id,
       m.sku, m.quantity, m.current_quantity, m.original_unit_price, m.discounted_unit_price, m.currency, now()
FROM merged_order_lines m
WHERE NOT EXISTS (SELECT 1 FROM order_lines o WHERE o.shop_id = %(shop)s AND o.line_id = m.line_id)
ON CONFLICT (shop_id, line_id) DO UPDATE SET
    order_id = EXCLUDED.order_id, order_created_at = EXCLUDED.order_created_at, cancelled = EXCLUDED.cancelled,
    variant_shopify_id = EXCLUDED.variant_shopify_id, product_shopify_id = EXCLUDED.product_shopify_id,
    sku = EXCLUDED.sku, quantity = EXCLUDED.quantity, current_quantity = EXCLUDED.current_quantity,
    original_unit_price = EXCLUDED.original_unit_price, discounted_unit_price = EXCLUDED.discounted_unit_price,
    currency = EXCLUDED.currency, synced_at = EXCLUDED.synced_at
"""


class CatalogueMergeCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    products: int  # as read
    variants: int
    inventory_levels: int
    products_written: int = 0  # inserted or changed
    variants_written: int = 0
    inventory_levels_written: int = 0
    products_removed: int = 0
    variants_removed: int = 0
    inventory_levels_removed: int = 0


class OrderMergeCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    orders: int
    order_lines: int
    order_lines_written: int = 0


def copy_rows(conn: psycopg.Connection, table: str, columns: Iterable[str], rows: Iterable[tuple]) -> int:
    """COPY rows into a table; returns how many."""
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


class CatalogueStaging:
    """Staging tables for one full read of products, variants and stock (this transaction only)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.staged = {"products": 0, "variants": 0}
        conn.execute(_CATALOGUE_STAGING)

    def copy_products(self, rows: Iterable[ProductRow]) -> int:
        count = copy_rows(self.conn, "staged_products", PRODUCT_COLUMNS, rows)
        self.staged["products"] += count
        return count

    def copy_variants(self, rows: Iterable[VariantRow]) -> int:
        count = copy_rows(self.conn, "staged_variants", VARIANT_COLUMNS, rows)
        self.staged["variants"] += count
        return count

    def copy_levels(self, rows: Iterable[LevelRow]) -> int:
        return copy_rows(self.conn, "staged_levels", LEVEL_COLUMNS, rows)

    def orphans(self) -> int:
        """Children whose parent is not staged (levels without their variant, variants without
        their product): the read was not whole."""
        return self.conn.execute(
            """SELECT (SELECT count(*) FROM staged_levels l
                       WHERE NOT EXISTS (SELECT 1 FROM staged_variants v WHERE v.shopify_id = l.parent_id))
                    + (SELECT count(*) FROM staged_variants v
                       WHERE NOT EXISTS (SELECT 1 FROM staged_products p WHERE p.shopify_id = v.product_shopify_id))
                      AS n"""
        ).fetchone()["n"]

    def merge(self, shop_id: int, *, remove_unseen_before: datetime | None) -> CatalogueMergeCounts:
        """Write the staged catalogue; with `remove_unseen_before`, delete what the read did not see."""
        params = {"shop": shop_id, "before": remove_unseen_before}
        conn = self.conn
        conn.execute(_NO_NESTED_LOOPS)
        conn.execute(_HASH_MEMORY)
        conn.execute(_LEVELS)
        with conn.cursor() as cur:
            merged = self._merge_catalogue(params)
            if merged is not None:
                products, variants = merged
            else:
                products = cur.execute(_UPDATE_PRODUCTS, params).rowcount + cur.execute(_INSERT_PRODUCTS, params).rowcount
                variants = cur.execute(_UPDATE_VARIANTS, params).rowcount + cur.execute(_INSERT_VARIANTS, params).rowcount
            levels = cur.execute(_UPDATE_LEVELS, params).rowcount + cur.execute(_INSERT_LEVELS, params).rowcount
            removed = (0, 0, 0)
            if remove_unseen_before is not None:
                # Levels first (no foreign key), then variants, then products left without any.
                removed = (
                    cur.execute(_DELETE_UNSEEN_LEVELS, params).rowcount,
                    cur.execute(_DELETE_UNSEEN_VARIANTS, params).rowcount,
                    cur.execute(_DELETE_UNSEEN_PRODUCTS, params).rowcount,
                )
        return CatalogueMergeCounts(
            products=self.staged["products"], variants=self.staged["variants"],
            inventory_levels=_count(conn, "merged_levels"),
            products_written=products, variants_written=variants, inventory_levels_written=levels,
            inventory_levels_removed=removed[0], variants_removed=removed[1], products_removed=removed[2],
        )

    def _merge_catalogue(self, params: dict) -> tuple[int, int] | None:
        """(products, variants) written by one MERGE each; None if a row was inserted concurrently."""
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:  # a savepoint: a conflict undoes only this
                return cur.execute(_MERGE_PRODUCTS, params).rowcount, cur.execute(_MERGE_VARIANTS, params).rowcount
        except psycopg.errors.UniqueViolation:
            return None


class OrderStaging:
    """Staging tables for orders and their lines (this transaction only)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        conn.execute(_ORDER_STAGING)

    def copy_orders(self, rows: Iterable[OrderRow]) -> int:
        return copy_rows(self.conn, "staged_orders", ORDER_COLUMNS, rows)

    def copy_lines(self, rows: Iterable[OrderLineRow]) -> int:
        return copy_rows(self.conn, "staged_order_lines", ORDER_LINE_COLUMNS, rows)

    def orphans(self) -> int:
        """Order lines whose order is not staged: the read was not whole."""
        return self.conn.execute(
            """SELECT count(*) AS n FROM staged_order_lines l
               WHERE NOT EXISTS (SELECT 1 FROM staged_orders o WHERE o.order_id = l.order_id)"""
        ).fetchone()["n"]

    def merge(self, shop_id: int) -> OrderMergeCounts:
        params = {"shop": shop_id}
        self.conn.execute(_NO_NESTED_LOOPS)
        self.conn.execute(_HASH_MEMORY)
        self.conn.execute(_ORDER_LINES, params)
        with self.conn.cursor() as cur:
            written = cur.execute(_UPDATE_ORDER_LINES, params).rowcount + cur.execute(_INSERT_ORDER_LINES, params).rowcount
        return OrderMergeCounts(orders=_count(self.conn, "staged_orders"),
                                order_lines=_count(self.conn, "merged_order_lines"), order_lines_written=written)


def delete_unseen(
    conn: psycopg.Connection, shop_id: int, *, product_ids: Iterable[str], variant_ids: Iterable[str],
    levels: list[tuple[str, str]], written_before: datetime,
) -> CatalogueMergeCounts:
    """After a complete paginated read: delete what it did not see (ids as read; levels as (item, location))."""
    level_items, level_locations = zip(*levels) if levels else ((), ())
    params = {"shop": shop_id, "products": list(product_ids), "variants": list(variant_ids),
              "items": list(level_items), "locations": list(level_locations), "before": written_before}
    with conn.cursor() as cur:
        levels_removed = cur.execute(
            """DELETE FROM inventory_levels il
               WHERE il.shop_id = %(shop)s AND il.synced_at < %(before)s
                 AND (il.inventory_item_id, il.location_id) NOT IN (
                     SELECT * FROM unnest(%(items)s::text[], %(locations)s::text[]))""", params).rowcount
        variants_removed = cur.execute(
            """DELETE FROM variants WHERE shop_id = %(shop)s AND synced_at < %(before)s
                 AND NOT (shopify_id = ANY(%(variants)s::text[]))""", params).rowcount
        products_removed = cur.execute(
            """DELETE FROM products p WHERE p.shop_id = %(shop)s AND p.synced_at < %(before)s
                 AND NOT (p.shopify_id = ANY(%(products)s::text[]))
                 AND NOT EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id)""", params).rowcount
    return CatalogueMergeCounts(products=0, variants=0, inventory_levels=0, products_removed=products_removed,
                                variants_removed=variants_removed, inventory_levels_removed=levels_removed)
