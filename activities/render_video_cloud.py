"""The VEED path of render_video: plan, submit, check, fetch. The waiting is the orchestrator's.

`render_video_cloud` (orchestrations/) calls these; none of them sleeps or waits for VEED.
Bookkeeping: `submit_video_job` counts an attempt of the `render_video` step and
`fetch_video_job` records its outcome, so the run shows one `render_video` row whichever
renderer made the video (a VEED failure hands over to the local `render_video` activity,
which records its own row as degraded).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, is_retryable, short_error
from shared.briefing.insights import Insight
from shared.briefing.script import BriefingScript
from shared.briefing.slides import render_slide_image
from shared.briefing.storyboard import build_slides
from shared.briefing.veed import VeedClient, VeedError, data_uri
from shared.db import briefings, run_costs, runs
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.media_store import media_store
from shared.secrets import get_optional_secret, get_secret
from shared.settings import get_settings
from shared.telemetry import cost_ledger

bp = df.Blueprint()

STEP = "render_video"
VIDEO_NAME = "briefing.mp4"
AUDIO_LINK_LIFETIME = timedelta(hours=1)  # covers the orchestrator's 30-minute wait for the job


class JobInput(StepInput):
    status_url: str | None = None
    response_url: str | None = None


def _client() -> VeedClient:
    settings = get_settings()
    return VeedClient(settings.veed_endpoint or "", get_secret("VEED_API_KEY"),
                      timeout_seconds=settings.veed_timeout_seconds)


def _guarded(params: StepInput, work) -> dict:
    """Run one VEED activity, billing its calls to the render_video step whatever the outcome."""
    with cost_ledger() as ledger:
        try:
            return work().model_dump()
        except Exception as exc:  # noqa: BLE001 - retryable: raised for Durable; permanent: a failed summary
            if is_retryable(exc):
                raise
            return StepSummary(status="failed", error=short_error(exc)).model_dump()
        finally:
            with transaction() as conn:
                run_costs.record_step_costs(conn, params.run_id, STEP, ledger)


@bp.activity_trigger(input_name="payload")
def plan_video(payload: dict) -> dict:
    """Which renderer makes this run's video: VEED when its endpoint and key are set."""
    StepInput.model_validate(payload)
    settings = get_settings()
    cloud = bool(settings.veed_endpoint) and bool(get_optional_secret("VEED_API_KEY"))
    return {"provider": "veed" if cloud else "local"}


def _title_image(params: StepInput, briefing: dict, work: Path) -> str:
    settings = get_settings()
    if settings.veed_image_url:
        return settings.veed_image_url
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        run_date = runs.run_started_at(conn, params.run_id).date()
    script = BriefingScript.model_validate(briefing["script"])
    insights = [Insight.model_validate(i) for i in briefing["insights"]]
    title = build_slides(script, insights, shop.name or shop.domain, run_date)[0]
    path = work / "title.png"
    render_slide_image(title).save(path, "PNG")
    return data_uri(path, "image/png")


def _audio_url(audio_uri: str, work: Path) -> str:
    """A link VEED can fetch: a short-lived SAS link from Blob Storage, else the bytes as a data URI."""
    store = media_store()
    link = store.media_url(audio_uri, datetime.now(UTC), AUDIO_LINK_LIFETIME)
    if link:
        return link
    audio = store.download_to(audio_uri, work / audio_uri.rsplit("/", 1)[-1])
    return data_uri(audio, "audio/mpeg" if audio.suffix == ".mp3" else "audio/wav")


@bp.activity_trigger(input_name="payload")
def submit_video_job(payload: dict) -> dict:
    params = StepInput.model_validate(payload)
    with transaction() as conn:
        runs.step_started(conn, params.run_id, STEP)
        briefing = briefings.get_briefing(conn, params.run_id)

    def work() -> StepSummary:
        if briefing is None or briefing["audio_uri"] is None:
            raise VeedError(f"run {params.run_id} has no narration yet; synthesize_speech must run first")
        with tempfile.TemporaryDirectory(prefix="veed-") as work_dir, _client() as client:
            job = client.submit(_title_image(params, briefing, Path(work_dir)),
                                _audio_url(briefing["audio_uri"], Path(work_dir)), get_settings().veed_resolution)
        return StepSummary(status="ok", counts={"request_id": job.request_id, "status_url": job.status_url,
                                                "response_url": job.response_url})

    return _guarded(params, work)


@bp.activity_trigger(input_name="payload")
def check_video_job(payload: dict) -> dict:
    """One status check; the orchestrator decides what to do with it."""
    params = JobInput.model_validate(payload)

    def work() -> StepSummary:
        with _client() as client:
            return StepSummary(status="ok", counts={"job_status": client.status(params.status_url or "")})

    return _guarded(params, work)


@bp.activity_trigger(input_name="payload")
def fetch_video_job(payload: dict) -> dict:
    """Download the finished video into the media store and record the step and its cost."""
    params = JobInput.model_validate(payload)

    def work() -> StepSummary:
        with tempfile.TemporaryDirectory(prefix="veed-") as work_dir, _client() as client:
            info = client.download_result(params.response_url or "", Path(work_dir) / VIDEO_NAME)
            uri = media_store().put_file(params.shop, params.run_id, VIDEO_NAME, info.path)
        summary = StepSummary(status="ok", counts={"seconds": round(info.duration_seconds or 0, 1),
                                                   "provider": "veed"})
        with transaction() as conn:
            briefings.save_media(conn, params.run_id, "video", uri, info.duration_seconds or 0)
            runs.step_finished(conn, params.run_id, STEP, summary.status, summary.counts)
        return summary

    return _guarded(params, work)
