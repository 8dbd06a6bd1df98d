"""Which voice reads the narration: ElevenLabs when its key is set, espeak-ng offline otherwise."""

from __future__ import annotations

from shared.briefing.elevenlabs import ElevenLabsSpeech
from shared.briefing.speech import EspeakSpeech, SpeechProvider
from shared.secrets import get_optional_secret
from shared.settings import Settings


def offline_voice(settings: Settings) -> tuple[SpeechProvider, str]:
    return EspeakSpeech(voice=settings.speech_voice, rate_wpm=settings.speech_words_per_minute), "narration.wav"


def narration_voice(settings: Settings) -> tuple[SpeechProvider, str]:
    """(provider, file name of its audio)."""
    key = get_optional_secret("ELEVENLABS_API_KEY")
    if key:
        return ElevenLabsSpeech(
            key, voice_id=settings.elevenlabs_voice_id, model_id=settings.elevenlabs_model_id,
            output_format=settings.elevenlabs_output_format, base_url=settings.elevenlabs_base_url,
            max_retries=settings.elevenlabs_max_retries, timeout_seconds=settings.elevenlabs_timeout_seconds,
        ), "narration.mp3"
    return offline_voice(settings)
