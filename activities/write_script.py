"""write_script: the 45-60 second narration, from the run's top insights.

Azure OpenAI writes it when configured; a draft that fails its checks falls back to the
template writer and the step comes back "degraded", naming why, so the run and its page say so.
The tokens spent are recorded as the briefing's cost either way.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step, short_error
from shared.briefing.insights import Insight
from shared.briefing.script_composer import compose_script
from shared.db import briefings, runs
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.settings import get_settings

bp = df.Blueprint()

STEP = "write_script"


def _write_script(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        briefing = briefings.get_briefing(conn, params.run_id)
        run_date = runs.run_started_at(conn, params.run_id).date()
    if briefing is None:
        raise LookupError(f"run {params.run_id} has no insights yet; compute_recommendations must run first")
    insights = [Insight.model_validate(item) for item in briefing["insights"]]
    outcome = compose_script(shop.name or shop.domain, run_date, insights, get_settings())
    script = outcome.script
    with transaction() as conn:
        briefings.save_script(conn, params.run_id, script.model_dump(mode="json"), script.source)
    counts = {"words": script.word_count, "source": script.source,
              "prompt_tokens": outcome.usage.prompt_tokens, "completion_tokens": outcome.usage.completion_tokens}
    if outcome.degraded:
        return StepSummary(status="degraded", counts={**counts, "fallback": True},
                           error=short_error(Exception(f"script model: {outcome.fallback_reason}")))
    return StepSummary(status="ok", counts=counts)


@bp.activity_trigger(input_name="payload")
def write_script(payload: dict) -> dict:
    return run_step(STEP, payload, _write_script)
