"""Writing an imported catalogue CSV: variants matched by SKU are updated, the rest upserted; costs as 'csv'.

    with transaction() as conn:
        counts = import_catalog(conn, shop_id, shop_currency, catalog)

Set-based, in the caller's transaction: the rows are copied into a temporary table, then each
table is written with one statement. A row whose SKU matches several variants of the shop is
a problem of the file (which variant would it mean?): `AmbiguousSkuError` names those rows,
and the caller's transaction rolls everything back.

Products and variants created from a file get natural keys of their own (`csv:<handle>`,
`csv:sku:<sku>`, `csv:<handle>:<options>`) in the Shopify id columns, which never collide with
Shopify's `gid://` ids; importing the same file again updates the same rows. Unit costs go to
`unit_costs` with source 'csv' (the lowest precedence: accounting, then Shopify, then CSV).
"""

from __future__ import annotations

import psycopg
from pydantic import BaseModel, ConfigDict

from shared.csv_problems import CsvProblem
from shared.shopify.catalog_csv import CatalogCsvError, ParsedCatalog

_STAGE = """
CREATE TEMP TABLE catalog_rows (
    row_number integer NOT NULL, product_key text NOT NULL, variant_key text NOT NULL, handle text,
    product_title text NOT NULL, product_type text, vendor text, status text, sku text, variant_title text,
    price numeric(12, 2) NOT NULL, compare_at_price numeric(12, 2), has_compare_at_price boolean NOT NULL,
    cost numeric(12, 4), inventory integer, variant_id bigint, matched boolean NOT NULL DEFAULT false
) ON COMMIT DROP
"""
_COLUMNS = ("row_number", "product_key", "variant_key", "handle", "product_title", "product_type", "vendor",
            "status", "sku", "variant_title", "price", "compare_at_price", "has_compare_at_price", "cost", "inventory")


class AmbiguousSkuError(CatalogCsvError):
    pass


class CatalogImportCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: int
    variants_matched_by_sku: int  # variants read from Shopify earlier, found by SKU and updated
    products_created: int
    products_updated: int
    variants_created: int
    variants_updated: int
    unit_costs: int


def import_catalog(conn: psycopg.Connection, shop_id: int, currency: str, catalog: ParsedCatalog) -> CatalogImportCounts:
    params = {"shop": shop_id, "currency": currency}
    conn.execute(_STAGE)
    with conn.cursor() as cur, cur.copy(f"COPY catalog_rows ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for r in catalog.rows:
            copy.write_row((r.row, r.product_key, r.variant_key, r.handle, r.product_title, r.product_type, r.vendor,
                            r.status, r.sku, r.variant_title, r.price, r.compare_at_price, r.has_compare_at_price,
                            r.cost, r.inventory))

    ambiguous = conn.execute(
        """SELECT c.row_number, c.sku, count(*) AS n FROM catalog_rows c
           JOIN variants v ON v.shop_id = %(shop)s AND v.sku = c.sku AND v.shopify_id NOT LIKE 'csv:%%'
           GROUP BY c.row_number, c.sku HAVING count(*) > 1 ORDER BY c.row_number""", params).fetchall()
    if ambiguous:
        column = "Variant SKU" if catalog.format.value == "shopify" else "sku"
        raise AmbiguousSkuError([
            CsvProblem(row=r["row_number"], column=column,
                       reason=f"SKU {r['sku']!r} matches {r['n']} variants of the shop: it must name one")
            for r in ambiguous])

    # A SKU a variant read from Shopify already has names that variant (rows an earlier file
    # created are found again by their own natural keys below).
    conn.execute(
        """UPDATE catalog_rows c SET variant_id = v.id, matched = true
           FROM variants v WHERE v.shop_id = %(shop)s AND c.sku IS NOT NULL AND v.sku = c.sku
             AND v.shopify_id NOT LIKE 'csv:%%'""", params)
    matched = conn.execute(
        """UPDATE variants v SET price = c.price,
               compare_at_price = CASE WHEN c.has_compare_at_price THEN c.compare_at_price ELSE v.compare_at_price END,
               inventory_quantity = COALESCE(c.inventory, v.inventory_quantity), synced_at = now()
           FROM catalog_rows c WHERE c.matched AND v.id = c.variant_id""", params).rowcount

    products = conn.execute(
        """INSERT INTO products (shop_id, shopify_id, title, handle, product_type, vendor, status, synced_at)
           SELECT DISTINCT ON (product_key) %(shop)s, product_key, product_title, handle, product_type, vendor,
                  COALESCE(status, 'ACTIVE'), now()
           FROM catalog_rows WHERE NOT matched ORDER BY product_key, row_number
           ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
               title = EXCLUDED.title, handle = EXCLUDED.handle, product_type = EXCLUDED.product_type,
               vendor = EXCLUDED.vendor, status = EXCLUDED.status, synced_at = EXCLUDED.synced_at
           RETURNING (xmax = 0) AS created""", params).fetchall()
    variants = conn.execute(
        """INSERT INTO variants (shop_id, product_id, shopify_id, sku, title, price, compare_at_price,
                                 inventory_quantity, synced_at)
           SELECT p.shop_id, p.id, c.variant_key, c.sku, c.variant_title, c.price, c.compare_at_price, c.inventory, now()
           FROM catalog_rows c JOIN products p ON p.shop_id = %(shop)s AND p.shopify_id = c.product_key
           WHERE NOT c.matched
           ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
               product_id = EXCLUDED.product_id, sku = EXCLUDED.sku, title = EXCLUDED.title, price = EXCLUDED.price,
               compare_at_price = EXCLUDED.compare_at_price,
               inventory_quantity = COALESCE(EXCLUDED.inventory_quantity, variants.inventory_quantity),
               synced_at = EXCLUDED.synced_at
           RETURNING (xmax = 0) AS created""", params).fetchall()
    conn.execute(
        """UPDATE catalog_rows c SET variant_id = v.id
           FROM variants v WHERE NOT c.matched AND v.shop_id = %(shop)s AND v.shopify_id = c.variant_key""", params)
    costs = conn.execute(
        """INSERT INTO unit_costs (shop_id, variant_id, source, cost, currency, updated_at)
           SELECT %(shop)s, variant_id, 'csv', cost, %(currency)s, now() FROM catalog_rows WHERE cost IS NOT NULL
           ON CONFLICT (variant_id, source) DO UPDATE SET
               cost = EXCLUDED.cost, currency = EXCLUDED.currency, updated_at = EXCLUDED.updated_at""",
        params).rowcount
    return CatalogImportCounts(
        rows=len(catalog.rows),
        variants_matched_by_sku=matched,
        products_created=sum(1 for r in products if r["created"]),
        products_updated=sum(1 for r in products if not r["created"]),
        variants_created=sum(1 for r in variants if r["created"]),
        variants_updated=sum(1 for r in variants if not r["created"]),
        unit_costs=costs,
    )
