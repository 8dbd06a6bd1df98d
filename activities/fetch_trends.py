"""fetch_trends: weekly search interest for the shop's product categories, on one scale."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.market.trends import fetch_trends as fetch_keyword_trends

bp = df.Blueprint()

MAX_KEYWORDS = 20  # four batches of four plus the anchor: Google notices more


def trend_keywords(conn, shop_id: int) -> list[str]:
    """The shop's product types, most stocked first: what its customers search for."""
    rows = conn.execute(
        """SELECT lower(product_type) AS keyword FROM products
           WHERE shop_id = %s AND product_type IS NOT NULL AND product_type <> ''
           GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT %s""",
        (shop_id, MAX_KEYWORDS),
    ).fetchall()
    return [r["keyword"] for r in rows]


def _fetch(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        keywords = trend_keywords(conn, shop.id)
    summary = fetch_keyword_trends(shop.id, keywords)
    missing = len(summary.missing_keywords)
    status = "degraded" if missing else "ok"
    return StepSummary(status=status, counts=summary.counts(),
                       error=f"no trend data for {missing} of {len(keywords)} keywords" if missing else None)


@bp.activity_trigger(input_name="payload")
def fetch_trends(payload: dict) -> dict:
    return run_step("fetch_trends", payload, _fetch)
