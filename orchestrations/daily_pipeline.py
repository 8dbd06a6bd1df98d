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
    "publish_briefing": df.RetryOptions(5_000, 3),
}

MARKET_SIGNALS = ("scrape_competitors", "fetch_trends", "social_signals")
BRIEFING_MEDIA = ("synthesize_speech", "render_video")


def activity_error(exc: Exception) -> str:
    """The activity's own message: Durable hands the orchestrator 'Reason \\n Details'."""
    return str(exc).split(" \n ", 1)[0].strip() or type(exc).__name__


def attempts_of(step: str) -> int:
    return RETRY[step].max_number_of_attempts


@bp.orchestration_trigger(context_name="context")
def market_signal(context: df.DurableOrchestrationContext):
    """One market signal, isolated: its failure comes back as a value, not an exception."""
    params = context.get_input()
    step = params["step"]
    try:
        summary = yield context.call_activity_with_retry(step, RETRY[step], params["run"])
    except Exception as exc:  # noqa: BLE001 - Durable surfaces every activity failure as Exception
        return {"step": step, "status": "failed", "error": f"{activity_error(exc)} (after {attempts_of(step)} attempts)"}
    return {"step": step, **summary}


@bp.orchestration_trigger(context_name="context")
def daily_pipeline(context: df.DurableOrchestrationContext):
    params = context.get_input() or {}
    run = {"shop": params["shop"], "run_id": context.instance_id}
    statuses: dict[str, str] = {}
    problems: list[str] = []

    def show(step: str):
        context.set_custom_status({"step": step, "done": dict(statuses)})

    def call(step: str):
        show(step)
        return context.call_activity_with_retry(step, RETRY[step], run)

    def finish(status: str, error: str | None):
        show("finish_run")
        return context.call_activity_with_retry(
            "finish_run",
            RETRY["finish_run"],
            {**run, "status": status, "error": error, "steps": statuses,
             "finished_at": context.current_utc_datetime.isoformat()},
        )

    def failed(step: str, message: str):
        statuses[step] = "failed"
        for later in PIPELINE_ORDER[PIPELINE_ORDER.index(step) + 1:]:
            statuses.setdefault(later, "skipped")
        return f"{step} failed: {message}"

    yield context.call_activity_with_retry(
        "begin_run",
        RETRY["begin_run"],
        {**run, "trigger": params.get("trigger", "manual"), "started_at": context.current_utc_datetime.isoformat()},
    )

    # 1. The catalogue, stock and sales: without them there is nothing to advise on.
    try:
        summary = yield call("sync_shopify")
    except Exception as exc:  # noqa: BLE001
        summary = {"status": "failed", "error": f"{activity_error(exc)} (after {attempts_of('sync_shopify')} attempts)"}
    if summary["status"] == "failed":
        reason = failed("sync_shopify", summary["error"])
        yield finish("failed", reason)
        raise RuntimeError(reason)
    statuses["sync_shopify"] = summary["status"]

    # 2. Costs: on failure the costs from earlier runs still stand, so the run goes on degraded.
    try:
        summary = yield call("update_costs")
    except Exception as exc:  # noqa: BLE001
        summary = {"status": "failed", "error": activity_error(exc)}
    statuses["update_costs"] = summary["status"]
    if summary["status"] != "ok":
        problems.append(f"update_costs: {summary.get('error', summary['status'])}")

    # 3. Market signals in parallel, each isolated in its own sub-orchestration.
    show("market_signals")
    signals = yield context.task_all(
        [
            context.call_sub_orchestrator("market_signal", {"step": step, "run": run}, f"{context.instance_id}:{step}")
            for step in MARKET_SIGNALS
        ]
    )
    for signal in signals:
        statuses[signal["step"]] = signal["status"]
        if signal["status"] != "ok":
            problems.append(f"{signal['step']}: {signal.get('error', signal['status'])}")

    # 4. Recommendations and the script: the product itself, so a failure fails the run.
    for step in ("compute_recommendations", "write_script"):
        try:
            summary = yield call(step)
        except Exception as exc:  # noqa: BLE001
            summary = {"status": "failed", "error": f"{activity_error(exc)} (after {attempts_of(step)} attempts)"}
        if summary["status"] == "failed":
            reason = failed(step, summary["error"])
            yield finish("failed", reason)
            raise RuntimeError(reason)
        statuses[step] = summary["status"]
        if summary["status"] != "ok":
            problems.append(f"{step}: {summary['status']}")

    # 5. Voice and video: without them the briefing page still carries the advice.
    for step in BRIEFING_MEDIA:
        if any(statuses.get(earlier) == "failed" for earlier in BRIEFING_MEDIA):
            statuses[step] = "skipped"
            continue
        try:
            summary = yield call(step)
        except Exception as exc:  # noqa: BLE001
            summary = {"status": "failed", "error": activity_error(exc)}
        statuses[step] = summary["status"]
        if summary["status"] != "ok":
            problems.append(f"{step}: {summary.get('error', summary['status'])}")

    try:
        summary = yield call("publish_briefing")
    except Exception as exc:  # noqa: BLE001
        summary = {"status": "failed", "error": f"{activity_error(exc)} (after {attempts_of('publish_briefing')} attempts)"}
    if summary["status"] == "failed":
        reason = failed("publish_briefing", summary["error"])
        yield finish("failed", reason)
        raise RuntimeError(reason)
    statuses["publish_briefing"] = summary["status"]

    outcome = "degraded" if problems else "completed"
    yield finish(outcome, "; ".join(problems) or None)
    context.set_custom_status({"step": "done", "done": dict(statuses)})
    return {"run_id": context.instance_id, "shop": run["shop"], "status": outcome, "steps": statuses,
            "problems": problems, "briefing": summary.get("counts", {}).get("page_uri")}


PIPELINE_ORDER = [
    "sync_shopify",
    "update_costs",
    *MARKET_SIGNALS,
    "compute_recommendations",
    "write_script",
    *BRIEFING_MEDIA,
    "publish_briefing",
]
