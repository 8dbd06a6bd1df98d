"""render_video: slides with charts and captions, timed to the narration (the local renderer).

Also the fallback of the VEED path: called with `fallback_reason`, it renders locally and
comes back "degraded", naming why VEED's video is not the one shown.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step, short_error
from shared.briefing.insights import Insight
from shared.briefing.script import BriefingScript
from shared.briefing.storyboard import build_slides
from shared.briefing.video import LocalVideoRenderer
from shared.db import briefings, runs
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.media_store import media_store
from shared.telemetry import record_cost

STEP = "render_video"


class RenderInput(StepInput):
    fallback_reason: str | None = None


bp = df.Blueprint()


def _render(params: StepInput, fallback_reason: str | None = None) -> StepSummary:
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        briefing = briefings.get_briefing(conn, params.run_id)
        run_date = runs.run_started_at(conn, params.run_id).date()
    if briefing is None or briefing["audio_uri"] is None:
        raise LookupError(f"run {params.run_id} has no narration yet; synthesize_speech must run first")
    script = BriefingScript.model_validate(briefing["script"])
    insights = [Insight.model_validate(item) for item in briefing["insights"]]
    slides = build_slides(script, insights, shop.name or shop.domain, run_date)
    store = media_store()
    with tempfile.TemporaryDirectory(prefix="video-") as work:
        narration = store.download_to(briefing["audio_uri"], Path(work) / "narration.wav")
        result = LocalVideoRenderer().render(slides, narration, Path(work) / "briefing.mp4")
        uri = store.put_file(params.shop, params.run_id, "briefing.mp4", result.path)
    with transaction() as conn:
        briefings.save_media(conn, params.run_id, "video", uri, result.duration_seconds)
    # The local renderer bills nothing; its seconds show what a cloud render would have cost.
    record_cost("ffmpeg", "video_seconds", round(result.duration_seconds, 2))
    counts = {"seconds": round(result.duration_seconds, 1), "slides": result.slide_count, "provider": "ffmpeg"}
    if fallback_reason:
        return StepSummary(status="degraded", counts=counts,
                           error=short_error(Exception(f"VEED: {fallback_reason}; the local renderer made the video")))
    return StepSummary(status="ok", counts=counts)


@bp.activity_trigger(input_name="payload")
def render_video(payload: dict) -> dict:
    reason = RenderInput.model_validate(payload).fallback_reason
    return run_step(STEP, payload, lambda params: _render(params, reason))
