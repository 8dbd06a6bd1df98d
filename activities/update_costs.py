"""update_costs: the unit cost of every variant, with its source.

Precedence per variant: the books (Apideck) > Shopify's unitCost > an uploaded CSV > none.
A broken accounting connection degrades the step ("reconnect your accounting system") and
leaves the other sources counting.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.accounting.costs import refresh_accounting_costs
from shared.db.costs import SOURCE_PRECEDENCE, cost_source_counts, refresh_shopify_costs
from shared.db.pool import transaction
from shared.db.shops import get_shop

bp = df.Blueprint()


def _update_costs(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        # Shopify's costs first: if the books are busy (429s) and the step is retried, these are already fresh.
        counts = refresh_shopify_costs(conn, shop.id, shop.currency)
    accounting = refresh_accounting_costs(shop)
    with transaction() as conn:
        counts |= cost_source_counts(conn, shop.id)
        counts["with_cost"] = sum(counts[f"cost_from_{source}"] for source in SOURCE_PRECEDENCE)
        counts["without_cost"] = counts["variants"] - counts["with_cost"]
    counts["accounting"] = accounting.state
    for key, value in accounting.counts.items():  # the match report: accounting_matched, accounting_unmatched, ...
        counts[key if key.startswith(("accounting_", "apideck_")) else f"accounting_{key}"] = value
    if accounting.problem:
        return StepSummary(status="degraded", counts=counts, error=accounting.problem)
    # Variants without any cost get no recommendation; worth showing, not a failure.
    return StepSummary(status="ok", counts=counts)


@bp.activity_trigger(input_name="payload")
def update_costs(payload: dict) -> dict:
    return run_step("update_costs", payload, _update_costs)
