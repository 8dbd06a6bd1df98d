"""fetch_trends: search interest for the shop's product groups, on one scale, cached per day."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.db.market import shop_country
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.market.trend_keywords import shop_keywords
from shared.market.trends import fetch_trends as fetch_keyword_trends

bp = df.Blueprint()

MAX_KEYWORDS = 20  # five batches of four plus the anchor: Google notices more


def _fetch(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        keywords = shop_keywords(conn, shop.id, MAX_KEYWORDS)
        country = shop_country(conn, shop.id)
    summary = fetch_keyword_trends(shop.id, keywords, geo=country)  # None: the app's default region
    missing = len(summary.missing_keywords)
    status = "degraded" if missing else "ok"
    return StepSummary(status=status, counts=summary.counts(),
                       error=f"no trend data for {missing} of {len(keywords)} keywords" if missing else None)


@bp.activity_trigger(input_name="payload")
def fetch_trends(payload: dict) -> dict:
    return run_step("fetch_trends", payload, _fetch)
