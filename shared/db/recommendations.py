"""A run's price recommendations: written once per (run, variant), read back for the briefing."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from shared.pricing.elasticity import ElasticityEstimates
from shared.pricing.engine import Recommendation

_COLUMNS = (
    "current_price", "cost", "cost_source", "competitor_min", "competitor_median", "competitor_max",
    "competitor_count", "recommended_price", "change_pct", "confidence", "reason_codes", "explanation",
    "currency", "stock", "units_sold_28d", "trend_slope", "floor_price", "margin_pct",
    "compare_at_price", "map_price", "days_of_cover", "elasticity", "expected_units_change",
    "expected_revenue_change", "expected_profit_change",
)


def replace_run_recommendations(conn: psycopg.Connection, run_id: str, recommendations: Sequence[Recommendation]) -> int:
    """Upsert the run's recommendations and drop any left from an earlier attempt for other variants."""
    placeholders = ", ".join(["%s"] * (len(_COLUMNS) + 2))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS)
    rows = [
        (run_id, int(r.variant_id), *[
            [str(code) for code in r.reason_codes] if c == "reason_codes"
            else (r.units_sold_28d or 0) if c == "units_sold_28d" else getattr(r, c) for c in _COLUMNS
        ])
        for r in recommendations
    ]
    with conn.cursor() as cur:
        cur.executemany(
            f"""INSERT INTO recommendations (run_id, variant_id, {", ".join(_COLUMNS)}) VALUES ({placeholders})
                ON CONFLICT (run_id, variant_id) DO UPDATE SET {updates}""",
            rows,
        )
    conn.execute(
        "DELETE FROM recommendations WHERE run_id = %s AND NOT (variant_id = ANY(%s))",
        (run_id, [int(r.variant_id) for r in recommendations]),
    )
    return len(rows)


def run_recommendations(conn: psycopg.Connection, run_id: str) -> list[Recommendation]:
    rows = conn.execute(
        f"""SELECT r.variant_id, v.sku,
                   p.title || CASE WHEN v.title IS NULL OR v.title = 'Default Title' THEN '' ELSE ' - ' || v.title END
                       AS title,
                   {", ".join("r." + c for c in _COLUMNS)}
            FROM recommendations r JOIN variants v ON v.id = r.variant_id JOIN products p ON p.id = v.product_id
            WHERE r.run_id = %s ORDER BY p.title, v.id""",
        (run_id,),
    ).fetchall()
    return [Recommendation.model_validate({k: v for k, v in row.items() if v is not None or k in ("sku",)}) for row in rows]


def replace_run_elasticities(conn: psycopg.Connection, run_id: str, estimates: ElasticityEstimates) -> int:
    """Upsert the elasticity per product group the run used; drop groups an earlier attempt had."""
    rows = [
        (run_id, g.group, g.estimate, g.raw_estimate, g.standard_error, g.prior, g.observations, g.units, g.source)
        for g in estimates.by_group.values()
    ]
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO elasticity_estimates (run_id, product_group, estimate, raw_estimate, standard_error, prior,
                                                 observations, units, source)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (run_id, product_group) DO UPDATE SET
                   estimate = EXCLUDED.estimate, raw_estimate = EXCLUDED.raw_estimate,
                   standard_error = EXCLUDED.standard_error, prior = EXCLUDED.prior,
                   observations = EXCLUDED.observations, units = EXCLUDED.units, source = EXCLUDED.source""",
            rows,
        )
    conn.execute("DELETE FROM elasticity_estimates WHERE run_id = %s AND NOT (product_group = ANY(%s))",
                 (run_id, [r[1] for r in rows]))
    return len(rows)


def run_elasticities(conn: psycopg.Connection, run_id: str) -> list[dict]:
    return conn.execute(
        "SELECT * FROM elasticity_estimates WHERE run_id = %s ORDER BY product_group", (run_id,)
    ).fetchall()
