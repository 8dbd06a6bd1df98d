"""sync_shopify: the shop's catalogue, stock and recent sales, from the GraphQL Admin API."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step_async
from shared.db.pool import transaction
from shared.db.shops import Shop, get_shop, record_catalogue_sync
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.sync import sync_shop
from shared.shopify.tokens import get_access_token

bp = df.Blueprint()

# A weekly full read catches what an incremental one cannot see (deletions, missed webhooks).
FULL_SYNC_EVERY = timedelta(days=7)
# Changes made while the last sync ran, or under a skewed clock, are read again rather than missed.
WATERMARK_OVERLAP = timedelta(minutes=15)


def changes_since(shop: Shop, now: datetime) -> datetime | None:
    """Where an incremental sync starts; None asks for a full one."""
    if shop.last_sync_at is None or shop.last_full_sync_at is None:
        return None
    if now - shop.last_full_sync_at >= FULL_SYNC_EVERY:
        return None
    return shop.last_sync_at - WATERMARK_OVERLAP


async def _sync(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
    since = changes_since(shop, datetime.now(timezone.utc))
    async with AdminApiClient(params.shop, get_access_token(params.shop)) as client:
        summary = await sync_shop(shop.id, params.shop, client, since=since)
    with transaction() as conn:
        record_catalogue_sync(conn, shop.id, summary.started_at, full=since is None)
    return StepSummary(status="ok", counts=summary.model_dump(
        include={"mode", "products", "variants", "inventory_levels", "orders", "order_lines", "query_points",
                 "pages", "throttled_waits", "seconds"}
    ))


@bp.activity_trigger(input_name="payload")
async def sync_shopify(payload: dict) -> dict:
    return await run_step_async("sync_shopify", payload, _sync)
