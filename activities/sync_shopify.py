"""sync_shopify: the shop's catalogue, stock and recent sales, from the GraphQL Admin API."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step_async
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.sync import sync_shop
from shared.shopify.tokens import get_access_token

bp = df.Blueprint()


async def _sync(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
    async with AdminApiClient(params.shop, get_access_token(params.shop)) as client:
        summary = await sync_shop(shop.id, params.shop, client)
    return StepSummary(status="ok", counts=summary.model_dump(
        include={"products", "variants", "inventory_levels", "orders", "order_lines", "query_points", "pages",
                 "throttled_waits", "seconds"}
    ))


@bp.activity_trigger(input_name="payload")
async def sync_shopify(payload: dict) -> dict:
    return await run_step_async("sync_shopify", payload, _sync)
