"""synthesize_speech: the narration as audio."""

from __future__ import annotations

import tempfile
from pathlib import Path

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.briefing.script import BriefingScript, script_text
from shared.briefing.speech import EspeakSpeech
from shared.db import briefings
from shared.db.pool import transaction
from shared.media_store import media_store
from shared.settings import get_settings

bp = df.Blueprint()


def _synthesize(params: StepInput) -> StepSummary:
    with transaction() as conn:
        briefing = briefings.get_briefing(conn, params.run_id)
    if briefing is None or briefing["script"] is None:
        raise LookupError(f"run {params.run_id} has no script yet; write_script must run first")
    text = script_text(BriefingScript.model_validate(briefing["script"]))
    settings = get_settings()
    speech = EspeakSpeech(voice=settings.speech_voice, rate_wpm=settings.speech_words_per_minute)
    with tempfile.TemporaryDirectory(prefix="speech-") as work:
        result = speech.synthesize(text, Path(work) / "narration.wav")
        uri = media_store().put_file(params.shop, params.run_id, "narration.wav", result.path)
    with transaction() as conn:
        briefings.save_media(conn, params.run_id, "audio", uri, result.duration_seconds)
    return StepSummary(status="ok", counts={
        "seconds": round(result.duration_seconds, 1), "characters": result.characters, "provider": result.provider,
    })


@bp.activity_trigger(input_name="payload")
def synthesize_speech(payload: dict) -> dict:
    return run_step("synthesize_speech", payload, _synthesize)
