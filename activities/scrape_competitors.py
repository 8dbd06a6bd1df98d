"""scrape_competitors: today's competitor prices for every confirmed competitor page.

Competitor pages imported without a SKU are read in the same step and get a proposed match,
which the merchant confirms before the page is scraped for prices.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step_async
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.market.fetchers import fetcher_from_settings
from shared.market.matching import propose_pending_matches
from shared.market.scrape import scrape_competitor_prices

bp = df.Blueprint()


async def _scrape(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
    # One fetcher (one HTTP client, one concurrency limit) for all of the step's pages.
    fetcher = fetcher_from_settings()
    try:
        summary = await scrape_competitor_prices(shop.id, params.run_id, fetcher)
        matches = await propose_pending_matches(shop.id, fetcher)
    finally:
        await fetcher.aclose()
    # Losing some pages is normal on the web; losing most of them makes positioning guesswork.
    status = "degraded" if summary.urls and summary.errors * 2 > summary.urls else "ok"
    counts = {**summary.counts(), "match_pages": matches.pages, "match_proposed": matches.proposed}
    return StepSummary(status=status, counts=counts,
                       error=f"{summary.errors} of {summary.urls} pages failed" if status == "degraded" else None)


@bp.activity_trigger(input_name="payload")
async def scrape_competitors(payload: dict) -> dict:
    return await run_step_async("scrape_competitors", payload, _scrape)
