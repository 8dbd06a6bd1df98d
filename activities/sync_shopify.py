"""sync_shopify: the shop's catalogue, stock and recent sales, from the GraphQL Admin API.

`plan_sync` decides how: incremental (changes since the last sync, paginated) or full; a full
sync of a catalogue with at least SHOPIFY_BULK_SYNC_MIN_VARIANTS variants goes through bulk
operations (the `sync_catalogue` sub-orchestration), a smaller one through `sync_shopify` here.
Either way the step is recorded as one `sync_shopify` row in pipeline_steps.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Literal

import azure.durable_functions as df
from pydantic import AwareDatetime, BaseModel

from activities.step import StepInput, StepSummary, run_step_async
from shared.db.pool import transaction
from shared.db.shops import Shop, get_shop, granted_scopes, record_catalogue_sync
from shared.settings import get_settings
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.bulk_sync import orders_window_start
from shared.shopify.order_window import order_history_days
from shared.shopify.sync import sync_shop
from shared.shopify.tokens import get_access_token_async

log = logging.getLogger(__name__)

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


VARIANTS_COUNT_QUERY = """
query CountVariants($limit: Int) { productVariantsCount(limit: $limit) { count precision } }"""


class SyncPlan(BaseModel):
    """How today's sync runs; small enough for Durable history (no catalogue, no secret)."""

    mode: Literal["full", "incremental"]
    method: Literal["paginated", "bulk"]
    since: AwareDatetime | None
    history_days: int
    orders_from: AwareDatetime
    variants: int | None  # as Shopify counted them (capped at the threshold); None when not asked


def history_days_for(shop_id: int) -> int:
    with transaction() as conn:
        scopes = granted_scopes(conn, shop_id)
    return order_history_days(scopes, get_settings().shopify_order_history_days)


async def _count_variants(domain: str, limit: int) -> int | None:
    """Variants in the shop, counted up to `limit`; None when Shopify cannot be asked right now."""
    try:
        async with AdminApiClient(domain, await get_access_token_async(domain), max_attempts=2) as client:
            data = await client.execute(VARIANTS_COUNT_QUERY, {"limit": limit}, operation_name="CountVariants")
        return int(data["productVariantsCount"]["count"])
    except Exception as exc:  # noqa: BLE001 - a plan without a count is still a plan
        # The paginated step meets the same trouble and records it properly.
        log.warning("%s: could not count variants (%s); planning a paginated sync", domain, type(exc).__name__)
        return None


async def plan(domain: str, now: datetime) -> SyncPlan:
    with transaction() as conn:
        shop = get_shop(conn, domain)
    since = changes_since(shop, now)
    days = history_days_for(shop.id)
    threshold = get_settings().shopify_bulk_sync_min_variants
    variants = await _count_variants(domain, threshold) if since is None else None
    method = "bulk" if variants is not None and variants >= threshold else "paginated"
    return SyncPlan(mode="incremental" if since else "full", method=method, since=since, history_days=days,
                    orders_from=orders_window_start(now, days), variants=variants)


@bp.activity_trigger(input_name="payload")
async def plan_sync(payload: dict) -> dict:
    """Incremental or full, paginated or bulk. Records nothing: the step that runs does."""
    params = StepInput.model_validate(payload)
    return (await plan(params.shop, datetime.now(timezone.utc))).model_dump(mode="json")


async def _sync(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
    since = changes_since(shop, datetime.now(timezone.utc))
    async with AdminApiClient(params.shop, await get_access_token_async(params.shop)) as client:
        summary = await sync_shop(shop.id, params.shop, client, since=since, history_days=history_days_for(shop.id))
    with transaction() as conn:
        record_catalogue_sync(conn, shop.id, summary.started_at, full=since is None)
    return StepSummary(status="ok", counts=summary.model_dump(
        include={"mode", "products", "variants", "inventory_levels", "orders", "order_lines", "query_points",
                 "pages", "throttled_waits", "seconds", "products_removed", "variants_removed"}
    ) | {"method": "paginated"})


@bp.activity_trigger(input_name="payload")
async def sync_shopify(payload: dict) -> dict:
    return await run_step_async("sync_shopify", payload, _sync)
