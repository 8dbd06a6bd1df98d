"""The daily pipeline for one shop, as a Durable orchestration.

Deterministic: the clock is `context.current_utc_datetime`, nothing here does I/O, and every
activity gets ids and returns a small summary. Each step runs with its own retry policy;
the three market signals run side by side, each inside a sub-orchestration that catches
its own failure, because `task_all` fails as soon as one child fails.
"""

from __future__ import annotations

import azure.durable_functions as df

bp = df.Blueprint()

# RetryOptions(first interval in ms, attempts). Durable 1.x has no backoff coefficient,
# so the interval is chosen per step for the failure it is meant to outlast.
RETRY = {
    # Database blips only; these steps do nothing else.
    "begin_run": df.RetryOptions(2_000, 3),
    "finish_run": df.RetryOptions(2_000, 5),
    # Shopify throttling and 5xx clear within a minute; the sync's upserts are idempotent.
    "sync_shopify": df.RetryOptions(30_000, 4),
    # A database read and one cheap count: a blip at most (a plan it cannot make falls back to paginated).
    "plan_sync": df.RetryOptions(5_000, 3),
    # The accounting system and the database: short blips.
    "update_costs": df.RetryOptions(15_000, 3),
    # Competitor sites and the scraping service rate-limit for tens of seconds.
    "scrape_competitors": df.RetryOptions(60_000, 3),
    # Google Trends answers 429 for a minute or more once it notices a burst.
    "fetch_trends": df.RetryOptions(60_000, 2),
    # A local mock for now: one retry covers a database blip.
    "social_signals": df.RetryOptions(5_000, 2),
    # Pure computation over the database: only a connection blip is worth a retry.
    "compute_recommendations": df.RetryOptions(5_000, 3),
    # Language, speech and video services answer 429/5xx under load; they recover in seconds.
    "write_script": df.RetryOptions(10_000, 3),
    "synthesize_speech": df.RetryOptions(10_000, 3),
    "render_video": df.RetryOptions(10_000, 3),
    # Reads settings only.
    "plan_video": df.RetryOptions(2_000, 3),
    "publish_briefing": df.RetryOptions(5_000, 3),
}

MARKET_SIGNALS = ("scrape_competitors", "fetch_trends", "social_signals")

# The pipeline in order; a tuple runs side by side.
STAGES = (
    "sync_shopify",
    "update_costs",
    MARKET_SIGNALS,
    "compute_recommendations",
    "write_script",
    "synthesize_speech",
    "render_video",
    "publish_briefing",
)
PIPELINE_ORDER = [step for stage in STAGES for step in (stage if isinstance(stage, tuple) else (stage,))]

# Without these there is nothing to advise on or nothing to show: their failure fails the run.
# Any other failure degrades it (costs from earlier runs stand; the page carries the advice without video).
CRITICAL = {"sync_shopify", "compute_recommendations", "write_script", "publish_briefing"}
# A step that cannot run when the step it builds on failed.
NEEDS = {"render_video": "synthesize_speech"}


def activity_error(exc: Exception) -> str:
    """The activity's own message: Durable hands the orchestrator 'Reason \\n Details'."""
    return str(exc).split(" \n ", 1)[0].strip() or type(exc).__name__


def call_step(context: df.DurableOrchestrationContext, step: str, run: dict):
    """Call a step with its retry policy; a failure after the last attempt comes back as a summary."""
    try:
        summary = yield context.call_activity_with_retry(step, RETRY[step], run)
    except Exception as exc:  # noqa: BLE001 - Durable surfaces every activity failure as Exception
        attempts = RETRY[step].max_number_of_attempts
        summary = {"status": "failed", "error": f"{activity_error(exc)} (after {attempts} attempts)"}
    return {"step": step, **summary}


# Steps with two ways to run: a planning activity picks one; the long way is a sub-orchestration
# that polls with durable timers. (step, planner, the plan key and value that choose it, the sub-orchestration.)
PLANNED = {
    "sync_shopify": ("plan_sync", "method", "bulk", "sync_catalogue"),  # bulk operations for a large full sync
    "render_video": ("plan_video", "provider", "veed", "render_video_cloud"),  # a VEED job when configured
}


def planned_step(context: df.DurableOrchestrationContext, step: str, run: dict):
    """Run `step` the way its planner chooses: the sub-orchestration, or the plain activity.
    Without a plan (the planner failed), the plain activity runs and records its own outcome."""
    planner, key, value, orchestrator = PLANNED[step]
    try:
        plan = yield context.call_activity_with_retry(planner, RETRY[planner], run)
    except Exception:  # noqa: BLE001 - see the docstring
        plan = {}
    if plan.get(key) == value:
        try:
            return (yield context.call_sub_orchestrator(
                orchestrator, {**run, "plan": plan}, f"{context.instance_id}:{orchestrator}"))
        except Exception as exc:  # noqa: BLE001 - the sub-orchestration returns its failures; this is a crash in it
            return {"step": step, "status": "failed", "error": activity_error(exc)}
    return (yield from call_step(context, step, run))


@bp.orchestration_trigger(context_name="context")
def market_signal(context: df.DurableOrchestrationContext):
    """One market signal, isolated: its failure comes back as a value, because task_all fails fast."""
    params = context.get_input()
    return (yield from call_step(context, params["step"], params["run"]))


@bp.orchestration_trigger(context_name="context")
def daily_pipeline(context: df.DurableOrchestrationContext):
    params = context.get_input() or {}
    run = {"shop": params["shop"], "run_id": context.instance_id}
    statuses: dict[str, str] = {}
    problems: list[str] = []

    def show(step: str) -> None:
        context.set_custom_status({"step": step, "done": dict(statuses)})

    def finish(status: str, error: str | None):
        show("finish_run")
        return context.call_activity_with_retry(
            "finish_run",
            RETRY["finish_run"],
            {**run, "status": status, "error": error, "steps": statuses,
             "finished_at": context.current_utc_datetime.isoformat()},
        )

    yield context.call_activity_with_retry(
        "begin_run",
        RETRY["begin_run"],
        {**run, "trigger": params.get("trigger", "manual"), "started_at": context.current_utc_datetime.isoformat()},
    )
    summaries: list[dict] = []
    for stage in STAGES:
        if isinstance(stage, tuple):
            show("market_signals")
            summaries = yield context.task_all([
                context.call_sub_orchestrator("market_signal", {"step": step, "run": run}, f"{context.instance_id}:{step}")
                for step in stage
            ])
        elif statuses.get(NEEDS.get(stage, "")) == "failed":
            summaries = [{"step": stage, "status": "skipped", "error": f"{NEEDS[stage]} failed"}]
        elif stage in PLANNED:
            show(stage)
            summaries = [(yield from planned_step(context, stage, run))]
        else:
            show(stage)
            summaries = [(yield from call_step(context, stage, run))]

        for summary in summaries:
            step, status = summary["step"], summary["status"]
            statuses[step] = status
            if status == "failed" and step in CRITICAL:
                for later in PIPELINE_ORDER[PIPELINE_ORDER.index(step) + 1:]:
                    statuses.setdefault(later, "skipped")
                reason = f"{step} failed: {summary['error']}"
                yield finish("failed", reason)
                raise RuntimeError(reason)
            if status != "ok":
                problems.append(f"{step}: {summary.get('error') or status}")

    outcome = "degraded" if problems else "completed"
    yield finish(outcome, "; ".join(problems) or None)
    context.set_custom_status({"step": "done", "done": dict(statuses)})
    return {"run_id": context.instance_id, "shop": run["shop"], "status": outcome, "steps": statuses,
            "problems": problems, "briefing": summaries[-1].get("counts", {}).get("page_uri")}
