"""update_costs: the unit cost of every variant, with its source."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.db.costs import refresh_shopify_costs
from shared.db.pool import transaction
from shared.db.shops import get_shop

bp = df.Blueprint()


def _update_costs(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        counts = refresh_shopify_costs(conn, shop.id, shop.currency)
    # Variants without any cost get no recommendation; worth showing, not a failure.
    return StepSummary(status="ok", counts=counts)


@bp.activity_trigger(input_name="payload")
def update_costs(payload: dict) -> dict:
    return run_step("update_costs", payload, _update_costs)
