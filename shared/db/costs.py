"""Unit costs per variant, from several sources, and the one that counts.

Precedence: accounting > Shopify's InventoryItem.unitCost > an uploaded CSV. Each source
keeps its own row, so a source that stops reporting a cost can be dropped without losing the others.
"""

from __future__ import annotations

import psycopg

SOURCE_PRECEDENCE = ("accounting", "shopify", "csv")


def refresh_shopify_costs(conn: psycopg.Connection, shop_id: int, shop_currency: str) -> dict[str, int]:
    """Copy the unit costs Shopify reported at the last sync into unit_costs (source 'shopify')."""
    upserted = conn.execute(
        """INSERT INTO unit_costs (shop_id, variant_id, source, cost, currency, updated_at)
           SELECT shop_id, id, 'shopify', shopify_unit_cost, shopify_unit_cost_currency, now()
           FROM variants
           WHERE shop_id = %(shop)s AND shopify_unit_cost IS NOT NULL
             AND shopify_unit_cost_currency = %(currency)s
           ON CONFLICT (variant_id, source) DO UPDATE SET
               cost = EXCLUDED.cost, currency = EXCLUDED.currency, updated_at = now()""",
        {"shop": shop_id, "currency": shop_currency},
    ).rowcount
    # A cost removed in Shopify must not linger as if it were still true.
    removed = conn.execute(
        """DELETE FROM unit_costs u USING variants v
           WHERE u.variant_id = v.id AND u.source = 'shopify' AND v.shop_id = %(shop)s
             AND (v.shopify_unit_cost IS NULL OR v.shopify_unit_cost_currency <> %(currency)s)""",
        {"shop": shop_id, "currency": shop_currency},
    ).rowcount
    counts = conn.execute(
        """SELECT count(*) AS variants,
                  count(*) FILTER (WHERE shopify_unit_cost IS NOT NULL
                                   AND shopify_unit_cost_currency <> %(currency)s) AS wrong_currency
           FROM variants WHERE shop_id = %(shop)s""",
        {"shop": shop_id, "currency": shop_currency},
    ).fetchone()
    with_cost = conn.execute(
        "SELECT count(DISTINCT u.variant_id) AS n FROM unit_costs u WHERE u.shop_id = %s", (shop_id,)
    ).fetchone()["n"]
    return {
        "variants": counts["variants"],
        "shopify_costs": upserted,
        "shopify_costs_removed": removed,
        "wrong_currency": counts["wrong_currency"],
        "with_cost": with_cost,
        "without_cost": counts["variants"] - with_cost,
    }


def effective_costs(conn: psycopg.Connection, shop_id: int) -> dict[int, tuple]:
    """variant id -> (cost, source), the highest-precedence source per variant."""
    rows = conn.execute(
        """SELECT DISTINCT ON (variant_id) variant_id, cost, source
           FROM unit_costs WHERE shop_id = %s
           ORDER BY variant_id, array_position(%s::text[], source)""",
        (shop_id, list(SOURCE_PRECEDENCE)),
    ).fetchall()
    return {r["variant_id"]: (r["cost"], r["source"]) for r in rows}


def cost_source_counts(conn: psycopg.Connection, shop_id: int) -> dict[str, int]:
    """How many variants take their effective cost from each source ('cost_from_accounting', ...)."""
    rows = conn.execute(
        """SELECT source, count(*) AS n FROM (
               SELECT DISTINCT ON (variant_id) variant_id, source FROM unit_costs WHERE shop_id = %s
               ORDER BY variant_id, array_position(%s::text[], source)) chosen
           GROUP BY source""",
        (shop_id, list(SOURCE_PRECEDENCE)),
    ).fetchall()
    found = {r["source"]: r["n"] for r in rows}
    return {f"cost_from_{source}": found.get(source, 0) for source in SOURCE_PRECEDENCE}
