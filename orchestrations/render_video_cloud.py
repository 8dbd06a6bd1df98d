"""render_video_cloud: the briefing video from VEED, as a sub-orchestration of daily_pipeline.

Submit the job, then wait with a DURABLE TIMER and check its status, again and again (the
monitor pattern: no worker is held while VEED renders, and a restarted host resumes the
wait from history), until it is COMPLETED or the deadline passes; then fetch the video.
Anything that goes wrong (a refused submission, a failed job, the deadline) hands over to
the local renderer (`render_video` with a `fallback_reason`), so the briefing still gets a
video and the step says why it is not VEED's.

It returns a `render_video` step summary and never raises. Deterministic: the clock is
`context.current_utc_datetime`, nothing here does I/O.
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

bp = df.Blueprint()

STEP = "render_video"
# A minute of narration renders in a few minutes; half an hour means something is stuck.
DEADLINE = timedelta(minutes=30)

RETRY = {
    # Submitting again after a lost answer makes a second job; VEED bills only a finished one we fetch.
    "submit_video_job": df.RetryOptions(15_000, 3),
    "check_video_job": df.RetryOptions(10_000, 5),
    "fetch_video_job": df.RetryOptions(15_000, 3),
    "render_video": df.RetryOptions(10_000, 3),
}


def poll_interval(poll: int) -> timedelta:
    """10 s, 20 s, 40 s, then every minute."""
    return timedelta(seconds=min(60, 10 * 2 ** min(poll, 3)))


def _reason(exc: Exception) -> str:
    # Durable hands the orchestrator "Reason \n Details": the activity's own message is the first part.
    return str(exc).split(" \n ", 1)[0].strip() or type(exc).__name__


def _call(context: df.DurableOrchestrationContext, activity: str, payload: dict):
    try:
        return (yield context.call_activity_with_retry(activity, RETRY[activity], payload))
    except Exception as exc:  # noqa: BLE001 - retries exhausted: a failed summary
        attempts = RETRY[activity].max_number_of_attempts
        return {"status": "failed", "error": f"{_reason(exc)} (after {attempts} attempts)"}


def _render_locally(context: df.DurableOrchestrationContext, run: dict, reason: str):
    summary = yield from _call(context, "render_video", {**run, "fallback_reason": reason})
    return {"step": STEP, **summary}


@bp.orchestration_trigger(context_name="context")
def render_video_cloud(context: df.DurableOrchestrationContext):
    run = context.get_input()
    run = {"shop": run["shop"], "run_id": run["run_id"]}
    submitted = yield from _call(context, "submit_video_job", run)
    if submitted["status"] != "ok":
        return (yield from _render_locally(context, run, submitted.get("error") or "the job was not accepted"))
    job = {**run, "status_url": submitted["counts"]["status_url"], "response_url": submitted["counts"]["response_url"]}
    deadline = context.current_utc_datetime + DEADLINE
    poll = 0
    while True:
        context.set_custom_status({"step": STEP, "provider": "veed", "polls": poll})
        yield context.create_timer(context.current_utc_datetime + poll_interval(poll))
        poll += 1
        check = yield from _call(context, "check_video_job", job)
        if check["status"] != "ok":
            return (yield from _render_locally(context, run, check.get("error") or "status check failed"))
        if check["counts"]["job_status"] == "COMPLETED":
            break
        if context.current_utc_datetime >= deadline:
            minutes = int(DEADLINE.total_seconds() // 60)
            return (yield from _render_locally(context, run, f"the job did not finish within {minutes} minutes "
                                                             f"({poll} status checks)"))
    fetched = yield from _call(context, "fetch_video_job", job)
    if fetched["status"] != "ok":
        return (yield from _render_locally(context, run, fetched.get("error") or "the video could not be fetched"))
    return {"step": STEP, **fetched, "counts": {**fetched.get("counts", {}), "polls": poll}}
