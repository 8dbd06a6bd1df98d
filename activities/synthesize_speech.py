"""synthesize_speech: the narration as audio (ElevenLabs when configured, espeak-ng offline).

The characters spoken are recorded as the briefing's cost: ElevenLabs' own `character-cost`
through telemetry, espeak-ng's count directly (it bills nothing, but shows what a cloud voice would).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step, short_error
from shared.briefing.script import BriefingScript, script_text
from shared.briefing.speech import EspeakSpeech, SpeechError
from shared.briefing.voice import narration_voice, offline_voice
from shared.db import briefings
from shared.db.pool import transaction
from shared.media_store import media_store
from shared.settings import get_settings
from shared.telemetry import cost_ledger, record_cost

bp = df.Blueprint()

STEP = "synthesize_speech"


def _synthesize(params: StepInput) -> StepSummary:
    with transaction() as conn:
        briefing = briefings.get_briefing(conn, params.run_id)
    if briefing is None or briefing["script"] is None:
        raise LookupError(f"run {params.run_id} has no script yet; write_script must run first")
    text = script_text(BriefingScript.model_validate(briefing["script"]))
    settings = get_settings()
    speech, file_name = narration_voice(settings)
    fallback_reason = None
    try:
        result, uri = _speak(params, speech, file_name, text)
    except SpeechError as exc:
        if exc.retryable or isinstance(speech, EspeakSpeech):
            raise  # Durable retries a blip; the offline voice has nothing to fall back to
        # A refused cloud request (key, voice, model) will not heal by retrying: speak offline instead.
        fallback_reason = str(exc)
        speech, file_name = offline_voice(settings)
        result, uri = _speak(params, speech, file_name, text)
    with transaction() as conn:
        briefings.save_media(conn, params.run_id, "audio", uri, result.duration_seconds)
    counts = {"seconds": round(result.duration_seconds, 1), "characters": result.characters, "provider": result.provider}
    if fallback_reason:
        return StepSummary(status="degraded", counts=counts,
                           error=short_error(Exception(f"{fallback_reason}; espeak-ng read the narration instead")))
    return StepSummary(status="ok", counts=counts)


def _speak(params: StepInput, speech, file_name: str, text: str):
    """(result, media uri) of one voice reading the text; its characters billed to the step."""
    try:
        with cost_ledger() as ledger, tempfile.TemporaryDirectory(prefix="speech-") as work:
            result = speech.synthesize(text, Path(work) / file_name)
            if not ledger.totals:  # an offline voice: no external call counted the characters
                record_cost(result.provider, "characters", result.characters)
            uri = media_store().put_file(params.shop, params.run_id, file_name, result.path)
    finally:
        if hasattr(speech, "close"):
            speech.close()
    return result, uri


@bp.activity_trigger(input_name="payload")
def synthesize_speech(payload: dict) -> dict:
    return run_step(STEP, payload, _synthesize)
