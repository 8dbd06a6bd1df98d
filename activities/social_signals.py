"""social_signals: mentions and sentiment per product. A labelled MOCK until a real source is chosen."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.market.social import store_social_signals

bp = df.Blueprint()


def _social(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
    summary = store_social_signals(shop.id, params.run_id)
    return StepSummary(status="ok", counts=summary.counts())


@bp.activity_trigger(input_name="payload")
def social_signals(payload: dict) -> dict:
    return run_step("social_signals", payload, _social)
