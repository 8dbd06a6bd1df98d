"""ElevenLabs text-to-speech over HTTP against the loopback stand-in, which answers with real MP3 speech."""

from __future__ import annotations

import subprocess

import httpx
import imageio_ffmpeg
import numpy as np
import pytest

from shared.briefing.elevenlabs import VOICE_SETTINGS, ElevenLabsSpeech, split_text
from shared.briefing.media_probe import probe
from shared.briefing.speech import SpeechError
from shared.local.elevenlabs_standin import ElevenLabsStandIn
from shared.telemetry import cost_ledger

KEY = "xi-test-key-abcdef123456"
VOICE = "21m00Tcm4TlvDq8ikWAM"
TEXT = ("Good morning, Tea and Co. Blue Ceramic Mug is being undercut: a competitor sells it for £19.00, "
        "24% below your £24.99. We suggest £22.99. Earl Grey Tea sells under your margin floor. Have a good day.")


@pytest.fixture()
def eleven():
    with ElevenLabsStandIn(api_key=KEY) as standin:
        yield standin


def speech(standin, **kwargs) -> tuple[ElevenLabsSpeech, list[float]]:
    waits: list[float] = []
    return ElevenLabsSpeech(kwargs.pop("api_key", KEY), voice_id=VOICE, base_url=standin.base_url,
                            sleep=waits.append, **kwargs), waits


def rms(path) -> float:
    pcm = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1",
                          "-ar", "16000", "-"], capture_output=True, check=True).stdout
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64) / 32768
    return float(np.sqrt(np.mean(samples ** 2)))


def test_split_text_keeps_every_word_under_the_limit_and_prefers_sentence_ends():
    parts = split_text(TEXT, 80)
    assert all(len(p) <= 80 for p in parts)
    assert " ".join(parts).split() == TEXT.split()
    assert parts[0].endswith(".")  # the first cut falls after a sentence
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_one_request_gives_playable_speech_and_records_the_character_cost(eleven, tmp_path):
    tts, _ = speech(eleven)
    with cost_ledger() as ledger:
        result = tts.synthesize(TEXT, tmp_path / "narration.mp3")
    (request,) = eleven.requests
    assert request.authorised and request.voice_id == VOICE
    assert request.query == {"output_format": "mp3_44100_128"}
    assert request.body["model_id"] == "eleven_multilingual_v2"
    assert request.body["voice_settings"] == VOICE_SETTINGS
    info = probe(result.path)
    assert [s.codec for s in info.of_kind("audio")] == ["mp3"]
    assert result.duration_seconds > 5 and result.sample_rate == 44100
    assert rms(result.path) > 0.02  # speech, not silence
    assert ledger.as_rows() == [{"service": "elevenlabs", "unit": "characters", "amount": float(len(TEXT))}]


def test_long_text_is_split_under_the_limit_stitched_and_joined_to_its_full_length(eleven, tmp_path):
    parts = split_text(TEXT, 80)
    single, _ = speech(eleven)
    whole = single.synthesize(TEXT, tmp_path / "whole.mp3").duration_seconds
    first = single.synthesize(parts[0], tmp_path / "first.mp3").duration_seconds
    eleven.requests.clear()
    tts, _ = speech(eleven, character_limit_override=80)
    result = tts.synthesize(TEXT, tmp_path / "parts.mp3")
    assert [r.body["text"] for r in eleven.requests] == parts and len(parts) >= 3
    assert "previous_text" not in eleven.requests[0].body and "next_text" in eleven.requests[0].body
    assert eleven.requests[-1].body["previous_text"].endswith(parts[-2])
    # The joined file states the length of all its parts (a byte join would keep the first part's Xing header).
    assert result.duration_seconds > first * 2
    assert result.duration_seconds == pytest.approx(whole, rel=0.25)
    assert rms(result.path) > 0.02


def test_429_is_retried_with_exponential_backoff(eleven, tmp_path):
    eleven.busy_next = 2
    tts, waits = speech(eleven)
    result = tts.synthesize("Have a good day.", tmp_path / "n.mp3")
    assert result.duration_seconds > 0.5
    assert waits == [1.0, 2.0] and len(eleven.requests) == 3


def test_429_with_retry_after_waits_as_told(eleven, tmp_path):
    eleven.busy_next, eleven.retry_after_seconds, eleven.busy_status = 1, 3, "system_busy"
    tts, waits = speech(eleven)
    tts.synthesize("Have a good day.", tmp_path / "n.mp3")
    assert waits == [3.0]


def test_429_beyond_the_retries_is_a_retryable_error_naming_the_status(eleven, tmp_path):
    eleven.busy_next = 10
    tts, waits = speech(eleven, max_retries=2)
    with pytest.raises(SpeechError, match="429 \\(too_many_concurrent_requests\\) after 2 retries") as caught:
        tts.synthesize("Have a good day.", tmp_path / "n.mp3")
    assert caught.value.retryable and len(waits) == 2
    assert not (tmp_path / "n.mp3").exists()


def test_a_wrong_key_is_permanent_and_never_quoted(eleven, tmp_path):
    tts, waits = speech(eleven, api_key="wrong-key-zzzzzz")
    with pytest.raises(SpeechError, match="401 \\(invalid_api_key\\)") as caught:
        tts.synthesize("Have a good day.", tmp_path / "n.mp3")
    assert not caught.value.retryable and waits == []
    assert "wrong-key-zzzzzz" not in str(caught.value)


def test_the_stand_in_enforces_the_models_character_limit(eleven):
    response = httpx.post(f"{eleven.base_url}/v1/text-to-speech/{VOICE}", params={"output_format": "mp3_44100_128"},
                          headers={"xi-api-key": KEY}, json={"text": "a" * 10_001, "model_id": "eleven_multilingual_v2"})
    assert response.status_code == 400
    assert response.json()["detail"]["status"] == "max_character_limit_exceeded"


def test_an_unknown_voice_is_a_permanent_error(eleven, tmp_path):
    tts = ElevenLabsSpeech(KEY, voice_id="NoSuchVoice", base_url=eleven.base_url, sleep=lambda s: None)
    with pytest.raises(SpeechError, match="404 \\(voice_not_found\\)"):
        tts.synthesize("Hello.", tmp_path / "n.mp3")
