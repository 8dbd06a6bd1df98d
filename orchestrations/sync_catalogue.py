"""sync_catalogue: a full sync through Shopify bulk operations, as a sub-orchestration of daily_pipeline.

For each part (the catalogue, then orders): start a bulk query, then wait with a DURABLE TIMER
and check its status, again and again (the monitor pattern: no worker is held while Shopify
works, and a restarted host resumes the wait from history), then ingest the result. Checks are
bounded (MAX_POLLS per operation, intervals growing to a minute: about four hours in all); an
operation still running then is cancelled and the sync fails. An operation that Shopify fails
for its own reasons (INTERNAL_SERVER_ERROR, TIMEOUT) is started again, up to
MAX_OPERATIONS_PER_PART times.

It returns the same summary a `sync_shopify` activity returns ({"step": "sync_shopify", "status",
"counts", "error"}) and never raises: the activities record the one `sync_shopify` step row.

Deterministic: the clock is `context.current_utc_datetime`, nothing here does I/O.
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

bp = df.Blueprint()

STEP = "sync_shopify"
PARTS = ("catalogue", "orders")
MAX_POLLS = 240
MAX_OPERATIONS_PER_PART = 2
FINISHED = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")

RETRY = {
    # Shopify throttling and 5xx clear within a minute; starting is idempotent (a running copy is adopted).
    "start_bulk_sync": df.RetryOptions(30_000, 4),
    "check_bulk_sync": df.RetryOptions(15_000, 5),
    # The download and the merge: one transaction, so a retry starts clean.
    "ingest_bulk_sync": df.RetryOptions(30_000, 3),
    "finish_bulk_sync": df.RetryOptions(5_000, 5),
}


def poll_interval(poll: int) -> timedelta:
    """5 s, 10 s, 20 s, 40 s, then every minute: small catalogues finish in seconds, large ones in hours."""
    return timedelta(seconds=min(60, 5 * 2 ** min(poll, 4)))


def _reason(exc: Exception) -> str:
    # Durable hands the orchestrator "Reason \n Details": the activity's own message is the first part.
    return str(exc).split(" \n ", 1)[0].strip() or type(exc).__name__


def _call(context: df.DurableOrchestrationContext, activity: str, payload: dict):
    try:
        return (yield context.call_activity_with_retry(activity, RETRY[activity], payload))
    except Exception as exc:  # noqa: BLE001 - retries exhausted: a failed summary, recorded by finish
        attempts = RETRY[activity].max_number_of_attempts
        return {"status": "failed", "error": f"{_reason(exc)} (after {attempts} attempts)"}


def _run_part(context: df.DurableOrchestrationContext, payload: dict, part: str, totals: dict):
    """Start, wait (durable timers), check, ingest one part; a failed summary carries what to cancel."""
    for operation in range(1, MAX_OPERATIONS_PER_PART + 1):
        started = yield from _call(context, "start_bulk_sync", {
            **payload, "part": part, "counts_attempt": part == PARTS[0]})
        if started["status"] != "ok":
            return started
        operation_id = started["counts"]["operation_id"]
        totals["operations"] += 1
        if part == PARTS[0]:
            # The snapshot began when Shopify created the operation; our clock if it did not say.
            totals["read_started_at"] = started["counts"].get("created_at") or context.current_utc_datetime.isoformat()
        check: dict = {}
        for poll in range(MAX_POLLS):
            context.set_custom_status({"step": STEP, "part": part, "polls": poll})
            yield context.create_timer(context.current_utc_datetime + poll_interval(poll))
            check = yield from _call(context, "check_bulk_sync", {**payload, "part": part, "operation_id": operation_id})
            totals["polls"] += 1
            if check["status"] != "ok":
                return {**check, "cancel": operation_id}
            if check["counts"]["bulk_status"] in FINISHED:
                break
        else:
            return {"status": "failed", "cancel": operation_id,
                    "error": f"the bulk {part} operation did not finish after {MAX_POLLS} status checks"}
        counts = check["counts"]
        if counts["bulk_status"] == "COMPLETED":
            return (yield from _call(context, "ingest_bulk_sync", {**payload, "part": part, "operation_id": operation_id}))
        if not counts.get("restartable") or operation == MAX_OPERATIONS_PER_PART:
            detail = f" ({counts['error_code']})" if counts.get("error_code") else ""
            return {"status": "failed",
                    "error": f"the bulk {part} operation ended {counts['bulk_status']}{detail} "
                             f"after {operation} operation{'s' if operation > 1 else ''}"}
    raise AssertionError("unreachable")  # pragma: no cover


@bp.orchestration_trigger(context_name="context")
def sync_catalogue(context: df.DurableOrchestrationContext):
    params = context.get_input()
    plan = params["plan"]
    payload = {"shop": params["shop"], "run_id": params["run_id"], "orders_from": plan["orders_from"]}
    totals = {"operations": 0, "polls": 0, "read_started_at": None}
    counts: dict = {"mode": "full", "method": "bulk"}
    outcome: dict = {"status": "ok"}
    for part in PARTS:
        outcome = yield from _run_part(context, payload, part, totals)
        if outcome["status"] != "ok":
            break
        counts.update(outcome.get("counts", {}))
    counts.update(operations=totals["operations"], polls=totals["polls"])
    status = "ok" if outcome["status"] == "ok" else "failed"
    error = outcome.get("error")
    yield from _call(context, "finish_bulk_sync", {
        "shop": params["shop"], "run_id": params["run_id"], "status": status, "counts": counts, "error": error,
        "cancel_operation_id": outcome.get("cancel"),
        "read_started_at": totals["read_started_at"] if status == "ok" else None,
    })
    return {"step": STEP, "status": status, "counts": counts, "error": error}
