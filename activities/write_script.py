"""write_script: the 45-60 second narration, from the run's top insights."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.briefing.insights import Insight
from shared.briefing.script import TemplateScriptWriter, validate_numbers
from shared.db import briefings, runs
from shared.db.pool import transaction
from shared.db.shops import get_shop

bp = df.Blueprint()


def _write_script(params: StepInput) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        briefing = briefings.get_briefing(conn, params.run_id)
        run_date = runs.run_started_at(conn, params.run_id).date()
    if briefing is None:
        raise LookupError(f"run {params.run_id} has no insights yet; compute_recommendations must run first")
    insights = [Insight.model_validate(item) for item in briefing["insights"]]
    script = TemplateScriptWriter().write(shop.name or shop.domain, run_date, insights)
    # Any writer may only state figures that the insights hold.
    validate_numbers(script, insights)
    with transaction() as conn:
        briefings.save_script(conn, params.run_id, script.model_dump(mode="json"), script.source)
    return StepSummary(status="ok", counts={"words": script.word_count, "source": script.source})


@bp.activity_trigger(input_name="payload")
def write_script(payload: dict) -> dict:
    return run_step("write_script", payload, _write_script)
